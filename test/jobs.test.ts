// The durable job queue (src/jobs/) over the real app: real SQLite (with TEST_STORE=postgres real PostgreSQL and the
// BullMQ dispatch on a real Redis), real STOW-RS, real tokens. The queue and the runner are what is under test; the
// handlers are plain test functions standing in for the pipeline.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobQueue, leaseOf, type Job, type JobQueueSettings } from "../src/jobs/jobQueue.js";
import { PermanentJobError, startJobRunner, type JobHandler, type JobRunner } from "../src/jobs/jobRunner.js";
import { readModelIdentity } from "../src/jobs/studyTrigger.js";
import { BUNDLED_MODEL_DIR } from "../src/inference/modelLocation.js";
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/server.js";
import { openConfiguredDatabase } from "../src/store/database.js";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { SHARED_KEYS_FILE, startTestApp, storeInstances, TEST_CLIENTS, type TestApp } from "./support/testApp.js";
import { scaleOutEnv } from "./support/scaleOut.js";
import { until } from "./support/until.js";

const MODEL = { name: "test-model", version: "1.0.0" };
const SETTINGS: JobQueueSettings = { maxAttempts: 3, retryBaseMs: 1000, retryCapMs: 1500, leaseMs: 5000 };

let t: TestApp;
const runners: JobRunner[] = [];

beforeEach(async () => {
  t = await startTestApp({ TRRG_JOB_QUIET_PERIOD: "60s" });
});
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop(1000);
  await t.close();
});

/** A queue over the app's database whose clock the test moves. */
function queueWithClock(settings: JobQueueSettings = SETTINGS) {
  const clock = { now: new Date("2026-11-23T10:00:00.000Z") };
  const queue = new JobQueue(t.services.db, settings, () => clock.now);
  const advance = (ms: number) => (clock.now = new Date(clock.now.getTime() + ms));
  return { queue, clock, advance };
}

function runJobs(handler: JobHandler, leaseMs = 2000): JobRunner {
  const runner = startJobRunner(t.services, handler, { pollIntervalMs: 20, leaseMs });
  runners.push(runner);
  return runner;
}


const finished = (id: string) => until(async () => {
  const job = await t.services.jobs.get(id);
  return job && (job.state === "succeeded" || job.state === "failed") ? job : undefined;
});

describe("enqueue", () => {
  it("keeps one job per study and model version: a second enqueue returns the existing job", async () => {
    const study = newUid();
    const first = await t.services.jobs.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "command" });
    const second = await t.services.jobs.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "command" });
    expect(second.id).toBe(first.id);
    expect(await t.services.jobs.listByStudy(study)).toHaveLength(1);
    const otherVersion = await t.services.jobs.enqueue({ studyInstanceUID: study, model: { ...MODEL, version: "2.0.0" }, trigger: "command" });
    expect(otherVersion.id).not.toBe(first.id);
    expect(await t.services.jobs.listByStudy(study)).toHaveLength(2);
  });

  it("pushes a queued STOW job to the new end of the quiet period, and a UPS request makes it due at once", async () => {
    const { queue, clock, advance } = queueWithClock();
    const study = newUid();
    const first = await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "stow", runAfter: new Date(clock.now.getTime() + 30_000) });
    advance(10_000);
    const pushed = await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "stow", runAfter: new Date(clock.now.getTime() + 30_000) });
    expect(pushed.id).toBe(first.id);
    expect(pushed.runAfter).toBe("2026-11-23T10:00:40.000Z");
    const requested = await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "ups" });
    expect(requested).toMatchObject({ id: first.id, trigger: "ups", runAfter: clock.now.toISOString() });
    // A later arrival no longer delays a job that was asked for explicitly.
    const arrival = await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "stow", runAfter: new Date(clock.now.getTime() + 30_000) });
    expect(arrival.runAfter).toBe(clock.now.toISOString());
  });

  it("leaves a running or finished job as it is", async () => {
    const { queue } = queueWithClock();
    const study = newUid();
    await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "command" });
    const claimed = (await queue.claim("worker-1"))!;
    const again = await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "stow", runAfter: new Date("2030-01-01T00:00:00Z") });
    expect(again).toMatchObject({ id: claimed.id, state: "running", attempts: 1 });
    await queue.complete(leaseOf(claimed), { ok: true });
    expect(await queue.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "ups" })).toMatchObject({ state: "succeeded", result: { ok: true } });
  });
});

