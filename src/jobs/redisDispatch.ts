// Report jobs dispatched over BullMQ on Redis (TRRG_REDIS_URL): `serve` replicas announce each job that becomes
// queued, `trrg-gateway worker` processes take the announcements and claim the job in the store. The store stays
// the record of every job's state, lease and result (src/jobs/jobQueue.ts); Redis carries only "job J is due at
// T". So an announcement lost (Redis restarted empty, a send that failed) only delays a job until a worker
// resends what is queued, and an announcement taken twice (a stalled BullMQ job handed out again) runs nothing
// twice: claimById takes the job only while it is queued and due.
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { JobsConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { JobDispatch, QueuedJob } from "./jobQueue.js";

/** The BullMQ queue; its waiting announcements are the Redis list `<prefix>:trrg-report-jobs:wait` (prefix "bull"). */
export const REPORT_JOB_QUEUE = "trrg-report-jobs";

/** Where the dispatch lives: the Redis server and the key prefix of this deployment. */
export interface RedisLocation {
  url: string;
  prefix: string;
}

/** The configured dispatch, if any (TRRG_REDIS_URL, TRRG_REDIS_PREFIX). */
export function configuredRedis(jobs: Pick<JobsConfig, "redisUrl" | "redisPrefix">): RedisLocation | undefined {
  return jobs.redisUrl ? { url: jobs.redisUrl, prefix: jobs.redisPrefix } : undefined;
}

interface Announcement {
  jobId: string;
}

/**
 * The BullMQ id of an announcement: one per job and due time, so that announcing the same thing twice is one
 * BullMQ job, and a job moved later (study-stable trigger) or retried gets a new one. BullMQ ids may not hold ":".
 */
export function announcementId(job: QueuedJob): string {
  return `${job.id}_${Date.parse(job.runAfter)}`;
}

function errorKind(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Longest a send waits for Redis before it gives up (the job is announced again later). */
const SEND_TIMEOUT_MS = 2000;

/** The producer side, in `serve` replicas and in workers (retries, jobs handed back, jobs of dead workers). */
export class RedisJobDispatch implements JobDispatch {
  private readonly queue: Queue<Announcement>;
  private readonly connection: Redis;

  constructor(
    redis: RedisLocation,
    private readonly logger: Logger,
  ) {
    // While Redis is down a send fails after a couple of reconnection tries (and is resent later) instead of
    // holding the STOW-RS request that queued the job; a Redis that hangs times out the same way.
    this.connection = new Redis(redis.url, { maxRetriesPerRequest: 2, commandTimeout: SEND_TIMEOUT_MS });
    this.connection.on("error", () => undefined); // reported through the queue's error event below
    this.queue = new Queue<Announcement>(REPORT_JOB_QUEUE, {
      connection: this.connection,
      prefix: redis.prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
    });
    this.queue.on("error", (error: unknown) => this.logger.warn({ error: errorKind(error) }, "job dispatch: Redis connection error"));
  }

  async send(jobs: readonly QueuedJob[]): Promise<void> {
    const now = Date.now();
    try {
      await this.queue.addBulk(
        jobs.map((job) => ({
          name: "report",
          data: { jobId: job.id },
          opts: { jobId: announcementId(job), delay: Math.max(0, Date.parse(job.runAfter) - now) },
        })),
      );
    } catch (error) {
      this.logger.warn({ count: jobs.length, error: errorKind(error) }, "job dispatch failed; the jobs stay queued and are announced again later");
    }
  }

  /** Announcements waiting or delayed in Redis (for readiness and metrics); throws while Redis is unreachable. */
  async pending(): Promise<number> {
    return this.queue.getJobCountByTypes("wait", "delayed", "prioritized");
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

export interface DispatchConsumerOptions {
  redis: RedisLocation;
  concurrency: number;
  logger: Logger;
  /** Runs the job of one announcement to its end; false when it was not this worker's to run. */
  run: (jobId: string) => Promise<boolean>;
}

/** The consumer side, in `trrg-gateway worker`: takes announcements, at most `concurrency` at once. */
export class DispatchConsumer {
  private readonly worker: Worker<Announcement>;
  private readonly connection: Redis;

  constructor(options: DispatchConsumerOptions) {
    // A worker waits for Redis as long as it takes (BullMQ needs maxRetriesPerRequest null here).
    this.connection = new Redis(options.redis.url, { maxRetriesPerRequest: null });
    this.connection.on("error", () => undefined); // reported through the worker's error event below
    this.worker = new Worker<Announcement>(REPORT_JOB_QUEUE, async (announcement) => options.run(announcement.data.jobId), {
      connection: this.connection,
      prefix: options.redis.prefix,
      concurrency: options.concurrency,
      autorun: true,
    });
    this.worker.on("error", (error: unknown) => options.logger.warn({ error: errorKind(error) }, "job consumer: Redis connection error"));
  }

  /** Stops taking announcements; resolves once the runs in progress have returned. */
  async close(): Promise<void> {
    await this.worker.close();
    this.connection.disconnect();
  }
}
