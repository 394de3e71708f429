// The rules of a UPS workitem (DICOM PS3.4 Annex CC), as pure functions over DICOM JSON: what a new workitem must
// hold (N-CREATE, CC.2.5), what an update may change (N-SET, CC.2.6), which state changes are legal and who may
// make them (CC.1.1 and CC.2.1), and what a final state requires (CC.2.5.1.3). Errors carry the HTTP status and the
// Warning text PS3.18 §11 gives for each case.
import { randomUUID } from "node:crypto";
import type { DicomJsonDataset, DicomJsonElement } from "../dicom/dicomJson.js";
import { stringValue } from "../dicom/dicomJson.js";
import { isValidUid } from "../dicom/uid.js";

export type ProcedureStepState = "SCHEDULED" | "IN PROGRESS" | "COMPLETED" | "CANCELED";

/** UPS Push SOP Class: the SOP Class of every workitem (PS3.4 CC.3.1). */
export const UPS_PUSH_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.1";
/** UPS Event SOP Class: the Affected SOP Class of event reports (PS3.4 CC.3.1). */
export const UPS_EVENT_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.4";
/** Well-known UIDs of the worklist as a subscription target (PS3.4 CC.3.1; PS3.18 Table 11.10.1-1). */
export const GLOBAL_SUBSCRIPTION_UID = "1.2.840.10008.5.1.4.34.5";
export const FILTERED_GLOBAL_SUBSCRIPTION_UID = "1.2.840.10008.5.1.4.34.5.1";

export const TAG = {
  SOPClassUID: "00080016",
  SOPInstanceUID: "00080018",
  TransactionUID: "00081195",
  PatientName: "00100010",
  PatientID: "00100020",
  IssuerOfPatientID: "00100021",
  PatientBirthDate: "00100030",
  PatientSex: "00100040",
  StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E",
  RetrieveURL: "00081190",
  ReferencedSOPSequence: "00081199",
  ReferencedSOPClassUID: "00081150",
  ReferencedSOPInstanceUID: "00081155",
  ScheduledProcedureStepStartDateTime: "00404005",
  ScheduledProcedureStepModificationDateTime: "00404010",
  ScheduledWorkitemCodeSequence: "00404018",
  PerformedWorkitemCodeSequence: "00404019",
  InputInformationSequence: "00404021",
  PerformedStationNameCodeSequence: "00404028",
  OutputInformationSequence: "00404033",
  ActualHumanPerformersSequence: "00404035",
  InputReadinessState: "00404041",
  PerformedProcedureStepStartDateTime: "00404050",
  PerformedProcedureStepEndDateTime: "00404051",
  ProcedureStepCancellationDateTime: "00404052",
  TypeOfInstances: "0040E020",
  WADORetrievalSequence: "0040E023",
  WADORSRetrievalSequence: "0040E025",
  RetrieveURI: "0040E010",
  CodeValue: "00080100",
  CodingSchemeDesignator: "00080102",
  CodeMeaning: "00080104",
  ProcedureStepState: "00741000",
  ProcedureStepProgressInformationSequence: "00741002",
  ProcedureStepProgress: "00741004",
  ProcedureStepProgressDescription: "00741006",
  ContactURI: "0074100A",
  ContactDisplayName: "0074100C",
  ProcedureStepDiscontinuationReasonCodeSequence: "0074100E",
  ScheduledProcedureStepPriority: "00741200",
  WorklistLabel: "00741202",
  ProcedureStepLabel: "00741204",
  UnifiedProcedureStepPerformedProcedureSequence: "00741216",
  RequestingAE: "00741236",
  ReasonForCancellation: "00741238",
} as const;

/** The standard's Warning texts (PS3.18 Tables 11.6.3-2, 11.7.3-2, 11.8.3-2). */
export const UPS_WARNING = {
  transactionUidMissing: "The Transaction UID is missing.",
  transactionUidIncorrect: "The Transaction UID is incorrect.",
  inconsistentState: "The submitted request is inconsistent with the state of the UPS Instance.",
  notClaimed: "The target URI did not reference a claimed Workitem.",
  inconsistentUpdate: "The submitted request is inconsistent with the current state of the Workitem.",
  alreadyCanceled: "The UPS is already in the requested state of CANCELED.",
  alreadyCompleted: "The UPS is already in the requested state of COMPLETED.",
  cancelAlreadyCompleted: "The UPS is already COMPLETED.",
} as const;

