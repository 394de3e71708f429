// Schema migrations, written once for SQLite and PostgreSQL through Kysely's schema builder.
import { PostgresAdapter, SqliteAdapter, sql, type Kysely, type Migration } from "kysely";

export const migrations: Record<string, Migration> = {
  "0001_dicom_index": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("studies")
        .addColumn("study_instance_uid", "varchar(64)", (c) => c.primaryKey())
        .addColumn("patient_id", "varchar(64)")
        .addColumn("issuer_of_patient_id", "varchar(64)")
        .addColumn("patient_name", "varchar(324)")
        .addColumn("patient_birth_date", "varchar(8)")
        .addColumn("patient_sex", "varchar(16)")
        .addColumn("study_date", "varchar(8)")
        .addColumn("study_time", "varchar(16)")
        .addColumn("accession_number", "varchar(16)")
        .addColumn("referring_physician_name", "varchar(324)")
        .addColumn("study_description", "varchar(64)")
        .addColumn("study_id", "varchar(16)")
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .addColumn("updated_at", "varchar(32)", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("series")
        .addColumn("series_instance_uid", "varchar(64)", (c) => c.primaryKey())
        .addColumn("study_instance_uid", "varchar(64)", (c) =>
          c.notNull().references("studies.study_instance_uid").onDelete("cascade"),
        )
        .addColumn("modality", "varchar(16)")
        .addColumn("series_number", "integer")
        .addColumn("series_description", "varchar(64)")
        .addColumn("body_part_examined", "varchar(16)")
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("instances")
        .addColumn("sop_instance_uid", "varchar(64)", (c) => c.primaryKey())
        .addColumn("series_instance_uid", "varchar(64)", (c) =>
          c.notNull().references("series.series_instance_uid").onDelete("cascade"),
        )
        .addColumn("study_instance_uid", "varchar(64)", (c) => c.notNull())
        .addColumn("sop_class_uid", "varchar(64)", (c) => c.notNull())
        .addColumn("instance_number", "integer")
        .addColumn("transfer_syntax_uid", "varchar(64)", (c) => c.notNull())
        .addColumn("file_path", "varchar(255)", (c) => c.notNull())
        .addColumn("file_size", "bigint", (c) => c.notNull())
        .addColumn("metadata", "text", (c) => c.notNull())
        .addColumn("received_at", "varchar(32)", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("series_by_study").on("series").column("study_instance_uid").execute();
      await db.schema.createIndex("instances_by_series").on("instances").column("series_instance_uid").execute();
      await db.schema.createIndex("instances_by_study").on("instances").column("study_instance_uid").execute();
      await db.schema.createIndex("studies_by_patient").on("studies").column("patient_id").execute();
      await db.schema.createIndex("studies_by_date").on("studies").column("study_date").execute();
      await db.schema.createIndex("studies_by_accession").on("studies").column("accession_number").execute();
    },
  },
  "0002_audit_events": {
    async up(db: Kysely<unknown>) {
      // The audit trail (src/audit/auditStore.ts): rows are only ever inserted; seq 1, 2, 3… and a hash chain.
      await db.schema
        .createTable("audit_events")
        .addColumn("seq", "integer", (c) => c.primaryKey())
        .addColumn("recorded", "varchar(32)", (c) => c.notNull())
        .addColumn("outcome", "varchar(2)", (c) => c.notNull())
        .addColumn("agent_client_id", "varchar(255)")
        .addColumn("entity_refs", "text", (c) => c.notNull())
        .addColumn("event", "text", (c) => c.notNull())
        .addColumn("prev_hash", "varchar(64)", (c) => c.notNull())
        .addColumn("hash", "varchar(64)", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("audit_events_by_recorded").on("audit_events").column("recorded").execute();
      await db.schema.createIndex("audit_events_by_agent").on("audit_events").column("agent_client_id").execute();
      await refuseAuditRewrites(db);
    },
  },
  "0003_jobs": {
    async up(db: Kysely<unknown>) {
      // The embedded job queue (src/jobs/jobQueue.ts): one job per study and model version.
      await db.schema
        .createTable("jobs")
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("study_instance_uid", "varchar(64)", (c) => c.notNull())
        .addColumn("model_name", "varchar(64)", (c) => c.notNull())
        .addColumn("model_version", "varchar(64)", (c) => c.notNull())
        .addColumn("state", "varchar(16)", (c) => c.notNull())
        .addColumn("trigger", "varchar(16)", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("max_attempts", "integer", (c) => c.notNull())
        .addColumn("run_after", "varchar(32)", (c) => c.notNull())
        .addColumn("lease_owner", "varchar(255)")
        .addColumn("lease_expires_at", "varchar(32)")
        .addColumn("last_error", "text")
        .addColumn("result", "text")
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .addColumn("updated_at", "varchar(32)", (c) => c.notNull())
        .addColumn("started_at", "varchar(32)")
        .addColumn("finished_at", "varchar(32)")
        .addUniqueConstraint("jobs_one_per_study_and_model", ["study_instance_uid", "model_name", "model_version"])
        .execute();
      // claim() takes the oldest due queued job; recover() looks for running jobs with an expired lease.
      await db.schema.createIndex("jobs_by_state_and_due").on("jobs").columns(["state", "run_after"]).execute();
      await db.schema.createIndex("jobs_by_created").on("jobs").column("created_at").execute();
    },
  },
  "0004_fhir_resources": {
    async up(db: Kysely<unknown>) {
      // The resources the service publishes (src/fhir/resourceStore.ts). seq orders searches and their pages.
      await db.schema
        .createTable("fhir_resources")
        .addColumn("seq", serialType(db), (c) => c.primaryKey())
        .addColumn("resource_type", "varchar(32)", (c) => c.notNull())
        .addColumn("id", "varchar(64)", (c) => c.notNull())
        .addColumn("version_id", "integer", (c) => c.notNull())
        .addColumn("last_updated", "varchar(32)", (c) => c.notNull())
        .addColumn("content", "text", (c) => c.notNull())
        .addUniqueConstraint("fhir_resources_one_per_id", ["resource_type", "id"])
        .execute();
      // Search index: one row per (parameter, value) of a resource. Tokens and references keep their system
      // ("" when none); dates keep the instant range [date_start, date_end) of the value.
      await db.schema
        .createTable("fhir_search_index")
        .addColumn("resource_seq", "integer", (c) => c.notNull().references("fhir_resources.seq").onDelete("cascade"))
        .addColumn("param", "varchar(64)", (c) => c.notNull())
        .addColumn("system", "varchar(255)", (c) => c.notNull())
        .addColumn("value", "varchar(255)", (c) => c.notNull())
        .addColumn("date_start", "varchar(32)")
        .addColumn("date_end", "varchar(32)")
        .execute();
      await db.schema.createIndex("fhir_search_by_value").on("fhir_search_index").columns(["param", "value", "system"]).execute();
      await db.schema.createIndex("fhir_search_by_resource").on("fhir_search_index").column("resource_seq").execute();
    },
  },
  "0005_fhir_deliveries": {
    async up(db: Kysely<unknown>) {
      // The delivery outbox (src/fhir/deliveryOutbox.ts): one row per report version to send to the target FHIR
      // server, written in the transaction that saves the report's resources.
      await db.schema
        .createTable("fhir_deliveries")
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        .addColumn("report_id", "varchar(64)", (c) => c.notNull())
        .addColumn("report_version", "integer", (c) => c.notNull())
        .addColumn("study_instance_uid", "varchar(64)")
        .addColumn("bundle", "text", (c) => c.notNull())
        .addColumn("state", "varchar(16)", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("next_attempt_at", "varchar(32)", (c) => c.notNull())
        .addColumn("lease_owner", "varchar(255)")
        .addColumn("lease_expires_at", "varchar(32)")
        .addColumn("last_status", "integer")
        .addColumn("last_error", "text")
        .addColumn("outcome", "text")
        .addColumn("response", "text")
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .addColumn("updated_at", "varchar(32)", (c) => c.notNull())
        .addColumn("finished_at", "varchar(32)")
        .addUniqueConstraint("fhir_deliveries_one_per_report_version", ["report_id", "report_version"])
        .execute();
      // claim() takes the oldest due pending row; the operator's listing goes by state.
      await db.schema.createIndex("fhir_deliveries_by_state_and_due").on("fhir_deliveries").columns(["state", "next_attempt_at"]).execute();
      await db.schema.createIndex("fhir_deliveries_by_created").on("fhir_deliveries").column("created_at").execute();
    },
  },
  "0006_ups_workitems": {
    async up(db: Kysely<unknown>) {
      // UPS workitems (src/dicomweb/upsStore.ts): the dataset as DICOM JSON, plus the columns that state changes
      // are guarded on and that searches and the performer filter by.
      await db.schema
        .createTable("ups_workitems")
        .addColumn("uid", "varchar(64)", (c) => c.primaryKey())
        .addColumn("state", "varchar(16)", (c) => c.notNull())
        .addColumn("transaction_uid", "varchar(64)")
        .addColumn("dataset", "text", (c) => c.notNull())
        .addColumn("patient_id", "varchar(64)")
        .addColumn("scheduled_start", "varchar(32)")
        .addColumn("performer", "varchar(255)")
        .addColumn("cancel_requested_at", "varchar(32)")
        .addColumn("revision", "integer", (c) => c.notNull().defaultTo(1))
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .addColumn("updated_at", "varchar(32)", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("ups_workitems_by_state").on("ups_workitems").columns(["state", "scheduled_start"]).execute();
      await db.schema.createIndex("ups_workitems_by_patient").on("ups_workitems").column("patient_id").execute();
      // Subscriptions (PS3.4 CC.2.3): target is a workitem UID or a well-known global one; a filtered global
      // subscription keeps its filter as query text.
      await db.schema
        .createTable("ups_subscriptions")
        .addColumn("ae_title", "varchar(16)", (c) => c.notNull())
        .addColumn("target", "varchar(64)", (c) => c.notNull())
        .addColumn("filter", "text")
        .addColumn("deletion_lock", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("suspended", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("client_id", "varchar(255)")
        .addColumn("created_at", "varchar(32)", (c) => c.notNull())
        .addPrimaryKeyConstraint("ups_subscriptions_pk", ["ae_title", "target"])
        .execute();
      await db.schema.createIndex("ups_subscriptions_by_target").on("ups_subscriptions").column("target").execute();
    },
  },
};

/** A key the database numbers itself: SQLite's INTEGER PRIMARY KEY is the rowid; PostgreSQL needs serial. */
function serialType(db: Kysely<unknown>): "integer" | "serial" {
  return db.getExecutor().adapter instanceof PostgresAdapter ? "serial" : "integer";
}

/**
 * Triggers that refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of audit_events, so the service cannot
 * rewrite history through its own connection. Someone with the database file can still drop them: the hash chain
 * is what detects that (`trrg-gateway audit verify`).
 */
async function refuseAuditRewrites(db: Kysely<unknown>): Promise<void> {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) {
    for (const operation of ["UPDATE", "DELETE"] as const) {
      await sql`CREATE TRIGGER IF NOT EXISTS ${sql.raw(`audit_events_no_${operation.toLowerCase()}`)}
        BEFORE ${sql.raw(operation)} ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`.execute(db);
    }
  } else if (adapter instanceof PostgresAdapter) {
    await sql`CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`.execute(db);
  }
}