describe("claim", () => {
  it("takes the oldest due job and nothing that is not yet due", async () => {
    const { queue, clock, advance } = queueWithClock();
    const later = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "stow", runAfter: new Date(clock.now.getTime() + 5000) });
    const sooner = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "stow", runAfter: new Date(clock.now.getTime() + 1000) });
    expect(await queue.claim("w")).toBeUndefined();
    advance(6000);
    expect((await queue.claim("w"))?.id).toBe(sooner.id);
    expect((await queue.claim("w"))?.id).toBe(later.id);
  });

  it("never gives the same job to two concurrent claimers on separate database connections", async () => {
    const other = await openConfiguredDatabase(t.services.config.database);
    try {
      const queues = [new JobQueue(t.services.db, SETTINGS), new JobQueue(other, SETTINGS)];
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add((await queues[0]!.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" })).id);
      const claims = await Promise.all(
        Array.from({ length: 60 }, (_, i) => queues[i % 2]!.claim(`worker-${i % 2}`)),
      );
      const claimed = claims.filter((job): job is Job => job !== undefined).map((job) => job.id);
      expect(claimed).toHaveLength(20);
      expect(new Set(claimed)).toEqual(ids);
    } finally {
      await other.destroy();
    }
  });
});

describe("failures", () => {
  it("retries a failed run after an exponential, capped backoff and fails the job with the reason after the last attempt", async () => {
    const { queue, clock, advance } = queueWithClock();
    const job = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });

    const first = (await queue.claim("w"))!;
    expect(await queue.fail(leaseOf(first), "decoder ran out of memory", true)).toMatchObject({
      kind: "retrying",
      job: { state: "queued", attempts: 1, lastError: "decoder ran out of memory", runAfter: new Date(clock.now.getTime() + 1000).toISOString() },
    });
    expect(await queue.claim("w")).toBeUndefined();
    advance(1000);
    const second = (await queue.claim("w"))!;
    expect(second.attempts).toBe(2);
    // 1000 × 2 = 2000, capped at 1500.
    const retry = await queue.fail(leaseOf(second), "decoder ran out of memory again", true);
    expect(retry.kind === "retrying" && retry.job.runAfter).toBe(new Date(clock.now.getTime() + 1500).toISOString());
    advance(1500);
    const third = (await queue.claim("w"))!;
    expect(await queue.fail(leaseOf(third), "still out of memory", true)).toMatchObject({ kind: "failed" });
    expect(await queue.get(job.id)).toMatchObject({ state: "failed", attempts: 3, lastError: "still out of memory", finishedAt: clock.now.toISOString() });
    advance(60_000);
    expect(await queue.claim("w")).toBeUndefined();
  });

  it("fails a job at once on a permanent error, with its reason, and keeps running other jobs", async () => {
    const broken = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    const fine = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    runJobs(async (job) => {
      if (job.id === broken.id) throw new PermanentJobError("PixelData cannot be decoded: truncated JPEG 2000 stream");
      return { findings: 0 };
    });
    expect(await finished(broken.id)).toMatchObject({ state: "failed", attempts: 1, lastError: "PixelData cannot be decoded: truncated JPEG 2000 stream" });
    expect(await finished(fine.id)).toMatchObject({ state: "succeeded", result: { findings: 0 } });
    expect((await request(t.app).get("/healthz")).status).toBe(200);
  });

  it("survives a handler that throws synchronously or rejects with a non-Error, retrying the job", async () => {
    const { queue } = { queue: t.services.jobs };
    const job = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    let calls = 0;
    runJobs((() => {
      calls += 1;
      if (calls === 1) throw new Error("thrown before any promise");
      if (calls === 2) return Promise.reject("a bare string");
      return Promise.resolve("done");
    }) as JobHandler);
    // TRRG_JOB_RETRY_BASE defaults to 10 s: make the retries due now instead of waiting.
    const due = async () => {
      await t.services.db.updateTable("jobs").set({ run_after: new Date(0).toISOString() }).where("id", "=", job.id).where("state", "=", "queued").execute();
      const current = await queue.get(job.id);
      return current?.state === "succeeded" ? current : undefined;
    };
    expect(await until(due)).toMatchObject({ state: "succeeded", attempts: 3, result: "done", lastError: "a bare string" });
    expect(calls).toBe(3);
  });
});