/** A refused UPS request: the HTTP status, the Warning header text, and what exactly was wrong. */
export class UpsError extends Error {
  override name = "UpsError";
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 426,
    readonly warning: string,
    detail?: string,
  ) {
    super(detail ?? warning);
  }
}

const invalid = (detail: string) => new UpsError(400, "The request is not a valid UPS dataset.", detail);

const PRIORITIES = new Set(["HIGH", "MEDIUM", "LOW"]);
const READINESS = new Set(["READY", "UNAVAILABLE", "INCOMPLETE"]);
const DT_PATTERN = /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$/;

/** The Type 2 attributes of Table CC.2.5-3 a new workitem must carry, added empty when the creator left them out. */
const TYPE2_ON_CREATE: ReadonlyArray<[string, string]> = [
  [TAG.PatientName, "PN"],
  [TAG.PatientID, "LO"],
  [TAG.PatientBirthDate, "DA"],
  [TAG.PatientSex, "CS"],
  [TAG.ScheduledWorkitemCodeSequence, "SQ"],
  [TAG.InputInformationSequence, "SQ"],
];

/** Attributes an update (N-SET) must not touch (Table CC.2.5-3 "Not allowed"; the state changes only by PUT …/state). */
const NOT_UPDATABLE = new Map<string, string>([
  [TAG.SOPClassUID, "SOP Class UID"],
  [TAG.SOPInstanceUID, "SOP Instance UID"],
  [TAG.ProcedureStepState, "Procedure Step State (use the Change Workitem State transaction)"],
  [TAG.TransactionUID, "Transaction UID"],
  [TAG.ScheduledProcedureStepModificationDateTime, "Scheduled Procedure Step Modification DateTime (set by the worklist)"],
]);

/** DICOM DT of an instant in UTC, e.g. 20261202101500.123+0000. */
export function dicomDateTime(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}+0000`;
}

/** An ISO instant for a DT value, for ordering and due checks; a value without offset is taken as UTC. */
export function instantOfDateTime(value: string | undefined): string | undefined {
  const parts = value === undefined ? null : /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$/.exec(value.trim());
  if (!parts) return undefined;
  const [, year, month = "01", day = "01", hour = "00", minute = "00", second = "00", fraction = "", offset = "+0000"] = parts;
  const instant = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${fraction.slice(0, 4)}${offset.slice(0, 3)}:${offset.slice(3)}`);
  return Number.isNaN(instant.getTime()) ? undefined : instant.toISOString();
}

export function newTransactionUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, "")}`).toString()}`;
}

function codeString(dataset: DicomJsonDataset, tag: string): string | undefined {
  return stringValue(dataset, tag)?.toUpperCase();
}

export function stateOf(dataset: DicomJsonDataset): ProcedureStepState | undefined {
  const state = codeString(dataset, TAG.ProcedureStepState);
  return state === "SCHEDULED" || state === "IN PROGRESS" || state === "COMPLETED" || state === "CANCELED" ? state : undefined;
}

function element(vr: string, ...values: unknown[]): DicomJsonElement {
  return values.length ? { vr, Value: values } : { vr };
}

