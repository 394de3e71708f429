// Fault: a worker process killed with SIGKILL in the middle of a report job. Its job must complete exactly once,
// on the other worker, and every other study must be reported once as well.
import { expect, it } from "vitest";
import { makePhantomStudy } from "../../src/phantom/study.js";
import { clusterForFile, printCounts, SMALL_PHANTOM, storeStudy, untilReported } from "../support/cluster.js";
import { until } from "../support/until.js";

const STUDIES = 16;

const cluster = clusterForFile();

it("completes the job of a worker killed mid-job exactly once, on another worker", async () => {
  const api = await cluster().startApi("api-1");
  const doomed = await cluster().startWorker("worker-doomed");
  await cluster().startWorker("worker-survivor");
  const token = await cluster().token(api);
  const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(3_000_000 + i, SMALL_PHANTOM));
  for (const study of studies) expect((await storeStudy(api, token, study.images.map((image) => image.part10))).status).toBe(200);

  // The moment the doomed worker holds a job, it dies.
  const held = await until(
    async () =>
      cluster().db
        .selectFrom("jobs")
        .select(["id", "study_instance_uid"])
        .where("state", "=", "running")
        .where("lease_owner", "like", `%/${doomed.pid}/%`)
        .executeTakeFirst(),
    60_000,
    10,
  );
  await doomed.kill();

  const uids = studies.map((s) => s.studyInstanceUID);
  const outcomes = await untilReported(cluster().db, uids, 120_000);
  const killedJob = await cluster().db.selectFrom("jobs").selectAll().where("id", "=", held.id).executeTakeFirstOrThrow();
  printCounts("worker SIGKILL mid-job", { ...outcomes, killedJob: { state: killedJob.state, attempts: killedJob.attempts } });
  expect(killedJob.state).toBe("succeeded");
  expect(Number(killedJob.attempts)).toBe(2);
  expect(killedJob.lease_owner).toBeNull();
  expect(outcomes).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, successfulRuns: STUDIES, reports: STUDIES });
});
