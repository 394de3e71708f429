// The embedded durable job queue: jobs live in the database (table jobs, migration 0003), so a job survives a
// restart. One job per study and model version; a worker claims a due job under a lease that its heartbeats
// extend; a job whose worker died (lease expired) is taken back by recover(). Every state change is one UPDATE
// guarded by a WHERE on the expected state and lease, so two workers — in this process or another — never hold
// the same job, and a worker that lost its lease cannot overwrite what its successor did. With a JobDispatch
// (BullMQ, src/jobs/redisDispatch.ts) every job that becomes queued is also announced to the workers; the table
// stays the one record of its state, so a lost announcement delays a job and never loses it (resendQueued).
import { randomUUID } from "node:crypto";
import type { ExpressionBuilder, Selectable, Transaction } from "kysely";
import { isPostgres, type Database } from "../store/database.js";
import { GroupCommitQueue } from "../store/groupCommit.js";
import type { DatabaseSchema, JobTable } from "../store/schema.js";

export type JobState = JobTable["state"];
export type JobTrigger = JobTable["trigger"];

export const JOB_STATES: readonly JobState[] = ["queued", "running", "succeeded", "failed"];

/** The model set a job runs: its manifest name and version. */
export interface ModelIdentity {
  name: string;
  version: string;
}

export interface Job {
  id: string;
  studyInstanceUID: string;
  model: ModelIdentity;
  state: JobState;
  trigger: JobTrigger;
  attempts: number;
  maxAttempts: number;
  runAfter: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  lastError: string | null;
  /** The handler's result (parsed JSON), once succeeded. */
  result: unknown;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What a worker holds while it runs a job: the owner and the attempt fence every later update. */
export interface Lease {
  jobId: string;
  owner: string;
  attempt: number;
}

export interface JobQueueSettings {
  maxAttempts: number;
  retryBaseMs: number;
  retryCapMs: number;
  leaseMs: number;
}

export interface EnqueueRequest {
  studyInstanceUID: string;
  model: ModelIdentity;
  trigger: JobTrigger;
  /** Not run before this time (default: now). */
  runAfter?: Date;
}

export interface JobFilter {
  studyInstanceUID?: string;
  state?: JobState;
  /** Only jobs of this patient's studies (a SMART patient/ scope). */
  patientId?: string;
  limit?: number;
}

/** The outcome of fail(): retried later, failed for good, or the lease was no longer this worker's. */
export type FailOutcome = { kind: "retrying"; job: Job } | { kind: "failed"; job: Job } | { kind: "lost" };

/** A job waiting to run, as announced to the workers. */
export interface QueuedJob {
  id: string;
  runAfter: string;
}

/** Announces queued jobs to the worker processes (BullMQ). Never throws: what it could not send is resent later. */
export interface JobDispatch {
  send(jobs: readonly QueuedJob[]): Promise<void>;
  close(): Promise<void>;
}

/** Most queued jobs one resendQueued() announces again. */
const RESEND_BATCH = 1000;

/** Longest last_error kept: enough for a reason and a little context, never a whole dump. */
const MAX_ERROR_LENGTH = 2000;

function toJob(row: Selectable<JobTable>): Job {
  return {
    id: row.id,
    studyInstanceUID: row.study_instance_uid,
    model: { name: row.model_name, version: row.model_version },
    state: row.state,
    trigger: row.trigger,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    runAfter: row.run_after,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    lastError: row.last_error,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export class JobQueue {
  private readonly enqueues: GroupCommitQueue<EnqueueRequest, Job>;

  constructor(
    private readonly db: Database,
    readonly settings: JobQueueSettings,
    private readonly clock: () => Date = () => new Date(),
    /** Set when jobs are dispatched to worker processes (TRRG_REDIS_URL). */
    readonly dispatch?: JobDispatch,
  ) {
    this.enqueues = new GroupCommitQueue((requests) =>
      db.transaction().execute(async (trx) => {
        const jobs: Job[] = [];
        for (const request of requests) jobs.push(await this.enqueueIn(trx, request));
        return jobs;
      }),
    );
  }

  /** Studies stored or updated since `since` that have no job for this model version (their enqueue was lost). */
  async studiesWithoutJob(model: ModelIdentity, since: Date): Promise<string[]> {
    const rows = await this.db
      .selectFrom("studies")
      .select("studies.study_instance_uid")
      .where("studies.updated_at", ">=", since.toISOString())
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("jobs")
              .select("jobs.id")
              .whereRef("jobs.study_instance_uid", "=", "studies.study_instance_uid")
              .where("jobs.model_name", "=", model.name)
              .where("jobs.model_version", "=", model.version),
          ),
        ),
      )
      .orderBy("studies.study_instance_uid")
      .execute();
    return rows.map((r) => r.study_instance_uid);
  }

