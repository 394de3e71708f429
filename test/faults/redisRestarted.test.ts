// Fault: Redis killed and restarted empty while studies arrive and are reported (nothing of the dispatch
// survives). The store holds every job, so every study must still be reported exactly once.
import { expect, it } from "vitest";
import { makePhantomStudy } from "../../src/phantom/study.js";
import { clusterForFile, countOf, printCounts, SMALL_PHANTOM, storeStudy, untilReported } from "../support/cluster.js";

const STUDIES = 30;

const cluster = clusterForFile();

it("reports every study exactly once when Redis restarts empty under load", async () => {
  const apis = [await cluster().startApi("api-1"), await cluster().startApi("api-2")];
  const workers = [await cluster().startWorker("worker-1"), await cluster().startWorker("worker-2")];
  const tokens = await Promise.all(apis.map((api) => cluster().token(api)));
  const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(3_100_000 + i, SMALL_PHANTOM));
  const statuses: number[] = [];
  // Jobs waiting at each restart: their announcements were in Redis and are gone.
  const queuedAtRestart: number[] = [];
  for (const [i, study] of studies.entries()) {
    if (i === 10 || i === 20) {
      const queued = await cluster().db.selectFrom("jobs").select((eb) => eb.fn.countAll<number>().as("n")).where("state", "=", "queued").executeTakeFirstOrThrow();
      queuedAtRestart.push(Number(queued.n));
      await cluster().redis.restart();
    }
    const api = i % 2;
    statuses.push((await storeStudy(apis[api]!, tokens[api]!, study.images.map((image) => image.part10))).status);
  }
  const outcomes = await untilReported(cluster().db, studies.map((s) => s.studyInstanceUID), 180_000);
  printCounts("Redis restarted empty twice under load", { ...outcomes, queuedAtRestart, stowStatuses: countOf(statuses) });
  expect(queuedAtRestart.reduce((a, b) => a + b)).toBeGreaterThan(0);
  // STOW-RS does not depend on Redis: every request was stored.
  expect(statuses.every((status) => status === 200)).toBe(true);
  expect(outcomes).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, successfulRuns: STUDIES, reports: STUDIES });
  for (const process of [...apis, ...workers]) expect(await Promise.race([process.exited, Promise.resolve("running")])).toBe("running");
});