describe("recovery of a job whose worker died", () => {
  it("takes the job back once its lease expired, and runs it again exactly once", async () => {
    const { queue, advance } = queueWithClock();
    const job = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    const dead = (await queue.claim("worker-that-died"))!;
    expect(await queue.recover()).toBe(0); // the lease still runs
    advance(SETTINGS.leaseMs + 1);
    expect(await queue.recover()).toBe(1);
    expect(await queue.get(job.id)).toMatchObject({ state: "queued", attempts: 1, leaseOwner: null });

    let runs = 0;
    runJobs(async () => {
      runs += 1;
      return "reported";
    });
    expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 2, result: "reported" });
    // The first worker's late answer is refused: its lease is no longer the job's.
    expect(await queue.complete(leaseOf(dead), "late")).toBeUndefined();
    expect(await queue.heartbeat(leaseOf(dead))).toBe(false);
    expect(runs).toBe(1);
    expect((await queue.get(job.id))?.result).toBe("reported");
  });

  it("fails the job when the lost run was its last attempt", async () => {
    const { queue, advance } = queueWithClock({ ...SETTINGS, maxAttempts: 1 });
    const job = await queue.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    await queue.claim("worker-that-died");
    advance(SETTINGS.leaseMs + 1);
    expect(await queue.recover()).toBe(1);
    expect(await queue.get(job.id)).toMatchObject({ state: "failed", lastError: expect.stringMatching(/lease expired/) });
  });

  it("completes a job whose worker process was killed (SIGKILL) exactly once after a restart", async () => {
    const leaseMs = 400;
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    const worker = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "support", "jobWorkerProcess.ts"), t.services.config.database.postgresUrl ?? t.services.config.database.sqlitePath, String(leaseMs)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    worker.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    await until(async () => (output.includes(`started ${job.id}`) ? true : undefined), 20_000);
    expect(await t.services.jobs.get(job.id)).toMatchObject({ state: "running", leaseOwner: "worker-process", attempts: 1 });
    worker.kill("SIGKILL");
    await once(worker, "exit");

    // The restarted service: its runner finds the job once the dead worker's lease has expired.
    let runs = 0;
    runJobs(async () => {
      runs += 1;
      return "reported after restart";
    }, leaseMs);
    expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 2, result: "reported after restart" });
    await new Promise((resolve) => setTimeout(resolve, 2 * leaseMs));
    expect(runs).toBe(1);
  }, 40_000);
});

describe("runner", () => {
  it("heartbeats a long run so that its lease does not expire, and completes it", async () => {
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    const leaseMs = 150;
    let runs = 0;
    runJobs(async () => {
      runs += 1;
      await new Promise((resolve) => setTimeout(resolve, 4 * leaseMs));
      return "slow but done";
    }, leaseMs);
    expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 1 });
    expect(runs).toBe(1);
  });

  it("runs at most the configured number of jobs at once", async () => {
    for (let i = 0; i < 5; i++) await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    let running = 0;
    let most = 0;
    const runner = startJobRunner(t.services, async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 50));
      running -= 1;
    }, { concurrency: 2, pollIntervalMs: 10 });
    runners.push(runner);
    await until(async () => ((await t.services.jobs.list({ state: "succeeded" })).length === 5 ? true : undefined));
    expect(most).toBe(2);
  });

  it("hands a job that does not finish in time back to the queue at stop, its attempt not counted", async () => {
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    let aborted = false;
    const runner = startJobRunner(t.services, (_job, signal) => new Promise(() => signal.addEventListener("abort", () => (aborted = true))), { pollIntervalMs: 10 });
    await until(async () => ((await t.services.jobs.get(job.id))?.state === "running" ? true : undefined));
    await runner.stop(100);
    expect(aborted).toBe(true);
    expect(await t.services.jobs.get(job.id)).toMatchObject({ state: "queued", attempts: 0, leaseOwner: null });
  });

  it("lets a running job finish when stop gives it time", async () => {
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    const runner = startJobRunner(t.services, () => new Promise((resolve) => setTimeout(() => resolve("finished"), 150)), { pollIntervalMs: 10 });
    await until(async () => ((await t.services.jobs.get(job.id))?.state === "running" ? true : undefined));
    await runner.stop(5000);
    expect(await t.services.jobs.get(job.id)).toMatchObject({ state: "succeeded", result: "finished" });
  });

  it("records each run as an AuditEvent (DCM 110100 Application Activity) naming the patient, the study and the job", async () => {
    const study = newUid();
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study, patientID: "PATIENT-A" })])).status).toBe(200);
    const [job] = await t.services.jobs.listByStudy(study);
    await t.services.db.updateTable("jobs").set({ run_after: new Date(0).toISOString() }).where("id", "=", job!.id).execute();
    runJobs(async () => ({ findings: 2 }));
    await finished(job!.id);
    const { events } = await until(async () => {
      const found = await t.services.audit.search({ count: 10, offset: 0, entity: job!.id });
      return found.total > 0 ? found : undefined;
    });
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({
      type: { code: "110100" },
      subtype: [{ code: "job-run" }],
      action: "E",
      outcome: "0",
      agent: [{ type: { coding: [{ code: "110150" }] }, requestor: true }],
    });
    const values = event.entity?.map((entity) => entity.what?.identifier?.value);
    expect(values).toEqual(["PATIENT-A", `urn:oid:${study}`, job!.id]);
  });
});