  /** The wait before retry n (n ≥ 1): exponential, capped. */
  backoffMs(attempt: number): number {
    return Math.min(this.settings.retryCapMs, this.settings.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  }

  /**
   * Enqueues the job of a study and model version, or returns the one that exists (idempotent). A job still
   * queued is moved: a STOW-RS arrival pushes it to the new end of the quiet period, a UPS or command request
   * makes it due at once. A job running or finished is left as it is. Enqueues that arrive together (the STOW-RS
   * requests of a busy modality) share one transaction, as the instance index does.
   */
  async enqueue(request: EnqueueRequest): Promise<Job> {
    const job = await this.enqueues.add(request);
    if (job.state === "queued") await this.announce([job]);
    return job;
  }

  private async announce(jobs: readonly QueuedJob[]): Promise<void> {
    if (this.dispatch && jobs.length > 0) await this.dispatch.send(jobs.map(({ id, runAfter }) => ({ id, runAfter })));
  }

  /**
   * Announces every queued job again (oldest due first, up to a batch): what a crashed Redis or a failed send
   * lost reaches the workers after all. Announcements are idempotent (src/jobs/redisDispatch.ts).
   */
  async resendQueued(): Promise<number> {
    if (!this.dispatch) return 0;
    const rows = await this.db
      .selectFrom("jobs")
      .select(["id", "run_after"])
      .where("state", "=", "queued")
      .orderBy("run_after")
      .limit(RESEND_BATCH)
      .execute();
    await this.announce(rows.map((r) => ({ id: r.id, runAfter: r.run_after })));
    return rows.length;
  }

  private async enqueueIn(trx: Transaction<DatabaseSchema>, request: EnqueueRequest): Promise<Job> {
    const now = this.clock();
    const at = now.toISOString();
    const runAfter = (request.runAfter ?? now).toISOString();
    const inserted = await trx
      .insertInto("jobs")
      .values({
        id: randomUUID(),
        study_instance_uid: request.studyInstanceUID,
        model_name: request.model.name,
        model_version: request.model.version,
        state: "queued",
        trigger: request.trigger,
        attempts: 0,
        max_attempts: this.settings.maxAttempts,
        run_after: runAfter,
        lease_owner: null,
        lease_expires_at: null,
        last_error: null,
        result: null,
        created_at: at,
        updated_at: at,
        started_at: null,
        finished_at: null,
      })
      .onConflict((oc) => oc.columns(["study_instance_uid", "model_name", "model_version"]).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return toJob(inserted);
    const key = trx
      .updateTable("jobs")
      .where("study_instance_uid", "=", request.studyInstanceUID)
      .where("model_name", "=", request.model.name)
      .where("model_version", "=", request.model.version)
      .where("state", "=", "queued");
    // Study-stable: later arrivals push the job back. Explicit requests only ever bring it forward.
    const moved =
      request.trigger === "stow"
        ? await key.where("trigger", "=", "stow").where("run_after", "<", runAfter).set({ run_after: runAfter, updated_at: at }).returningAll().executeTakeFirst()
        : await key.where("run_after", ">", runAfter).set({ run_after: runAfter, trigger: request.trigger, updated_at: at }).returningAll().executeTakeFirst();
    if (moved) return toJob(moved);
    const existing = await trx
      .selectFrom("jobs")
      .selectAll()
      .where("study_instance_uid", "=", request.studyInstanceUID)
      .where("model_name", "=", request.model.name)
      .where("model_version", "=", request.model.version)
      .executeTakeFirstOrThrow();
    return toJob(existing);
  }

  async get(id: string, patientId?: string): Promise<Job | undefined> {
    let query = this.db.selectFrom("jobs").selectAll().where("id", "=", id);
    if (patientId !== undefined) query = query.where("study_instance_uid", "in", this.patientStudies(patientId));
    const row = await query.executeTakeFirst();
    return row && toJob(row);
  }

  listByStudy(studyInstanceUID: string, patientId?: string): Promise<Job[]> {
    return this.list({ studyInstanceUID, ...(patientId !== undefined ? { patientId } : {}) });
  }

  /** Jobs newest first. */
  async list(filter: JobFilter = {}): Promise<Job[]> {
    let query = this.db.selectFrom("jobs").selectAll();
    if (filter.studyInstanceUID !== undefined) query = query.where("study_instance_uid", "=", filter.studyInstanceUID);
    if (filter.state !== undefined) query = query.where("state", "=", filter.state);
    if (filter.patientId !== undefined) query = query.where("study_instance_uid", "in", this.patientStudies(filter.patientId));
    const rows = await query.orderBy("created_at", "desc").orderBy("id").limit(filter.limit ?? 100).execute();
    return rows.map(toJob);
  }

  private patientStudies(patientId: string) {
    return this.db.selectFrom("studies").select("study_instance_uid").where("patient_id", "=", patientId);
  }

  /**
   * Takes the oldest due queued job for `owner`, counting one attempt and leasing it for settings.leaseMs.
   * One UPDATE … WHERE id = (oldest due) AND state = 'queued': of two claimers of the same row only one changes it
   * (SQLite serializes writers; on PostgreSQL the loser re-checks state after the winner commits, and SKIP LOCKED
   * lets it pick the next job instead).
   */
  async claim(owner: string): Promise<Job | undefined> {
    const now = this.clock();
    const at = now.toISOString();
    let oldestDue = this.db
      .selectFrom("jobs")
      .select("id")
      .where("state", "=", "queued")
      .where("run_after", "<=", at)
      .orderBy("run_after")
      .orderBy("created_at")
      .limit(1);
    if (isPostgres(this.db)) oldestDue = oldestDue.forUpdate().skipLocked();
    const row = await this.db
      .updateTable("jobs")
      .set(this.takenBy(owner, now))
      .where("id", "=", oldestDue)
      .where("state", "=", "queued")
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }

  /**
   * Takes this queued job for `owner` if it is due (a worker process handed the job by the dispatch); undefined
   * when it is not queued, not yet due, or another worker took it first.
   */
  async claimById(id: string, owner: string): Promise<Job | undefined> {
    const now = this.clock();
    const at = now.toISOString();
    const row = await this.db
      .updateTable("jobs")
      .set(this.takenBy(owner, now))
      .where("id", "=", id)
      .where("state", "=", "queued")
      .where("run_after", "<=", at)
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }

  /** The SET of a claim: running under `owner`'s lease, one more attempt. */
  private takenBy(owner: string, now: Date) {
    const at = now.toISOString();
    return (eb: ExpressionBuilder<DatabaseSchema, "jobs">) => ({
      state: "running" as const,
      attempts: eb("attempts", "+", 1),
      lease_owner: owner,
      lease_expires_at: new Date(now.getTime() + this.settings.leaseMs).toISOString(),
      started_at: at,
      finished_at: null,
      updated_at: at,
    });
  }

  /** Extends the lease; false when the job is no longer this worker's (taken back, or handed to another). */
  async heartbeat(lease: Lease): Promise<boolean> {
    const now = this.clock();
    const result = await this.leased(lease)
      .set({ lease_expires_at: new Date(now.getTime() + this.settings.leaseMs).toISOString(), updated_at: now.toISOString() })
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Marks the job succeeded with its result; undefined when the lease was lost (another run owns the job). */
  async complete(lease: Lease, result: unknown): Promise<Job | undefined> {
    const at = this.clock().toISOString();
    const row = await this.leased(lease)
      .set({
        state: "succeeded",
        result: JSON.stringify(result ?? null),
        lease_owner: null,
        lease_expires_at: null,
        finished_at: at,
        updated_at: at,
      })
      .returningAll()
      .executeTakeFirst();
    return row && toJob(row);
  }

  /**
   * Records a failed run. A retryable failure with attempts left queues the job again after the backoff; otherwise
   * the job ends failed with the reason.
   */
  async fail(lease: Lease, error: string, retryable: boolean): Promise<FailOutcome> {
    const now = this.clock();
    const at = now.toISOString();
    const lastError = error.slice(0, MAX_ERROR_LENGTH);
    const current = await this.get(lease.jobId);
    if (!current) return { kind: "lost" };
    const retry = retryable && lease.attempt < current.maxAttempts;
    const row = await this.leased(lease)
      .set(
        retry
          ? {
              state: "queued",
              run_after: new Date(now.getTime() + this.backoffMs(lease.attempt)).toISOString(),
              last_error: lastError,
              lease_owner: null,
              lease_expires_at: null,
              updated_at: at,
            }
          : { state: "failed", last_error: lastError, lease_owner: null, lease_expires_at: null, finished_at: at, updated_at: at },
      )
      .returningAll()
      .executeTakeFirst();
    if (!row) return { kind: "lost" };
    const job = toJob(row);
    if (retry) await this.announce([job]);
    return { kind: retry ? "retrying" : "failed", job };
  }

  /** Hands a running job back (shutdown): queued and due at once, the interrupted attempt not counted. */
  async release(lease: Lease): Promise<boolean> {
    const at = this.clock().toISOString();
    const released = await this.leased(lease)
      .set((eb) => ({
        state: "queued",
        attempts: eb("attempts", "-", 1),
        run_after: at,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: at,
      }))
      .returning(["id", "run_after"])
      .executeTakeFirst();
    if (released) await this.announce([{ id: released.id, runAfter: released.run_after }]);
    return released !== undefined;
  }

  /**
   * Takes back running jobs whose lease expired (their worker died or hung): queued again and due at once, the
   * lost run counted as an attempt; failed when that was the last attempt. Returns how many were taken back.
   */
  async recover(): Promise<number> {
    const at = this.clock().toISOString();
    const expired = () => this.db.updateTable("jobs").where("state", "=", "running").where("lease_expires_at", "<", at);
    const lost = "the worker running this job stopped (lease expired)";
    const failed = await expired()
      .where((eb) => eb("attempts", ">=", eb.ref("max_attempts")))
      .set({ state: "failed", last_error: lost, lease_owner: null, lease_expires_at: null, finished_at: at, updated_at: at })
      .executeTakeFirst();
    const requeued = await expired()
      .set({ state: "queued", last_error: lost, run_after: at, lease_owner: null, lease_expires_at: null, updated_at: at })
      .returning(["id", "run_after"])
      .execute();
    await this.announce(requeued.map((r) => ({ id: r.id, runAfter: r.run_after })));
    return Number(failed.numUpdatedRows) + requeued.length;
  }

  /** An UPDATE of the job only while `lease` still holds it. */
  private leased(lease: Lease) {
    return this.db
      .updateTable("jobs")
      .where("id", "=", lease.jobId)
      .where("state", "=", "running")
      .where("lease_owner", "=", lease.owner)
      .where("attempts", "=", lease.attempt);
  }
}

/** The lease a claimed job was handed with. */
export function leaseOf(job: Job): Lease {
  if (job.state !== "running" || job.leaseOwner === null) throw new Error(`job ${job.id} is not leased`);
  return { jobId: job.id, owner: job.leaseOwner, attempt: job.attempts };
}
