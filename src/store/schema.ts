// Table shapes of the index. One row per study, series and instance; the instance row keeps the DICOM JSON
// metadata (bulk data left out) so WADO-RS metadata and QIDO-RS includefield never reopen the files.
import type { Generated } from "kysely";

export interface StudyTable {
  study_instance_uid: string;
  patient_id: string | null;
  issuer_of_patient_id: string | null;
  patient_name: string | null;
  patient_birth_date: string | null;
  patient_sex: string | null;
  study_date: string | null;
  study_time: string | null;
  accession_number: string | null;
  referring_physician_name: string | null;
  study_description: string | null;
  study_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface SeriesTable {
  series_instance_uid: string;
  study_instance_uid: string;
  modality: string | null;
  series_number: number | null;
  series_description: string | null;
  body_part_examined: string | null;
  created_at: string;
}

export interface InstanceTable {
  sop_instance_uid: string;
  series_instance_uid: string;
  study_instance_uid: string;
  sop_class_uid: string;
  instance_number: number | null;
  transfer_syntax_uid: string;
  file_path: string;
  file_size: number;
  metadata: string;
  received_at: string;
}

/**
 * The audit trail (src/audit/auditStore.ts): append-only, hash-chained. `event` is the AuditEvent's canonical JSON;
 * the other columns are derived from it for search.
 */
export interface AuditEventTable {
  seq: number;
  recorded: string;
  outcome: string;
  agent_client_id: string | null;
  /** Space-separated entity tokens, e.g. "Patient?identifier=P1 study:1.2.3 req:abc". */
  entity_refs: string;
  event: string;
  prev_hash: string;
  hash: string;
}

/**
 * One durable job per study and model version (src/jobs/jobQueue.ts). Times are ISO 8601 UTC strings as everywhere
 * in the index (Date.toISOString(): fixed width, so they compare as text).
 */
export interface JobTable {
  id: string;
  study_instance_uid: string;
  model_name: string;
  model_version: string;
  state: "queued" | "running" | "succeeded" | "failed";
  trigger: "stow" | "ups" | "command";
  /** Runs started so far (a claim counts one; a run handed back at shutdown does not). */
  attempts: number;
  max_attempts: number;
  /** Not claimed before this time: the study-stable quiet period, or the retry backoff. */
  run_after: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  /** The handler's result, JSON. */
  result: string | null;
  created_at: string;
  updated_at: string;
  /** When the current or last run started. */
  started_at: string | null;
  finished_at: string | null;
}

/** A published FHIR resource (src/fhir/resourceStore.ts); content is its JSON, meta included. */
export interface FhirResourceTable {
  seq: Generated<number>;
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: string;
  content: string;
}

/** One searchable value of a resource: a token or reference (system "" when none), or a date range. */
export interface FhirSearchIndexTable {
  resource_seq: number;
  param: string;
  system: string;
  value: string;
  date_start: string | null;
  date_end: string | null;
}

/**
 * One delivery of a report version to the target FHIR server (src/fhir/deliveryOutbox.ts). A row is pending until
 * the target accepts the bundle (delivered) or refuses it for good (rejected); an attempt holds it under a lease.
 */
export interface FhirDeliveryTable {
  id: string;
  /** The DiagnosticReport's id here (and the UUID of its identifier) and the versionId that was enqueued. */
  report_id: string;
  report_version: number;
  /** The reported study: the audit trail names its patient. */
  study_instance_uid: string | null;
  /** The transaction Bundle (src/fhir/transactionBundle.ts), JSON, as it is POSTed. */
  bundle: string;
  state: "pending" | "delivered" | "rejected";
  /** Attempts started so far (a claim counts one; an attempt handed back at shutdown does not). */
  attempts: number;
  /** Not attempted before this time: the retry backoff, or the target's Retry-After. */
  next_attempt_at: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  /** HTTP status of the last answer; null when there was none (network error, timeout, token refused). */
  last_status: number | null;
  last_error: string | null;
  /** The target's OperationOutcome of a rejection, JSON. */
  outcome: string | null;
  /** Summary of the transaction-response, JSON (src/fhir/deliveryOutbox.ts DeliveryResponse). */
  response: string | null;
  created_at: string;
  updated_at: string;
  /** When it was delivered or rejected. */
  finished_at: string | null;
}

/** A UPS workitem (PS3.4 Annex CC): its dataset and the columns state changes are guarded on. */
export interface UpsWorkitemTable {
  uid: string;
  state: "SCHEDULED" | "IN PROGRESS" | "COMPLETED" | "CANCELED";
  /** The Transaction UID of the IN PROGRESS claim: never returned by Retrieve or Search (CC.2.1.3). */
  transaction_uid: string | null;
  /** The workitem as DICOM JSON, without its Transaction UID. */
  dataset: string;
  patient_id: string | null;
  /** Scheduled Procedure Step Start DateTime as an ISO instant, for the performer's due check and ordering. */
  scheduled_start: string | null;
  /** The lease owner of this service's performer while it holds the workitem; null for other performers. */
  performer: string | null;
  /** When a cancellation was requested while IN PROGRESS (the performer then cancels). */
  cancel_requested_at: string | null;
  /** Counts every change: an update is applied only to the revision it was read at. */
  revision: number;
  created_at: string;
  updated_at: string;
}

/** A subscription of an AE to one workitem or to the worklist (PS3.4 CC.2.3). */
export interface UpsSubscriptionTable {
  ae_title: string;
  /** The workitem UID, 1.2.840.10008.5.1.4.34.5 (global) or 1.2.840.10008.5.1.4.34.5.1 (filtered global). */
  target: string;
  /** Matching keys of a filtered global subscription, as query text. */
  filter: string | null;
  deletion_lock: number;
  /** A global subscription suspended (no new workitems are subscribed; existing ones stay). */
  suspended: number;
  /** The OAuth client that made the subscription. */
  client_id: string | null;
  created_at: string;
}

export interface DatabaseSchema {
  studies: StudyTable;
  series: SeriesTable;
  instances: InstanceTable;
  audit_events: AuditEventTable;
  jobs: JobTable;
  fhir_resources: FhirResourceTable;
  fhir_search_index: FhirSearchIndexTable;
  fhir_deliveries: FhirDeliveryTable;
  ups_workitems: UpsWorkitemTable;
  ups_subscriptions: UpsSubscriptionTable;
}