describe("the server with a job handler", () => {
  it("runs jobs, hands an unfinished one back when it stops, and finishes it after the restart", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "trrg-jobs-server-"));
    try {
      const env = { TRRG_DATA_DIR: dataDir, TRRG_PORT: "0", TRRG_LOG_LEVEL: "silent", TRRG_AUTH_KEYS_FILE: SHARED_KEYS_FILE, TRRG_JOB_LEASE: "300ms" };
      const config = loadConfig({ ...(await scaleOutEnv(dataDir, env)), ...env });
      const first = await startServer(config, { jobHandler: (_job, signal) => new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason))) });
      const job = await first.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
      await until(async () => ((await first.services.jobs.get(job.id))?.state === "running" ? true : undefined));
      await first.stop();

      const second = await startServer(config, { jobHandler: async () => "done after restart" });
      try {
        const done = await until(async () => {
          const current = await second.services.jobs.get(job.id);
          return current?.state === "succeeded" ? current : undefined;
        });
        expect(done).toMatchObject({ attempts: 1, result: "done after restart", lastError: null });
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("study-stable trigger (STOW-RS)", () => {
  it("queues at start a recent stored study whose job was lost, and leaves the others alone", async () => {
    const lost = newUid();
    const old = newUid();
    for (const study of [lost, old]) expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study })])).status).toBe(200);
    // As if the process had died between the index commit and the job insert; and one study from last week.
    await t.services.db.deleteFrom("jobs").where("study_instance_uid", "in", [lost, old]).execute();
    await t.services.db.updateTable("studies").set({ updated_at: new Date(Date.now() - 7 * 86_400_000).toISOString() }).where("study_instance_uid", "=", old).execute();
    expect(await t.services.studyTrigger.sweep()).toBe(1);
    expect(await t.services.jobs.listByStudy(lost)).toMatchObject([{ state: "queued", trigger: "stow" }]);
    expect(await t.services.jobs.listByStudy(old)).toEqual([]);
    expect(await t.services.studyTrigger.sweep()).toBe(0);
  });

  it("queues one job per stored study, due a quiet period after the last instance, pushed back while instances arrive", async () => {
    const study = newUid();
    const series = newUid();
    const before = Date.now();
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study, seriesInstanceUID: series })])).status).toBe(200);
    const [first] = await t.services.jobs.listByStudy(study);
    expect(first).toMatchObject({ state: "queued", trigger: "stow", attempts: 0, model: await readModelIdentity(BUNDLED_MODEL_DIR) });
    const runAfter = Date.parse(first!.runAfter);
    expect(runAfter).toBeGreaterThanOrEqual(before + 60_000);
    expect(runAfter).toBeLessThanOrEqual(Date.now() + 60_000);

    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study, seriesInstanceUID: series })])).status).toBe(200);
    const jobs = await t.services.jobs.listByStudy(study);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.id).toBe(first!.id);
    expect(Date.parse(jobs[0]!.runAfter)).toBeGreaterThan(runAfter);
  });

  it("queues nothing for a request whose every instance was refused", async () => {
    const study = newUid();
    const res = await storeInstances(t, [makeInstance({ studyInstanceUID: study, sopClassUID: "1.2.3" })], `/dicomweb/studies/${newUid()}`);
    expect(res.status).toBe(409);
    expect(await t.services.jobs.listByStudy(study)).toEqual([]);
  });

  it("runs the job once the study has been quiet, not before", async () => {
    const quiet = await startTestApp({ TRRG_JOB_QUIET_PERIOD: "300ms" });
    try {
      const study = newUid();
      const runs: string[] = [];
      const runner = startJobRunner(quiet.services, async (job) => void runs.push(job.studyInstanceUID), { pollIntervalMs: 20 });
      runners.push(runner);
      for (let i = 0; i < 3; i++) {
        expect((await storeInstances(quiet, [makeInstance({ studyInstanceUID: study })])).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(runs).toEqual([]);
      }
      await until(async () => (runs.length > 0 ? true : undefined));
      expect(runs).toEqual([study]);
      await runner.stop(1000);
    } finally {
      await quiet.close();
    }
  });
});

