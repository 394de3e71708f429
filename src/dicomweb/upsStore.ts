// Workitems and subscriptions in the store (tables ups_workitems and ups_subscriptions, migration 0006). Every
// change to a workitem is one UPDATE guarded on the revision it was read at, so two writers (two requests, or the
// performer and a request, in this process or another) never both apply a change made from the same reading.
import type { Selectable } from "kysely";
import type { DicomJsonDataset } from "../dicom/dicomJson.js";
import type { Database } from "../store/database.js";
import type { UpsSubscriptionTable, UpsWorkitemTable } from "../store/schema.js";
import type { ProcedureStepState } from "./upsWorkitem.js";

export interface WorkitemRecord {
  uid: string;
  state: ProcedureStepState;
  transactionUid: string | null;
  dataset: DicomJsonDataset;
  patientId: string | null;
  scheduledStart: string | null;
  performer: string | null;
  cancelRequestedAt: string | null;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface Subscription {
  aeTitle: string;
  target: string;
  filter: string | null;
  deletionLock: boolean;
  suspended: boolean;
  clientId: string | null;
}

/** The columns a change may set; the revision always moves on by one. */
export type WorkitemChange = Partial<Pick<WorkitemRecord, "state" | "transactionUid" | "dataset" | "patientId" | "scheduledStart" | "performer" | "cancelRequestedAt">>;

function toRecord(row: Selectable<UpsWorkitemTable>): WorkitemRecord {
  return {
    uid: row.uid,
    state: row.state,
    transactionUid: row.transaction_uid,
    dataset: JSON.parse(row.dataset) as DicomJsonDataset,
    patientId: row.patient_id,
    scheduledStart: row.scheduled_start,
    performer: row.performer,
    cancelRequestedAt: row.cancel_requested_at,
    revision: Number(row.revision),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toSubscription(row: Selectable<UpsSubscriptionTable>): Subscription {
  return {
    aeTitle: row.ae_title,
    target: row.target,
    filter: row.filter,
    deletionLock: Number(row.deletion_lock) === 1,
    suspended: Number(row.suspended) === 1,
    clientId: row.client_id,
  };
}

export interface WorkitemFilter {
  states?: readonly ProcedureStepState[];
  patientId?: string;
  performer?: string;
  /** Only workitems scheduled to start at or before this instant. */
  dueBy?: string;
}

export class UpsStore {
  constructor(private readonly db: Database) {}

  /** Stores a new workitem; false when one with this UID exists. */
  async insert(record: Omit<WorkitemRecord, "revision" | "performer" | "cancelRequestedAt" | "transactionUid">): Promise<boolean> {
    const inserted = await this.db
      .insertInto("ups_workitems")
      .values({
        uid: record.uid,
        state: record.state,
        transaction_uid: null,
        dataset: JSON.stringify(record.dataset),
        patient_id: record.patientId,
        scheduled_start: record.scheduledStart,
        performer: null,
        cancel_requested_at: null,
        revision: 1,
        created_at: record.createdAt,
        updated_at: record.updatedAt,
      })
      .onConflict((oc) => oc.column("uid").doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async get(uid: string): Promise<WorkitemRecord | undefined> {
    const row = await this.db.selectFrom("ups_workitems").selectAll().where("uid", "=", uid).executeTakeFirst();
    return row && toRecord(row);
  }

  /** Workitems in schedule order (then UID), narrowed by the indexed columns; the caller matches the rest. */
  async list(filter: WorkitemFilter = {}): Promise<WorkitemRecord[]> {
    let query = this.db.selectFrom("ups_workitems").selectAll();
    if (filter.states) query = query.where("state", "in", [...filter.states]);
    if (filter.patientId !== undefined) query = query.where("patient_id", "=", filter.patientId);
    if (filter.performer !== undefined) query = query.where("performer", "=", filter.performer);
    if (filter.dueBy !== undefined) query = query.where("scheduled_start", "<=", filter.dueBy);
    const rows = await query.orderBy("scheduled_start").orderBy("uid").execute();
    return rows.map(toRecord);
  }

  /** Applies a change made from `current`; undefined when the workitem changed since it was read. */
  async update(current: WorkitemRecord, change: WorkitemChange, at: string): Promise<WorkitemRecord | undefined> {
    const row = await this.db
      .updateTable("ups_workitems")
      .set({
        ...(change.state !== undefined ? { state: change.state } : {}),
        ...(change.transactionUid !== undefined ? { transaction_uid: change.transactionUid } : {}),
        ...(change.dataset !== undefined ? { dataset: JSON.stringify(change.dataset) } : {}),
        ...(change.patientId !== undefined ? { patient_id: change.patientId } : {}),
        ...(change.scheduledStart !== undefined ? { scheduled_start: change.scheduledStart } : {}),
        ...(change.performer !== undefined ? { performer: change.performer } : {}),
        ...(change.cancelRequestedAt !== undefined ? { cancel_requested_at: change.cancelRequestedAt } : {}),
        revision: current.revision + 1,
        updated_at: at,
      })
      .where("uid", "=", current.uid)
      .where("revision", "=", current.revision)
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  // ------------------------------------------------------------------------------------------- subscriptions

  async subscribe(subscription: Subscription, at: string): Promise<void> {
    await this.db
      .insertInto("ups_subscriptions")
      .values({
        ae_title: subscription.aeTitle,
        target: subscription.target,
        filter: subscription.filter,
        deletion_lock: subscription.deletionLock ? 1 : 0,
        suspended: subscription.suspended ? 1 : 0,
        client_id: subscription.clientId,
        created_at: at,
      })
      .onConflict((oc) =>
        oc.columns(["ae_title", "target"]).doUpdateSet({
          filter: subscription.filter,
          deletion_lock: subscription.deletionLock ? 1 : 0,
          suspended: subscription.suspended ? 1 : 0,
          client_id: subscription.clientId,
        }),
      )
      .execute();
  }

  /** Subscribes each AE to the workitem (from a global subscription); existing rows are left as they are. */
  async subscribeAll(target: string, subscribers: readonly Subscription[], at: string): Promise<void> {
    if (subscribers.length === 0) return;
    await this.db
      .insertInto("ups_subscriptions")
      .values(
        subscribers.map((s) => ({
          ae_title: s.aeTitle,
          target,
          filter: null,
          deletion_lock: s.deletionLock ? 1 : 0,
          suspended: 0,
          client_id: s.clientId,
          created_at: at,
        })),
      )
      .onConflict((oc) => oc.columns(["ae_title", "target"]).doNothing())
      .execute();
  }

  /** Removes one subscription; false when there was none. */
  async unsubscribe(aeTitle: string, target: string): Promise<boolean> {
    const result = await this.db.deleteFrom("ups_subscriptions").where("ae_title", "=", aeTitle).where("target", "=", target).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Removes every subscription of the AE (unsubscribing from the worklist ends them all, PS3.4 CC.2.3.3). */
  async unsubscribeEverywhere(aeTitle: string): Promise<number> {
    const result = await this.db.deleteFrom("ups_subscriptions").where("ae_title", "=", aeTitle).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async suspend(aeTitle: string, target: string): Promise<boolean> {
    const result = await this.db.updateTable("ups_subscriptions").set({ suspended: 1 }).where("ae_title", "=", aeTitle).where("target", "=", target).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async subscriptionsOf(target: string): Promise<Subscription[]> {
    const rows = await this.db.selectFrom("ups_subscriptions").selectAll().where("target", "=", target).orderBy("ae_title").execute();
    return rows.map(toSubscription);
  }

  async subscriptionsOfAe(aeTitle: string): Promise<Subscription[]> {
    const rows = await this.db.selectFrom("ups_subscriptions").selectAll().where("ae_title", "=", aeTitle).orderBy("target").execute();
    return rows.map(toSubscription);
  }
}