/** Checks the shape of a DICOM JSON dataset (PS3.18 Annex F) enough to store and serve it back. */
export function checkDicomJsonDataset(value: unknown, where = "the payload"): DicomJsonDataset {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${where} must be one DICOM JSON dataset (an object)`);
  for (const [tag, item] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[0-9A-Fa-f]{8}$/.test(tag)) throw invalid(`${where}: "${tag}" is not a tag (8 hexadecimal digits)`);
    const el = item as Partial<DicomJsonElement> | null;
    if (typeof el !== "object" || el === null || typeof el.vr !== "string" || !/^[A-Z]{2}$/.test(el.vr)) {
      throw invalid(`${where}: ${tag} has no valid vr`);
    }
    if (el.Value !== undefined && !Array.isArray(el.Value)) throw invalid(`${where}: ${tag} Value must be an array`);
    if (el.vr === "SQ") el.Value?.forEach((entry, i) => checkDicomJsonDataset(entry, `${where}: item ${i + 1} of ${tag}`));
  }
  return Object.fromEntries(Object.entries(value as DicomJsonDataset).map(([tag, el]) => [tag.toUpperCase(), el]));
}

export interface CreateRequest {
  dataset: DicomJsonDataset;
  /** The Workitem UID of the ?{workitem} query parameter (PS3.18 §11.4.1.1). */
  uid: string | undefined;
  now: Date;
  defaultWorklistLabel: string;
}

/**
 * A new workitem as stored, from the Create request (PS3.18 §11.4, PS3.4 CC.2.5.3): SCHEDULED, no Transaction UID,
 * the Type 1 attributes present and valid, the missing Type 2 ones added empty, the SOP Class and Instance UIDs and
 * the modification time set by the worklist.
 */
export function createWorkitem(request: CreateRequest): { uid: string; dataset: DicomJsonDataset } {
  const dataset = { ...request.dataset };
  if (dataset["00001000"]) throw invalid("Affected SOP Instance UID (0000,1000) shall not be in the workitem (PS3.18 §11.4.1.4)");
  const inDataset = stringValue(dataset, TAG.SOPInstanceUID);
  if (request.uid !== undefined && inDataset !== undefined && inDataset !== request.uid) {
    throw invalid("the SOP Instance UID in the dataset differs from the workitem UID in the query");
  }
  const uid = request.uid ?? inDataset ?? newTransactionUid();
  if (!isValidUid(uid)) throw invalid("the workitem UID is not a valid UID");
  if (uid === GLOBAL_SUBSCRIPTION_UID || uid === FILTERED_GLOBAL_SUBSCRIPTION_UID) throw invalid("the workitem UID is a well-known UID");
  if (stateOf(dataset) !== "SCHEDULED") throw new UpsError(400, UPS_WARNING.inconsistentState, "a new workitem's Procedure Step State (0074,1000) must be SCHEDULED");
  if (dataset[TAG.TransactionUID]?.Value?.length) throw invalid("a new workitem shall not carry a Transaction UID (0008,1195)");
  delete dataset[TAG.TransactionUID];
  if (dataset[TAG.UnifiedProcedureStepPerformedProcedureSequence]?.Value?.length) {
    throw invalid("a SCHEDULED workitem cannot already have a Unified Procedure Step Performed Procedure Sequence");
  }
  checkType1(dataset);
  for (const [tag, vr] of TYPE2_ON_CREATE) dataset[tag] ??= { vr };
  dataset[TAG.SOPClassUID] = element("UI", UPS_PUSH_SOP_CLASS);
  dataset[TAG.SOPInstanceUID] = element("UI", uid);
  dataset[TAG.ProcedureStepState] = element("CS", "SCHEDULED");
  if (!stringValue(dataset, TAG.WorklistLabel)) dataset[TAG.WorklistLabel] = element("LO", request.defaultWorklistLabel);
  dataset[TAG.ScheduledProcedureStepModificationDateTime] = element("DT", dicomDateTime(request.now));
  return { uid, dataset };
}

/** The Type 1 attributes of a workitem (Table CC.2.5-3) that a creation or update must leave valid. */
function checkType1(dataset: DicomJsonDataset): void {
  const priority = codeString(dataset, TAG.ScheduledProcedureStepPriority);
  if (!priority || !PRIORITIES.has(priority)) throw invalid("Scheduled Procedure Step Priority (0074,1200) must be HIGH, MEDIUM or LOW");
  if (!stringValue(dataset, TAG.ProcedureStepLabel)) throw invalid("Procedure Step Label (0074,1204) is required");
  const start = stringValue(dataset, TAG.ScheduledProcedureStepStartDateTime);
  if (!start || !DT_PATTERN.test(start) || instantOfDateTime(start) === undefined) {
    throw invalid("Scheduled Procedure Step Start DateTime (0040,4005) is required, as a DICOM DT value");
  }
  const readiness = codeString(dataset, TAG.InputReadinessState);
  if (!readiness || !READINESS.has(readiness)) throw invalid("Input Readiness State (0040,4041) must be READY, UNAVAILABLE or INCOMPLETE");
}

export interface StoredWorkitem {
  uid: string;
  state: ProcedureStepState;
  transactionUid: string | null;
  dataset: DicomJsonDataset;
}

/**
 * The workitem after an Update (PS3.18 §11.6, PS3.4 CC.2.6.3): allowed while SCHEDULED (no Transaction UID) or while
 * IN PROGRESS by the holder of its Transaction UID; never in a final state. Each given attribute replaces the
 * stored one whole (sequences included).
 */
export function updateWorkitem(current: StoredWorkitem, changes: DicomJsonDataset, transactionUid: string | undefined, now: Date): DicomJsonDataset {
  if (current.state === "COMPLETED" || current.state === "CANCELED") {
    throw new UpsError(409, UPS_WARNING.inconsistentUpdate, `the workitem is ${current.state} and may no longer be updated`);
  }
  if (current.state === "IN PROGRESS") checkTransactionUid(current, transactionUid, UPS_WARNING.notClaimed);
  for (const tag of Object.keys(changes)) {
    const name = NOT_UPDATABLE.get(tag);
    if (name) throw new UpsError(400, UPS_WARNING.inconsistentUpdate, `${name} cannot be changed by an update`);
  }
  const dataset = { ...current.dataset, ...changes };
  checkType1(dataset);
  dataset[TAG.ScheduledProcedureStepModificationDateTime] = element("DT", dicomDateTime(now));
  return dataset;
}

function checkTransactionUid(current: StoredWorkitem, given: string | undefined, incorrect: string): void {
  if (given === undefined || given === "") throw new UpsError(400, UPS_WARNING.transactionUidMissing, "the workitem is IN PROGRESS: give its Transaction UID");
  if (given !== current.transactionUid) throw new UpsError(400, UPS_WARNING.transactionUidIncorrect, incorrect);
}

export type StateChange =
  | { kind: "changed"; state: ProcedureStepState; transactionUid: string | null; dataset: DicomJsonDataset }
  /** Already in the requested final state: success with a Warning (PS3.18 Table 11.7.3-2). */
  | { kind: "unchanged"; warning: string };

/**
 * Change Workitem State (PS3.18 §11.7; PS3.4 CC.2.1.3 and Table CC.1.1-2): SCHEDULED → IN PROGRESS records the
 * claimer's Transaction UID; IN PROGRESS → COMPLETED or CANCELED needs that same UID, and COMPLETED needs the final
 * state attributes.
 */
export function changeState(current: StoredWorkitem, requested: string | undefined, transactionUid: string | undefined, now: Date): StateChange {
  if (transactionUid === undefined || transactionUid === "") throw new UpsError(400, UPS_WARNING.transactionUidMissing);
  if (!isValidUid(transactionUid)) throw new UpsError(400, UPS_WARNING.transactionUidIncorrect, "the Transaction UID is not a valid UID");
  const conflict = (detail: string) => new UpsError(409, UPS_WARNING.inconsistentState, detail);
  switch (requested) {
    case "IN PROGRESS":
      if (current.state !== "SCHEDULED") throw conflict(`the workitem is ${current.state}; only a SCHEDULED workitem can be claimed`);
      return {
        kind: "changed",
        state: "IN PROGRESS",
        transactionUid,
        dataset: withState(current.dataset, "IN PROGRESS"),
      };
    case "COMPLETED":
    case "CANCELED": {
      if (current.state === requested) return { kind: "unchanged", warning: requested === "COMPLETED" ? UPS_WARNING.alreadyCompleted : UPS_WARNING.alreadyCanceled };
      if (current.state !== "IN PROGRESS") throw conflict(`the workitem is ${current.state}; it must be IN PROGRESS to become ${requested}`);
      checkTransactionUid(current, transactionUid, "the Transaction UID is not the one the workitem was claimed with");
      const dataset = requested === "COMPLETED" ? completed(current.dataset) : canceled(current.dataset, now);
      return { kind: "changed", state: requested, transactionUid: null, dataset };
    }
    default:
      throw new UpsError(400, UPS_WARNING.inconsistentState, "Procedure Step State (0074,1000) must be IN PROGRESS, COMPLETED or CANCELED");
  }
}

function withState(dataset: DicomJsonDataset, state: ProcedureStepState): DicomJsonDataset {
  return { ...dataset, [TAG.ProcedureStepState]: element("CS", state) };
}

/** PS3.4 CC.2.5.1.3.1 final state requirements of COMPLETED: the performed procedure with its start and end. */
function completed(dataset: DicomJsonDataset): DicomJsonDataset {
  const performed = (dataset[TAG.UnifiedProcedureStepPerformedProcedureSequence]?.Value ?? [])[0] as DicomJsonDataset | undefined;
  const missing = [
    [TAG.PerformedProcedureStepStartDateTime, "Performed Procedure Step Start DateTime (0040,4050)"],
    [TAG.PerformedProcedureStepEndDateTime, "Performed Procedure Step End DateTime (0040,4051)"],
  ].filter(([tag]) => !performed || !stringValue(performed, tag!));
  if (!performed) {
    throw new UpsError(409, UPS_WARNING.inconsistentState, "final state requirements not met: no Unified Procedure Step Performed Procedure Sequence (0074,1216)");
  }
  if (missing.length) throw new UpsError(409, UPS_WARNING.inconsistentState, `final state requirements not met: ${missing.map(([, name]) => name).join(", ")}`);
  if (!performed[TAG.OutputInformationSequence]) {
    throw new UpsError(409, UPS_WARNING.inconsistentState, "final state requirements not met: Output Information Sequence (0040,4033) (Type 2) is absent");
  }
  return withState(dataset, "COMPLETED");
}

/** CANCELED: the worklist records when, in the Procedure Step Progress Information Sequence (Table CC.2.5-3). */
function canceled(dataset: DicomJsonDataset, now: Date): DicomJsonDataset {
  const progress = { ...(((dataset[TAG.ProcedureStepProgressInformationSequence]?.Value ?? [])[0] as DicomJsonDataset | undefined) ?? {}) };
  progress[TAG.ProcedureStepCancellationDateTime] ??= element("DT", dicomDateTime(now));
  return { ...withState(dataset, "CANCELED"), [TAG.ProcedureStepProgressInformationSequence]: { vr: "SQ", Value: [progress] } };
}

/** The cancellation details of a Request Cancellation payload (PS3.18 §11.8.1.4), as stored into the progress item. */
export function cancellationDetails(payload: DicomJsonDataset): DicomJsonDataset {
  const kept: DicomJsonDataset = {};
  for (const tag of [TAG.ReasonForCancellation, TAG.ProcedureStepDiscontinuationReasonCodeSequence, TAG.ContactURI, TAG.ContactDisplayName]) {
    if (payload[tag]) kept[tag] = payload[tag];
  }
  return kept;
}

/** The dataset with details merged into its (first) Procedure Step Progress Information item. */
export function withProgress(dataset: DicomJsonDataset, details: DicomJsonDataset): DicomJsonDataset {
  const progress = { ...(((dataset[TAG.ProcedureStepProgressInformationSequence]?.Value ?? [])[0] as DicomJsonDataset | undefined) ?? {}), ...details };
  return { ...dataset, [TAG.ProcedureStepProgressInformationSequence]: { vr: "SQ", Value: [progress] } };
}

/** The workitem as Retrieve and Search return it: never its Transaction UID (PS3.4 CC.2.7.3, CC.2.8.3). */
export function publicDataset(dataset: DicomJsonDataset): DicomJsonDataset {
  const rest = { ...dataset };
  delete rest[TAG.TransactionUID];
  return rest;
}
