// Runs queued jobs: claims due jobs up to a concurrency limit, runs the handler it was given under a lease that a
// heartbeat keeps alive, and records the outcome (succeeded, retried after a backoff, or failed for good). Due jobs
// come from polling the store (the embedded queue) or, with BullMQ dispatch, from runById (src/jobs/redisDispatch.ts).
// Either way it takes back jobs of dead workers (recover) at start and then once per maintenance period, and with
// dispatch announces the queued jobs again, so that nothing an empty Redis forgot is left behind. A handler that throws fails its
// job, never the service. Logs carry job ids and states only: reasons can hold patient data or UIDs, so they go to
// the job row (GET /jobs/{id}) and the audit trail.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { AUDIT_OBSERVER, jobRunEvent } from "../audit/auditEvent.js";
import { observeJobRun } from "../http/metrics.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { findStudyPatient } from "../store/instanceIndex.js";
import { leaseOf, type Job, type JobQueue, type Lease } from "./jobQueue.js";
import { PollPause } from "./pollPause.js";
import { configuredRedis, DispatchConsumer, type RedisLocation } from "./redisDispatch.js";

/** Runs one job; `signal` aborts when the service stops or the job's lease was lost. Its value is the job's result. */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<unknown>;

/** A failure that running again cannot mend (e.g. a corrupt image): the job fails at once, without retries. */
export class PermanentJobError extends Error {
  override name = "PermanentJobError";
}

export type JobRunOutcome =
  | { kind: "succeeded"; job: Job }
  | { kind: "retrying"; job: Job }
  | { kind: "failed"; job: Job };

export interface FinishedRun {
  /** The job as it was claimed (state running, attempts counting this run). */
  claimed: Job;
  started: Date;
  finished: Date;
  outcome: JobRunOutcome;
}

export interface JobRunnerOptions {
  concurrency: number;
  leaseMs: number;
  /** How often the queue is polled when idle (default: a second, or the lease when shorter). */
  pollIntervalMs?: number;
  /** This worker's lease owner id (default host/pid/random). */
  owner?: string;
  /**
   * Redis of the BullMQ dispatch (TRRG_REDIS_URL): due jobs arrive as announcements there (runById) instead of
   * by polling the store.
   */
  dispatchFrom?: RedisLocation | undefined;
  logger: Logger;
  /** Called once per finished run (the audit record); its errors are logged, never thrown. */
  onRunFinished?: (run: FinishedRun) => Promise<void>;
}

interface ActiveRun {
  lease: Lease;
  controller: AbortController;
  heartbeat: NodeJS.Timeout;
  /** Set at shutdown when the job was given back to the queue: the handler's late outcome is dropped. */
  handedBack: boolean;
  /** Ends the wait of whoever launched the run (a dispatch consumer) once the job is handed back. */
  endWait: () => void;
  done: Promise<void>;
}

/** Longest wait between two maintenance passes (recover, resend), whatever the lease. */
const MAX_MAINTENANCE_INTERVAL_MS = 10_000;

