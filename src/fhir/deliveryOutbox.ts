// The delivery outbox: one row per report version to send to the EHR's FHIR server (table fhir_deliveries,
// migration 0005). A row is written in the same database transaction that saves the report's resources
// (publishReport.ts), so a crash never leaves a report without its delivery nor a delivery without its report.
// A worker claims a due pending row under a lease; every later update is one UPDATE guarded by the lease (owner and
// attempt), as in src/jobs/jobQueue.ts, so two workers never post the same row at once and a worker that lost its
// lease cannot overwrite its successor's outcome. A row whose worker died stays pending and is claimed again once
// its lease expires. Nothing is ever dropped: a row ends only delivered or rejected (the target refused it).
import { randomUUID } from "node:crypto";
import type { Bundle, OperationOutcome } from "@medplum/fhirtypes";
import type { Selectable, Transaction } from "kysely";
import type { FhirDeliveryConfig } from "../config.js";
import { isPostgres, type Database } from "../store/database.js";
import type { DatabaseSchema, FhirDeliveryTable } from "../store/schema.js";

export type DeliveryState = FhirDeliveryTable["state"];

export const DELIVERY_STATES: readonly DeliveryState[] = ["pending", "delivered", "rejected"];

/** What the target answered for one bundle entry (Bundle.entry.response), in the order the entries were sent. */
export interface DeliveredEntry {
  /** The entry's request.url: the resource type created or found. */
  resourceType: string;
  /** Bundle.entry.response.status, e.g. "201 Created" or "200" (found by the conditional create). */
  status: string;
  /** Bundle.entry.response.location at the target, e.g. DiagnosticReport/123/_history/1. */
  location?: string;
}

/** The transaction-response, summarised. */
export interface DeliveryResponse {
  entries: DeliveredEntry[];
  /** Where the DiagnosticReport is at the target. */
  reportLocation?: string;
}