describe("GET /jobs/{id} and GET /jobs?study=", () => {
  it("answers the job's state, attempts, times and result as JSON", async () => {
    const study = newUid();
    const job = await t.services.jobs.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "ups" });
    const res = await t.api.get(`/jobs/${job.id}`);
    expect(res.status).toBe(200);
    expect(res.type).toBe("application/json");
    expect(res.body).toEqual({
      id: job.id,
      studyInstanceUID: study,
      model: MODEL,
      state: "queued",
      trigger: "ups",
      attempts: 0,
      maxAttempts: 3,
      runAfter: job.runAfter,
      leaseExpiresAt: null,
      lastError: null,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      startedAt: null,
      finishedAt: null,
      result: null,
    });
  });

  it("lists the jobs of one study", async () => {
    const study = newUid();
    const a = await t.services.jobs.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "ups" });
    const b = await t.services.jobs.enqueue({ studyInstanceUID: study, model: { ...MODEL, version: "2.0.0" }, trigger: "ups" });
    await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "ups" });
    const res = await t.api.get(`/jobs?study=${study}`);
    expect(res.status).toBe(200);
    expect((res.body.jobs as Array<{ id: string }>).map((job) => job.id).sort()).toEqual([a.id, b.id].sort());
    expect((await t.api.get(`/jobs?study=${newUid()}`)).body).toEqual({ jobs: [] });
  });

  it("answers 404 for an unknown job and 400 for a bad filter", async () => {
    const unknown = await t.api.get("/jobs/3f1c8a52-0d4e-4b8e-9a51-2b1f6f2f7c10");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.warning).toMatch(/no such job/);
    expect((await t.api.get("/jobs/not-a-uuid")).status).toBe(404);
    expect((await t.api.get("/jobs?study=not..a.uid")).status).toBe(400);
    expect((await t.api.get("/jobs?state=sleeping")).status).toBe(400);
  });

  it("needs a token (401) with a Task scope (403)", async () => {
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "ups" });
    const none = await request(t.app).get(`/jobs/${job.id}`);
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer realm="trrg-gateway"$/);
    const imagingOnly = await t.token(TEST_CLIENTS.system, "system/ImagingStudy.rs");
    const refused = await request(t.app).get(`/jobs?study=${job.studyInstanceUID}`).set("Authorization", `Bearer ${imagingOnly}`);
    expect(refused.status).toBe(403);
    expect(refused.headers["www-authenticate"]).toMatch(/error="insufficient_scope", scope="system\/Task.s"/);
    const taskOnly = await t.token(TEST_CLIENTS.system, "system/Task.rs");
    expect((await request(t.app).get(`/jobs/${job.id}`).set("Authorization", `Bearer ${taskOnly}`)).status).toBe(200);
  });

  it("shows a patient/ token only the jobs of its patient's studies", async () => {
    const own = newUid();
    const other = newUid();
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: own, patientID: TEST_CLIENTS.patient.patient })])).status).toBe(200);
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: other, patientID: "PATIENT-A" })])).status).toBe(200);
    const [ownJob] = await t.services.jobs.listByStudy(own);
    const [otherJob] = await t.services.jobs.listByStudy(other);
    const token = await t.token(TEST_CLIENTS.patient);
    const as = (url: string) => request(t.app).get(url).set("Authorization", `Bearer ${token}`);
    expect((await as(`/jobs/${ownJob!.id}`)).status).toBe(200);
    expect((await as(`/jobs/${otherJob!.id}`)).status).toBe(404);
    expect((await as(`/jobs?study=${other}`)).body).toEqual({ jobs: [] });
    expect(((await as("/jobs")).body.jobs as Array<{ id: string }>).map((job) => job.id)).toEqual([ownJob!.id]);
  });

  it("audits a read as a BALP RESTful read naming the study and the job", async () => {
    const study = newUid();
    const job = await t.services.jobs.enqueue({ studyInstanceUID: study, model: MODEL, trigger: "ups" });
    expect((await t.api.get(`/jobs/${job.id}`)).status).toBe(200);
    const [event] = (await t.services.audit.search({ count: 1, offset: 0 })).events;
    expect(event).toMatchObject({ type: { code: "rest" }, subtype: [{ code: "read" }, { code: "GET /jobs/:id" }], action: "R", outcome: "0" });
    expect(event!.entity?.map((entity) => entity.what?.identifier?.value ?? entity.what?.reference)).toEqual(
      expect.arrayContaining([`urn:oid:${study}`, `jobs/${job.id}`]),
    );
  });
});
