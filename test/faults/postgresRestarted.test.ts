// Fault: PostgreSQL restarted (fast shutdown: every connection cut) while studies arrive and are reported. A
// STOW-RS request that meets the outage must fail clearly and be retried by its sender, as a PACS does; the
// processes must survive, and every study must be reported exactly once.
import { expect, it } from "vitest";
import { makePhantomStudy } from "../../src/phantom/study.js";
import { clusterForFile, countOf, printCounts, SMALL_PHANTOM, storeStudy, untilReported, type ClusterProcess } from "../support/cluster.js";

const STUDIES = 30;
const SENDER_RETRIES = 30;

const cluster = clusterForFile();

/** A sender that retries a refused study after a pause, as a PACS's store queue does; returns the statuses it met. */
async function sendUntilStored(api: ClusterProcess, token: string, instances: readonly Buffer[]): Promise<number[]> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < SENDER_RETRIES; attempt++) {
    // 0: no HTTP answer at all (the connection failed).
    const { status } = await storeStudy(api, token, instances).catch(() => ({ status: 0 }));
    statuses.push(status);
    if (status === 200) return statuses;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return statuses;
}

it("reports every study exactly once when PostgreSQL restarts under load", async () => {
  const apis = [await cluster().startApi("api-1"), await cluster().startApi("api-2")];
  const workers = [await cluster().startWorker("worker-1"), await cluster().startWorker("worker-2")];
  const tokens = await Promise.all(apis.map((api) => cluster().token(api)));
  const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(3_200_000 + i, SMALL_PHANTOM));
  const statuses: number[] = [];
  const sending = (async () => {
    for (const [i, study] of studies.entries()) {
      const api = i % 2;
      statuses.push(...(await sendUntilStored(apis[api]!, tokens[api]!, study.images.map((image) => image.part10))));
    }
  })();
  // Restart while the first studies are being reported and the rest still arrive.
  while (statuses.length < 10) await new Promise((resolve) => setTimeout(resolve, 20));
  const running = await cluster().db.selectFrom("jobs").select((eb) => eb.fn.countAll<number>().as("n")).where("state", "in", ["queued", "running"]).executeTakeFirstOrThrow();
  await cluster().postgres.restart(3000);
  await sending;
  const outcomes = await untilReported(cluster().db, studies.map((s) => s.studyInstanceUID), 240_000);
  const refused = statuses.filter((status) => status !== 200);
  printCounts("PostgreSQL restarted under load", { ...outcomes, unfinishedJobsAtRestart: Number(running.n), stowRequests: statuses.length, refusedDuringOutage: countOf(refused) });
  expect(Number(running.n)).toBeGreaterThan(0);
  expect(outcomes).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, successfulRuns: STUDIES, reports: STUDIES });
  // The outage was met, and refused with a clear status (503: the store or the audit trail is unavailable), never
  // a 2xx that lost the instances nor a dropped connection.
  expect(refused.length).toBeGreaterThan(0);
  for (const status of refused) expect([409, 500, 503]).toContain(status);
  for (const process of [...apis, ...workers]) {
    const state = await Promise.race([process.exited, Promise.resolve("running")]);
    expect(state, `${process.name} exited:\n${process.output()}`).toBe("running");
  }
});