export interface Delivery {
  id: string;
  reportId: string;
  reportVersion: number;
  studyInstanceUID: string | null;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  /** The target's OperationOutcome of a rejection. */
  outcome: OperationOutcome | null;
  response: DeliveryResponse | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** A claimed row and the bundle to post. */
export interface ClaimedDelivery {
  delivery: Delivery;
  bundle: Bundle;
  lease: DeliveryLease;
}

/** What a worker holds during one attempt: owner and attempt fence every update of it. */
export interface DeliveryLease {
  deliveryId: string;
  owner: string;
  attempt: number;
}

export interface DeliveryOutboxSettings {
  retryBaseMs: number;
  retryCapMs: number;
  /** Longer than any one attempt (token request, POST, and one more of each after a 401). */
  leaseMs: number;
}

/**
 * The outbox's settings from the configuration (defaults where no target is configured: the outbox is then only
 * read). The lease outlasts the longest attempt: a token request and a POST, and one more of each after a 401,
 * each bounded by the request timeout.
 */
export function deliveryOutboxSettings(delivery: FhirDeliveryConfig | undefined): DeliveryOutboxSettings {
  const { retryBaseMs = 10_000, retryCapMs = 600_000, timeoutMs = 30_000 } = delivery ?? {};
  return { retryBaseMs, retryCapMs, leaseMs: 4 * timeoutMs + 10_000 };
}

export interface EnqueueDeliveryRequest {
  reportId: string;
  /** The DiagnosticReport's meta.versionId as saved. */
  reportVersion: number;
  studyInstanceUID?: string;
  bundle: Bundle;
}

export interface DeliveryFilter {
  state?: DeliveryState;
  reportId?: string;
  limit?: number;
}

export type DeliveryCounts = Record<DeliveryState, number>;

/** Longest last_error kept. */
const MAX_ERROR_LENGTH = 2000;

function toDelivery(row: Omit<Selectable<FhirDeliveryTable>, "bundle">): Delivery {
  return {
    id: row.id,
    reportId: row.report_id,
    reportVersion: Number(row.report_version),
    studyInstanceUID: row.study_instance_uid,
    state: row.state,
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    lastStatus: row.last_status === null ? null : Number(row.last_status),
    lastError: row.last_error,
    outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as OperationOutcome),
    response: row.response === null ? null : (JSON.parse(row.response) as DeliveryResponse),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

const SUMMARY_COLUMNS = [
  "id",
  "report_id",
  "report_version",
  "study_instance_uid",
  "state",
  "attempts",
  "next_attempt_at",
  "lease_owner",
  "lease_expires_at",
  "last_status",
  "last_error",
  "outcome",
  "response",
  "created_at",
  "updated_at",
  "finished_at",
] as const;

/**
 * Adds the delivery of a report version, inside the caller's transaction (the one that saved the resources). A
 * delivery of the same report still waiting (pending, no live lease) takes the new version instead of a second row
 * being added: the target would keep whichever version arrived first (conditional create finds it), so the newest
 * is what should go. Returns the id of the row that will deliver this version; undefined when the version was
 * already enqueued and is in flight or done.
 */
export async function enqueueDelivery(
  trx: Transaction<DatabaseSchema>,
  request: EnqueueDeliveryRequest,
  now = new Date(),
): Promise<string | undefined> {
  const at = now.toISOString();
  const bundle = JSON.stringify(request.bundle);
  const waiting = await trx
    .updateTable("fhir_deliveries")
    .set({ report_version: request.reportVersion, study_instance_uid: request.studyInstanceUID ?? null, bundle, updated_at: at })
    .where("report_id", "=", request.reportId)
    .where("state", "=", "pending")
    .where("report_version", "<=", request.reportVersion)
    .where((eb) => eb.or([eb("lease_expires_at", "is", null), eb("lease_expires_at", "<", at)]))
    .returning("id")
    .executeTakeFirst();
  if (waiting) return waiting.id;
  const inserted = await trx
    .insertInto("fhir_deliveries")
    .values({
      id: randomUUID(),
      report_id: request.reportId,
      report_version: request.reportVersion,
      study_instance_uid: request.studyInstanceUID ?? null,
      bundle,
      state: "pending",
      attempts: 0,
      next_attempt_at: at,
      lease_owner: null,
      lease_expires_at: null,
      last_status: null,
      last_error: null,
      outcome: null,
      response: null,
      created_at: at,
      updated_at: at,
      finished_at: null,
    })
    .onConflict((oc) => oc.columns(["report_id", "report_version"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  return inserted?.id;
}

export class DeliveryOutbox {
  constructor(
    private readonly db: Database,
    readonly settings: DeliveryOutboxSettings,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The wait before retry n (n ≥ 1): exponential, capped. */
  backoffMs(attempt: number): number {
    return Math.min(this.settings.retryCapMs, this.settings.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  }

  /**
   * Takes the oldest due pending row that no live lease holds, counting one attempt. One UPDATE … WHERE id =
   * (oldest due) AND the row is still free: of two claimers only one changes it (SQLite serializes writers; on
   * PostgreSQL the loser re-checks after the winner commits, and SKIP LOCKED lets it pick the next row instead).
   */
  async claim(owner: string): Promise<ClaimedDelivery | undefined> {
    const now = this.clock();
    const at = now.toISOString();
    let oldestDue = this.db
      .selectFrom("fhir_deliveries")
      .select("id")
      .where("state", "=", "pending")
      .where("next_attempt_at", "<=", at)
      .where((eb) => eb.or([eb("lease_expires_at", "is", null), eb("lease_expires_at", "<", at)]))
      .orderBy("next_attempt_at")
      .orderBy("created_at")
      .limit(1);
    if (isPostgres(this.db)) oldestDue = oldestDue.forUpdate().skipLocked();
    const row = await this.db
      .updateTable("fhir_deliveries")
      .set((eb) => ({
        attempts: eb("attempts", "+", 1),
        lease_owner: owner,
        lease_expires_at: new Date(now.getTime() + this.settings.leaseMs).toISOString(),
        updated_at: at,
      }))
      .where("id", "=", oldestDue)
      .where("state", "=", "pending")
      .where((eb) => eb.or([eb("lease_expires_at", "is", null), eb("lease_expires_at", "<", at)]))
      .returningAll()
      .executeTakeFirst();
    if (!row) return undefined;
    const delivery = toDelivery(row);
    return {
      delivery,
      bundle: JSON.parse(row.bundle) as Bundle,
      lease: { deliveryId: delivery.id, owner, attempt: delivery.attempts },
    };
  }

  /** The target accepted the bundle. Undefined when the lease was lost (another attempt owns the row). */
  async delivered(lease: DeliveryLease, status: number, response: DeliveryResponse): Promise<Delivery | undefined> {
    const at = this.clock().toISOString();
    return this.finish(lease, {
      state: "delivered",
      last_status: status,
      last_error: null,
      outcome: null,
      response: JSON.stringify(response),
      finished_at: at,
      updated_at: at,
    });
  }

  /** The target refused the bundle for good: kept with its OperationOutcome, never retried. */
  async rejected(lease: DeliveryLease, status: number, error: string, outcome: OperationOutcome): Promise<Delivery | undefined> {
    const at = this.clock().toISOString();
    return this.finish(lease, {
      state: "rejected",
      last_status: status,
      last_error: error.slice(0, MAX_ERROR_LENGTH),
      outcome: JSON.stringify(outcome),
      finished_at: at,
      updated_at: at,
    });
  }

  /**
   * The attempt failed in a way a later one can mend (the target down, 5xx, 429, a timeout, a refused token): the
   * row stays pending, due after the backoff, or after the target's Retry-After when it gave one (never sooner
   * than the first backoff step, so a server answering Retry-After: 0 is not hammered).
   */
  async retry(lease: DeliveryLease, status: number | null, error: string, retryAfterMs?: number): Promise<Delivery | undefined> {
    const now = this.clock();
    const waitMs = retryAfterMs === undefined ? this.backoffMs(lease.attempt) : Math.max(retryAfterMs, this.backoffMs(1));
    return this.finish(lease, {
      state: "pending",
      next_attempt_at: new Date(now.getTime() + waitMs).toISOString(),
      last_status: status,
      last_error: error.slice(0, MAX_ERROR_LENGTH),
      updated_at: now.toISOString(),
    });
  }

  private async finish(lease: DeliveryLease, values: Partial<Selectable<FhirDeliveryTable>>): Promise<Delivery | undefined> {
    const row = await this.db
      .updateTable("fhir_deliveries")
      .set({ ...values, lease_owner: null, lease_expires_at: null })
      .where("id", "=", lease.deliveryId)
      .where("state", "=", "pending")
      .where("lease_owner", "=", lease.owner)
      .where("attempts", "=", lease.attempt)
      .returning(SUMMARY_COLUMNS)
      .executeTakeFirst();
    return row && toDelivery(row);
  }

  async get(id: string): Promise<Delivery | undefined> {
    const row = await this.db.selectFrom("fhir_deliveries").select(SUMMARY_COLUMNS).where("id", "=", id).executeTakeFirst();
    return row && toDelivery(row);
  }

  /** Deliveries, oldest first (the order they are sent in). */
  async list(filter: DeliveryFilter = {}): Promise<Delivery[]> {
    let query = this.db.selectFrom("fhir_deliveries").select(SUMMARY_COLUMNS);
    if (filter.state !== undefined) query = query.where("state", "=", filter.state);
    if (filter.reportId !== undefined) query = query.where("report_id", "=", filter.reportId);
    const rows = await query.orderBy("created_at").orderBy("id").limit(filter.limit ?? 100).execute();
    return rows.map(toDelivery);
  }

  /** How many rows are in each state: what an operator looks at first. */
  async counts(): Promise<DeliveryCounts> {
    const rows = await this.db
      .selectFrom("fhir_deliveries")
      .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
      .groupBy("state")
      .execute();
    const counts: DeliveryCounts = { pending: 0, delivered: 0, rejected: 0 };
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }
}
