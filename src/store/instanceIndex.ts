// The study/series/instance index: what STOW-RS wrote and where its file lies.
import type { Transaction } from "kysely";
import { GroupCommitQueue } from "./groupCommit.js";
import type { Database } from "./database.js";
import type { DatabaseSchema, InstanceTable, SeriesTable, StudyTable } from "./schema.js";

export type StudyAttributes = Omit<StudyTable, "created_at" | "updated_at">;
export type SeriesAttributes = Omit<SeriesTable, "created_at">;
export type InstanceRecord = Omit<InstanceTable, "received_at">;

export interface IndexedInstance {
  study: StudyAttributes;
  series: SeriesAttributes;
  instance: InstanceRecord;
}

export type IndexOutcome = "inserted" | "already-indexed";

/**
 * Adds an instance and, when new, its study and series. The first instance of a study or series sets its
 * attributes; an instance already indexed (a resend, or a race with another request) is left as is.
 */
async function addInstance(trx: Transaction<DatabaseSchema>, entry: IndexedInstance, at: string): Promise<IndexOutcome> {
  await trx
    .insertInto("studies")
    .values({ ...entry.study, created_at: at, updated_at: at })
    .onConflict((oc) => oc.column("study_instance_uid").doNothing())
    .execute();
  await trx
    .insertInto("series")
    .values({ ...entry.series, created_at: at })
    .onConflict((oc) => oc.column("series_instance_uid").doNothing())
    .execute();
  const inserted = await trx
    .insertInto("instances")
    .values({ ...entry.instance, received_at: at })
    .onConflict((oc) => oc.column("sop_instance_uid").doNothing())
    .executeTakeFirst();
  if (inserted.numInsertedOrUpdatedRows === 0n) return "already-indexed";
  await trx
    .updateTable("studies")
    .set({ updated_at: at })
    .where("study_instance_uid", "=", entry.study.study_instance_uid)
    .execute();
  return "inserted";
}

/** Adds one instance in its own transaction. */
export function indexInstance(db: Database, entry: IndexedInstance, now = new Date()): Promise<IndexOutcome> {
  return db.transaction().execute((trx) => addInstance(trx, entry, now.toISOString()));
}

/** Indexes instances with group commit (see GroupCommitQueue). */
export class InstanceIndexWriter {
  private readonly queue: GroupCommitQueue<IndexedInstance, IndexOutcome>;

  constructor(db: Database) {
    this.queue = new GroupCommitQueue((entries) => {
      const at = new Date().toISOString();
      return db.transaction().execute(async (trx) => {
        const outcomes: IndexOutcome[] = [];
        for (const entry of entries) outcomes.push(await addInstance(trx, entry, at));
        return outcomes;
      });
    });
  }

  add(entry: IndexedInstance): Promise<IndexOutcome> {
    return this.queue.add(entry);
  }
}

export interface StoredInstanceRef {
  sopInstanceUID: string;
  sopClassUID: string;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  transferSyntaxUID: string;
  filePath: string;
  fileSize: number;
}

export interface InstanceScope {
  studyInstanceUID: string;
  seriesInstanceUID?: string;
  sopInstanceUID?: string;
  /** Only instances of this patient's studies (a SMART patient/ scope). */
  patientId?: string;
}

function scopedInstances(db: Database, scope: InstanceScope) {
  // Columns are qualified: series, joined below, also has study_instance_uid and series_instance_uid.
  let query = db.selectFrom("instances").where("instances.study_instance_uid", "=", scope.studyInstanceUID);
  if (scope.seriesInstanceUID) query = query.where("instances.series_instance_uid", "=", scope.seriesInstanceUID);
  if (scope.sopInstanceUID) query = query.where("instances.sop_instance_uid", "=", scope.sopInstanceUID);
  if (scope.patientId !== undefined) {
    const patientStudies = db.selectFrom("studies").select("study_instance_uid").where("patient_id", "=", scope.patientId);
    query = query.where("instances.study_instance_uid", "in", patientStudies);
  }
  return query
    .leftJoin("series", "series.series_instance_uid", "instances.series_instance_uid")
    .orderBy("series.series_number")
    .orderBy("instances.series_instance_uid")
    .orderBy("instances.instance_number")
    .orderBy("instances.sop_instance_uid");
}

/** The files of a study, a series or one instance, in series and instance number order. */
export async function findInstanceFiles(db: Database, scope: InstanceScope): Promise<StoredInstanceRef[]> {
  const rows = await scopedInstances(db, scope)
    .select([
      "instances.sop_instance_uid",
      "instances.sop_class_uid",
      "instances.series_instance_uid",
      "instances.study_instance_uid",
      "instances.transfer_syntax_uid",
      "instances.file_path",
      "instances.file_size",
    ])
    .execute();
  return rows.map((row) => ({
    sopInstanceUID: row.sop_instance_uid,
    sopClassUID: row.sop_class_uid,
    seriesInstanceUID: row.series_instance_uid,
    studyInstanceUID: row.study_instance_uid,
    transferSyntaxUID: row.transfer_syntax_uid,
    filePath: row.file_path,
    fileSize: Number(row.file_size),
  }));
}

/** The stored DICOM JSON metadata of a study, a series or one instance. */
export async function findInstanceMetadata(db: Database, scope: InstanceScope): Promise<string[]> {
  const rows = await scopedInstances(db, scope).select("instances.metadata").execute();
  return rows.map((row) => row.metadata);
}

/** The patient of a study, for audit records. */
export async function findStudyPatient(
  db: Database,
  studyInstanceUID: string,
): Promise<{ patientId: string; issuer: string | undefined } | undefined> {
  const row = await db
    .selectFrom("studies")
    .select(["patient_id", "issuer_of_patient_id"])
    .where("study_instance_uid", "=", studyInstanceUID)
    .executeTakeFirst();
  return row?.patient_id ? { patientId: row.patient_id, issuer: row.issuer_of_patient_id ?? undefined } : undefined;
}
