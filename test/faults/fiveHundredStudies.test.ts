// Scale-out under a burst: two API replicas and two workers take 500 phantom studies at once, a tenth of them sent
// to both replicas at the same moment (a router that fans out, or a retry racing the original). Every study must be
// reported exactly once, every instance stored once, nothing lost; the processes then stop gracefully.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import { makePhantomStudy, type PhantomStudy } from "../../src/phantom/study.js";
import { clusterForFile, countOf, printCounts, SMALL_PHANTOM, storeStudy, untilReported } from "../support/cluster.js";

const STUDIES = 500;
const SENDERS = 8;
/** Every tenth study goes to both replicas at once. */
const TWICE_EVERY = 10;

const cluster = clusterForFile();

async function filesUnder(dir: string): Promise<number> {
  let count = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    count += entry.isDirectory() ? await filesUnder(path.join(dir, entry.name)) : 1;
  }
  return count;
}

it("reports 500 studies sent at once to two API replicas exactly once each, with two workers", async () => {
  const apis = [await cluster().startApi("api-1"), await cluster().startApi("api-2")];
  const workers = [await cluster().startWorker("worker-1"), await cluster().startWorker("worker-2")];
  const tokens = await Promise.all(apis.map((api) => cluster().token(api)));
  const studies: PhantomStudy[] = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(4_000_000 + i, SMALL_PHANTOM));
  const statuses: number[] = [];
  // A request that got no HTTP answer at all is sent again, as a PACS's store queue does; counted, and the replica
  // must still be running at the end (a crash is not a transport hiccup).
  let resent = 0;
  const storeOnce = async (replica: number, parts: Buffer[]) => {
    try {
      return await storeStudy(apis[replica]!, tokens[replica]!, parts);
    } catch {
      resent++;
      return storeStudy(apis[replica]!, tokens[replica]!, parts);
    }
  };
  let next = 0;
  const started = Date.now();
  const sender = async () => {
    while (next < studies.length) {
      const i = next++;
      const parts = studies[i]!.images.map((image) => image.part10);
      const replicas = i % TWICE_EVERY === 0 ? [0, 1] : [i % 2];
      const answers = await Promise.all(replicas.map((r) => storeOnce(r, parts)));
      statuses.push(...answers.map((a) => a.status));
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  const storedMs = Date.now() - started;
  const uids = studies.map((s) => s.studyInstanceUID);
  const outcomes = await untilReported(cluster().db, uids, 900_000);
  const reportedMs = Date.now() - started;
  const sentInstances = studies.reduce((sum, s) => sum + s.images.length, 0);
  const files = await filesUnder(cluster().storageDir);
  const runningAtEnd = await Promise.all([...workers, ...apis].map((p) => Promise.race([p.exited.then(() => false), Promise.resolve(true)])));
  const stopCodes = await Promise.all([...workers, ...apis].map((p) => p.stop()));
  printCounts("2 API replicas + 2 workers, 500 studies", {
    ...outcomes,
    stowRequests: statuses.length,
    stowStatuses: countOf(statuses),
    resentWithoutAnswer: resent,
    instancesSent: sentInstances,
    files,
    storedSeconds: Math.round(storedMs / 1000),
    reportedSeconds: Math.round(reportedMs / 1000),
    stopExitCodes: stopCodes,
  });
  expect(statuses.every((status) => status === 200)).toBe(true);
  expect(outcomes).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, successfulRuns: STUDIES, reports: STUDIES, instances: sentInstances });
  expect(files).toBe(sentInstances);
  expect(runningAtEnd).toEqual([true, true, true, true]);
  expect(stopCodes).toEqual([0, 0, 0, 0]);
});
