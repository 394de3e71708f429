// Table shapes of the index. One row per study, series and instance; the instance row keeps the DICOM JSON
// metadata (bulk data left out) so WADO-RS metadata and QIDO-RS includefield never reopen the files.
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

export interface DatabaseSchema {
  studies: StudyTable;
  series: SeriesTable;
  instances: InstanceTable;
  audit_events: AuditEventTable;
}
