// The Store Instances Response Module (PS3.18 §10.5.3, Table 10.5.3-2) and its HTTP status (§10.5.3.1).
import type { DicomJsonDataset } from "../dicom/dicomJson.js";

/** Failure Reason (0008,1197) values used by STOW-RS (PS3.18 §10.5.3; PS3.4 Annex B.2.3; PS3.7 Annex C). */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  DuplicateSOPInstance: 0x0111,
  SOPClassNotSupported: 0x0122,
  NotAuthorized: 0x0124,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSOPClass: 0xa900,
  CannotUnderstand: 0xc000,
  TransferSyntaxNotSupported: 0xc122,
  StudyInstanceUIDMismatch: 0xc409,
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

export interface StoredInstance {
  sopClassUID: string;
  sopInstanceUID: string;
  studyInstanceUID: string;
  /** For the audit trail; not part of the response. */
  patient?: { patientId: string; issuer: string | undefined };
  retrieveURL: string;
  warningReason?: number;
}

export interface FailedInstance {
  sopClassUID?: string;
  sopInstanceUID?: string;
  failureReason: FailureReason;
  /** Why, for logs and the Warning header; never contains patient data. */
  detail: string;
}

export interface StoreOutcome {
  stored: StoredInstance[];
  failed: FailedInstance[];
}

/** 200 when every instance was stored without warning, 409 when none was, 202 otherwise. */
export function storeStatus(outcome: StoreOutcome): 200 | 202 | 409 {
  if (outcome.stored.length === 0) return 409;
  if (outcome.failed.length > 0 || outcome.stored.some((s) => s.warningReason !== undefined)) return 202;
  return 200;
}

export function buildStoreResponse(outcome: StoreOutcome, studyRetrieveURL: string | undefined): DicomJsonDataset {
  const response: DicomJsonDataset = {};
  if (studyRetrieveURL) response["00081190"] = { vr: "UR", Value: [studyRetrieveURL] };
  if (outcome.failed.length > 0) {
    response["00081198"] = { vr: "SQ", Value: outcome.failed.map(failedItem) };
  }
  if (outcome.stored.length > 0) {
    response["00081199"] = { vr: "SQ", Value: outcome.stored.map(referencedItem) };
  }
  return response;
}

function uidElement(uid: string | undefined) {
  return uid ? { vr: "UI", Value: [uid] } : { vr: "UI" };
}

function failedItem(failed: FailedInstance): DicomJsonDataset {
  return {
    "00081150": uidElement(failed.sopClassUID),
    "00081155": uidElement(failed.sopInstanceUID),
    "00081197": { vr: "US", Value: [failed.failureReason] },
  };
}

function referencedItem(stored: StoredInstance): DicomJsonDataset {
  const item: DicomJsonDataset = {
    "00081150": uidElement(stored.sopClassUID),
    "00081155": uidElement(stored.sopInstanceUID),
    "00081190": { vr: "UR", Value: [stored.retrieveURL] },
  };
  if (stored.warningReason !== undefined) item["00081196"] = { vr: "US", Value: [stored.warningReason] };
  return item;
}
