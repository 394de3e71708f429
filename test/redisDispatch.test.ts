// Report jobs dispatched over BullMQ (TRRG_REDIS_URL) to runners that take them from Redis instead of polling the
// store: a real Redis from Debian (test/support/redis.ts), the real app, real STOW-RS. The queue, the dispatch and
// the runner are under test; the handlers are plain test functions standing in for the pipeline.
import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { JobQueue, type Job } from "../src/jobs/jobQueue.js";
import { JobRunner, startJobRunner, type JobHandler } from "../src/jobs/jobRunner.js";
import { REPORT_JOB_QUEUE } from "../src/jobs/redisDispatch.js";
import { createLogger } from "../src/log.js";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { startRedis, type RunningRedis } from "./support/redis.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";
import { until } from "./support/until.js";

const MODEL = { name: "test-model", version: "1.0.0" };
const LEASE_MS = 1500;

let redis: RunningRedis;
let t: TestApp;
let prefix: string;
const runners: JobRunner[] = [];

beforeAll(async () => {
  redis = await startRedis();
}, 120_000);
afterAll(async () => {
  await redis?.stop();
});

async function startApp(): Promise<void> {
  prefix = `test-${randomUUID()}`;
  t = await startTestApp({ TRRG_REDIS_URL: redis.url, TRRG_REDIS_PREFIX: prefix, TRRG_JOB_QUIET_PERIOD: "100ms", TRRG_JOB_LEASE: `${LEASE_MS}ms` });
}

afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop(500);
  await t?.close();
});

function runJobs(handler: JobHandler, concurrency = 2): JobRunner {
  const runner = startJobRunner(t.services, handler, { pollIntervalMs: 20, leaseMs: LEASE_MS, concurrency });
  runners.push(runner);
  return runner;
}

const finished = (id: string, timeoutMs = 15_000) =>
  until(async () => {
    const job = await t.services.jobs.get(id);
    return job && (job.state === "succeeded" || job.state === "failed") ? job : undefined;
  }, timeoutMs);

/** The announcements waiting in this app's BullMQ queue. */
async function waitingAnnouncements(): Promise<number> {
  const queue = new Queue(REPORT_JOB_QUEUE, { connection: { url: redis.url }, prefix });
  try {
    return await queue.getJobCountByTypes("wait", "delayed", "prioritized", "active");
  } finally {
    await queue.close();
  }
}

describe("jobs dispatched over Redis", () => {
  it("runs the job of a STOW-RS study once its quiet period ends, taken from Redis, and leaves no announcement behind", async () => {
    await startApp();
    const runs: string[] = [];
    runJobs(async (job) => {
      runs.push(job.studyInstanceUID);
      return { reported: job.studyInstanceUID };
    });
    const study = newUid();
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study })])).status).toBe(200);
    const [queued] = await t.services.jobs.listByStudy(study);
    const job = await finished(queued!.id);
    expect(job).toMatchObject({ state: "succeeded", attempts: 1, result: { reported: study } });
    expect(runs).toEqual([study]);
    await until(async () => ((await waitingAnnouncements()) === 0 ? true : undefined));
  });

  it("announces a job again when its announcement was never sent: the store, not Redis, holds the job", async () => {
    await startApp();
    // A queue over the same store without dispatch: the job exists, nothing in Redis knows of it.
    const silent = new JobQueue(t.services.db, t.services.config.jobs);
    const job = await silent.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    expect(await waitingAnnouncements()).toBe(0);
    runJobs(async () => "done");
    expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 1 });
  });

  it("loses no job when Redis restarts empty: queued jobs are announced again and run", async () => {
    await startApp();
    const jobs = await Promise.all(Array.from({ length: 5 }, () => t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" })));
    expect(await waitingAnnouncements()).toBe(5);
    await redis.restart();
    expect(await waitingAnnouncements()).toBe(0);
    const runs: string[] = [];
    runJobs(async (job) => void runs.push(job.id));
    for (const job of jobs) expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 1 });
    expect(runs.sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it("stores and queues a STOW-RS study while Redis is down; its job runs once Redis is back", async () => {
    await startApp();
    await redis.kill();
    try {
      const study = newUid();
      const started = Date.now();
      expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study })])).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(5000);
      const [queued] = await t.services.jobs.listByStudy(study);
      expect(queued).toMatchObject({ state: "queued" });
      await redis.start();
      runJobs(async () => "reported after the outage");
      expect(await finished(queued!.id)).toMatchObject({ state: "succeeded", result: "reported after the outage" });
    } finally {
      await redis.start().catch(() => undefined);
    }
  });

  it("runs each job exactly once with two workers taking from one queue, even when a job is announced twice", async () => {
    await startApp();
    const runs: string[] = [];
    const handler: JobHandler = async (job) => {
      runs.push(job.id);
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    runJobs(handler);
    runJobs(handler);
    const jobs: Job[] = [];
    for (let i = 0; i < 20; i++) jobs.push(await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" }));
    // The same announcement again, and a stale one for a due time the job no longer has: neither runs anything.
    await t.services.jobs.dispatch!.send(jobs.map((j) => ({ id: j.id, runAfter: j.runAfter })));
    await t.services.jobs.dispatch!.send(jobs.map((j) => ({ id: j.id, runAfter: new Date(Date.parse(j.runAfter) - 1000).toISOString() })));
    for (const job of jobs) expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 1 });
    expect(runs.sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it("hands a running job back at shutdown, announced again, and another worker finishes it", async () => {
    await startApp();
    const first = runJobs((_job, signal) => new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error))));
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    await until(async () => ((await t.services.jobs.get(job.id))?.state === "running" ? true : undefined));
    await first.stop(100);
    runners.splice(runners.indexOf(first), 1);
    expect(await t.services.jobs.get(job.id)).toMatchObject({ state: "queued", attempts: 0 });
    runJobs(async () => "finished by the second worker");
    expect(await finished(job.id)).toMatchObject({ state: "succeeded", attempts: 1, result: "finished by the second worker" });
  });

  it("hands back at shutdown a job whose claim was on its way when stop began, and stop does not wait for it", async () => {
    await startApp();
    let claiming!: () => void;
    const claimStarted = new Promise<void>((resolve) => (claiming = resolve));
    let proceed!: () => void;
    const claimMayFinish = new Promise<void>((resolve) => (proceed = resolve));
    // The claim of the announced job reaches the store only once stop() has begun.
    class SlowClaims extends JobQueue {
      override async claimById(id: string, owner: string): Promise<Job | undefined> {
        claiming();
        await claimMayFinish;
        return super.claimById(id, owner);
      }
    }
    let started = 0;
    const runner = new JobRunner(new SlowClaims(t.services.db, t.services.config.jobs), () => {
      started += 1;
      return new Promise<never>(() => undefined);
    }, { concurrency: 1, leaseMs: LEASE_MS, pollIntervalMs: 20, logger: createLogger("silent"), dispatchFrom: { url: redis.url, prefix } });
    runner.start();
    const job = await t.services.jobs.enqueue({ studyInstanceUID: newUid(), model: MODEL, trigger: "command" });
    await claimStarted;
    const stopped = runner.stop(100).then(() => "stopped" as const);
    proceed();
    const timedOut = new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 5000));
    expect(await Promise.race([stopped, timedOut])).toBe("stopped");
    expect(started).toBe(0);
    expect(await t.services.jobs.get(job.id)).toMatchObject({ state: "queued", attempts: 0, leaseOwner: null });
  });
});
