// Gauges read from the store at scrape time: the job backlog (what an autoscaler scales workers on) and the FHIR
// delivery outbox. The store is shared by every replica, so each replica reports the same totals.
import { Gauge, type Registry } from "prom-client";
import { DELIVERY_STATES, type DeliveryOutbox } from "../fhir/deliveryOutbox.js";
import { JOB_STATES, type JobState } from "../jobs/jobQueue.js";
import type { Logger } from "../log.js";
import type { Database } from "../store/database.js";

export interface JobCounts {
  byState: Record<JobState, number>;
  /** Queued jobs whose run_after has passed: waiting only for a worker. */
  due: number;
}

/** Every state's count and the due queued jobs, in one grouped query. */
export async function countJobs(db: Database, now: Date): Promise<JobCounts> {
  const rows = await db
    .selectFrom("jobs")
    .select((eb) => [
      "state",
      eb.fn.countAll<number>().as("jobs"),
      eb.fn.countAll<number>().filterWhere("run_after", "<=", now.toISOString()).as("due"),
    ])
    .groupBy("state")
    .execute();
  const counts: JobCounts = { byState: { queued: 0, running: 0, succeeded: 0, failed: 0 }, due: 0 };
  for (const row of rows) {
    counts.byState[row.state] = Number(row.jobs);
    if (row.state === "queued") counts.due = Number(row.due);
  }
  return counts;
}

/** One read for the collectors of one scrape: prom-client collects every metric at once. */
function sharedRead<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () =>
    (inFlight ??= read().finally(() => {
      inFlight = undefined;
    }));
}

/**
 * Sets the gauge from the store; false when the store did not answer. The scrape then still serves every other
 * metric, and the gauge has no series: a reading that failed is never shown as 0.
 */
async function collectInto<T>(gauge: Gauge<string>, metric: string, logger: Logger, read: () => Promise<T>, apply: (value: T) => void): Promise<boolean> {
  try {
    const value = await read();
    gauge.reset();
    apply(value);
    return true;
  } catch (error) {
    gauge.reset();
    logger.warn({ metric, error: error instanceof Error ? error.name : typeof error }, "metric could not be read from the store");
    return false;
  }
}

export function registerStoreGauges(registry: Registry, sources: { db: Database; deliveries: DeliveryOutbox; logger: Logger }): void {
  const { db, deliveries, logger } = sources;
  const readJobs = sharedRead(() => countJobs(db, new Date()));
  const registers = [registry];
  new Gauge({
    name: "trrg_jobs",
    help: "Report jobs in the store, by state.",
    labelNames: ["state"],
    registers,
    async collect() {
      await collectInto(this, "trrg_jobs", logger, readJobs, (counts) => {
        for (const state of JOB_STATES) this.set({ state }, counts.byState[state]);
      });
    },
  });
  new Gauge({
    name: "trrg_jobs_due",
    help: "Queued report jobs whose run_after has passed: the backlog waiting for a worker.",
    registers,
    async collect() {
      // A gauge without labels always has its one series: NaN, not an autoscaler's 0, when it cannot be read.
      if (!(await collectInto(this, "trrg_jobs_due", logger, readJobs, (counts) => this.set(counts.due)))) this.set(Number.NaN);
    },
  });
  new Gauge({
    name: "trrg_fhir_deliveries",
    help: "Report deliveries in the FHIR outbox, by state (pending: not yet accepted by the target).",
    labelNames: ["state"],
    registers,
    async collect() {
      await collectInto(this, "trrg_fhir_deliveries", logger, () => deliveries.counts(), (counts) => {
        for (const state of DELIVERY_STATES) this.set({ state }, counts[state]);
      });
    },
  });
}