/** The error's class name only: messages go to the job row, not to the logs. */
function errorKind(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

export class JobRunner {
  readonly owner: string;
  private readonly active = new Map<string, ActiveRun>();
  private readonly pollIntervalMs: number;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly pause = new PollPause();
  private lastMaintenance = 0;
  private consumer: DispatchConsumer | undefined;

  constructor(
    private readonly queue: JobQueue,
    private readonly handler: JobHandler,
    private readonly options: JobRunnerOptions,
  ) {
    this.owner = options.owner ?? `${hostname()}/${process.pid}/${randomUUID()}`;
    this.pollIntervalMs = options.pollIntervalMs ?? Math.min(1000, options.leaseMs);
  }

  /** Jobs running now. */
  get running(): number {
    return this.active.size;
  }

  start(): void {
    this.loop ??= this.runLoop();
    const { dispatchFrom, concurrency, logger } = this.options;
    if (dispatchFrom) this.consumer ??= new DispatchConsumer({ redis: dispatchFrom, concurrency, logger, run: (id) => this.runById(id) });
  }

  /** Looks for due jobs now instead of at the next poll (e.g. after an enqueue). */
  poke(): void {
    this.pause.end();
  }

  /**
   * Stops claiming, waits up to `timeoutMs` for running jobs to finish, then hands the rest back to the queue
   * (queued, due at once, the interrupted attempt not counted) and aborts their handlers.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    this.pause.end();
    // The consumer stops taking announcements at once; its close resolves when the runs below have returned.
    const consumerClosed = this.consumer?.close();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.allSettled([...this.active.values()].map((run) => run.done)).then(() => true);
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const allDone = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (allDone) {
      await consumerClosed;
      return;
    }
    const left = [...this.active.values()];
    for (const run of left) {
      run.handedBack = true;
      run.endWait();
      clearInterval(run.heartbeat);
      run.controller.abort(new Error("the service is stopping"));
      await this.handBack(run.lease);
    }
    this.options.logger.warn({ count: left.length }, "running jobs handed back to the queue at shutdown");
    await consumerClosed;
  }

  /**
   * Claims and runs one dispatched job to its end; false when it was not this runner's to run (not queued or not
   * due any more, taken by another worker, or the runner is stopping or full).
   */
  async runById(jobId: string): Promise<boolean> {
    if (this.stopping || this.active.size >= this.options.concurrency) return false;
    const job = await this.queue.claimById(jobId, this.owner);
    if (!job) return false;
    // stop() began while the claim was on its way and no longer counts this run: the job goes back untouched.
    if (this.stopping) {
      await this.handBack(leaseOf(job));
      return false;
    }
    await this.launch(job);
    return true;
  }

  /** Queued again, due at once, the attempt not counted; when that fails the lease expiring does the same later. */
  private async handBack(lease: Lease): Promise<void> {
    await this.queue.release(lease).catch((error: unknown) =>
      this.options.logger.error({ jobId: lease.jobId, error: errorKind(error) }, "job could not be handed back; its lease will expire"),
    );
  }

  private async maintain(): Promise<void> {
    const interval = Math.min(this.options.leaseMs, MAX_MAINTENANCE_INTERVAL_MS);
    if (Date.now() - this.lastMaintenance < interval) return;
    this.lastMaintenance = Date.now();
    const recovered = await this.queue.recover();
    if (recovered > 0) this.options.logger.warn({ count: recovered }, "jobs of a stopped worker taken back");
    await this.queue.resendQueued();
  }

  private async runLoop(): Promise<void> {
    const { logger, concurrency } = this.options;
    while (!this.stopping) {
      try {
        await this.maintain();
        while (!this.options.dispatchFrom && !this.stopping && this.active.size < concurrency) {
          const job = await this.queue.claim(this.owner);
          if (!job) break;
          void this.launch(job);
        }
      } catch (error) {
        logger.error({ error: errorKind(error) }, "job queue poll failed");
      }
      if (this.stopping) break;
      await this.pause.wait(this.pollIntervalMs);
    }
  }

  /** Runs a claimed job; resolves when its outcome is recorded (or it was handed back). */
  private launch(job: Job): Promise<void> {
    const lease = leaseOf(job);
    const controller = new AbortController();
    const heartbeat = setInterval(() => {
      this.queue.heartbeat(lease).then(
        (held) => {
          if (!held && !run.handedBack) controller.abort(new Error("the job's lease was lost"));
        },
        (error: unknown) => this.options.logger.error({ jobId: job.id, error: errorKind(error) }, "job heartbeat failed"),
      );
    }, Math.max(10, Math.floor(this.options.leaseMs / 3)));
    let endWait = () => {};
    const handedBack = new Promise<void>((resolve) => (endWait = resolve));
    const run: ActiveRun = { lease, controller, heartbeat, handedBack: false, endWait, done: Promise.resolve() };
    this.active.set(job.id, run);
    this.options.logger.info({ jobId: job.id, attempt: job.attempts, trigger: job.trigger }, "job started");
    run.done = this.execute(job, run)
      .catch((error: unknown) => this.options.logger.error({ jobId: job.id, error: errorKind(error) }, "job outcome could not be recorded; its lease will expire"))
      .finally(() => {
        clearInterval(heartbeat);
        this.active.delete(job.id);
        this.pause.end();
      });
    // A handler that ignores its abort signal may never return; a handed-back job is no longer this run's.
    return Promise.race([run.done, handedBack]);
  }

  private async execute(job: Job, run: ActiveRun): Promise<void> {
    const { logger } = this.options;
    const started = new Date();
    let outcome: JobRunOutcome;
    try {
      // Through then(), so that a handler that throws before returning a promise is caught here too.
      const result = await Promise.resolve().then(() => this.handler(job, run.controller.signal));
      if (run.handedBack) return;
      const completed = await this.queue.complete(run.lease, result);
      if (!completed) {
        logger.warn({ jobId: job.id, attempt: job.attempts }, "job finished after its lease was lost; its result is dropped");
        return;
      }
      outcome = { kind: "succeeded", job: completed };
      logger.info({ jobId: job.id, attempt: job.attempts, ms: Date.now() - started.getTime() }, "job succeeded");
    } catch (error) {
      if (run.handedBack) return;
      const failed = await this.queue.fail(run.lease, reasonOf(error), !(error instanceof PermanentJobError));
      if (failed.kind === "lost") {
        logger.warn({ jobId: job.id, attempt: job.attempts }, "job failed after its lease was lost");
        return;
      }
      outcome = failed;
      const fields = { jobId: job.id, attempt: job.attempts, error: errorKind(error) };
      if (failed.kind === "retrying") logger.warn({ ...fields, runAfter: failed.job.runAfter }, "job failed; it will be retried");
      else logger.error(fields, "job failed for good; the reason is in the job");
    }
    await this.options.onRunFinished?.({ claimed: job, started, finished: new Date(), outcome }).catch((error: unknown) =>
      logger.error({ jobId: job.id, error: errorKind(error) }, "job run could not be audited"),
    );
  }
}

/** The AuditEvent of a finished run (DESIGN §6), appended to the trail and forwarded like request events. */
export async function auditJobRun(services: Services, run: FinishedRun): Promise<void> {
  const { claimed, outcome } = run;
  const patient = await findStudyPatient(services.db, claimed.studyInstanceUID);
  // FHIR AuditEvent.outcome: 0 success; 4 minor failure (this attempt failed, another follows); 8 serious (the job failed).
  const auditOutcome = outcome.kind === "succeeded" ? "0" : outcome.kind === "retrying" ? "4" : "8";
  const description =
    outcome.kind === "succeeded"
      ? undefined
      : `${outcome.kind === "retrying" ? "failed, will be retried" : "failed for good"}: ${outcome.job.lastError ?? "unknown reason"}`;
  const event = jobRunEvent(
    {
      jobId: claimed.id,
      studyInstanceUID: claimed.studyInstanceUID,
      ...(patient ? { patient: { patientId: patient.patientId, ...(patient.issuer !== undefined ? { issuer: patient.issuer } : {}) } } : {}),
      model: claimed.model,
      attempt: claimed.attempts,
      maxAttempts: claimed.maxAttempts,
      started: run.started,
      finished: run.finished,
      outcome: auditOutcome,
      ...(description !== undefined ? { outcomeDescription: description } : {}),
    },
    { observer: AUDIT_OBSERVER },
  );
  await services.audit.append(event);
  services.auditForwarder?.send(event);
}

/** Starts a runner over the service's queue with the configured limits; each run is audited. */
export function startJobRunner(services: Services, handler: JobHandler, options: Partial<JobRunnerOptions> = {}): JobRunner {
  const runner = new JobRunner(services.jobs, handler, {
    concurrency: services.config.jobs.concurrency,
    leaseMs: services.config.jobs.leaseMs,
    logger: services.logger,
    dispatchFrom: configuredRedis(services.config.jobs),
    onRunFinished: (run) => { observeJobRun(services.metrics, run); return auditJobRun(services, run); },
    ...options,
  });
  runner.start();
  return runner;
}
