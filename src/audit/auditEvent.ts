// Builds a FHIR R4 AuditEvent from an AccessRecord, after the IHE Basic Audit Log Patterns (BALP 1.1): a client
// agent, a server agent, an optional user agent, the audit source, and one entity per patient, study, resource,
// query and request id. Plain JSON types: @medplum/fhirtypes is not a dependency of this service.
import type { AccessKind, AccessRecord, AuditAction, AuditEntity, AuditOutcome } from "./accessRecord.js";

export interface Coding {
  system?: string;
  code: string;
  display?: string;
}

export interface CodeableConcept {
  coding: Coding[];
  text?: string;
}

export interface Identifier {
  type?: CodeableConcept;
  system?: string;
  value: string;
  assigner?: { display: string };
}

export interface Reference {
  reference?: string;
  type?: string;
  identifier?: Identifier;
  display?: string;
}

/** AuditEvent.agent.network.type (FHIR R4 network-type): 1 machine name, 2 IP address, 3 telephone, 4 email, 5 URI. */
export type NetworkType = "1" | "2" | "3" | "4" | "5";

export interface AuditEventAgent {
  type?: CodeableConcept;
  who?: Reference;
  altId?: string;
  name?: string;
  requestor: boolean;
  network?: { address: string; type: NetworkType };
}

export interface AuditEventSource {
  site?: string;
  observer: Reference;
  type?: Coding[];
}

export interface AuditEventEntity {
  what?: Reference;
  type?: Coding;
  role?: Coding;
  description?: string;
  /** base64Binary */
  query?: string;
}

/** FHIR R4 AuditEvent (the elements this service writes). */
export interface AuditEvent {
  resourceType: "AuditEvent";
  id?: string;
  type: Coding;
  subtype?: Coding[];
  action?: AuditAction;
  period?: { start?: string; end?: string };
  recorded: string;
  outcome?: AuditOutcome;
  outcomeDesc?: string;
  agent: AuditEventAgent[];
  source: AuditEventSource;
  entity?: AuditEventEntity[];
}

/** How this service names itself as the observer of the events it records. */
export const AUDIT_OBSERVER = "trrg-gateway";

export interface AuditSource {
  /** Who records the event: this service, e.g. "trrg-gateway". */
  observer: string;
  /** The site (hospital, deployment) the service runs at. */
  site?: string;
}

// Code systems, spelled as the standards spell them.
export const DCM = "http://dicom.nema.org/resources/ontology/DCM";
export const AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type";
export const RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction";
export const AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
export const OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role";
export const SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type";
export const PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/** BALP CodeSystem BasicAuditEntityType (its canonical URL is https). */
export const BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
// Local systems of this service.
export const ROUTE_SYSTEM = "urn:trrg-gateway:route";
export const OAUTH_CLIENT_SYSTEM = "urn:trrg-gateway:oauth-client";
export const OAUTH_SUBJECT_SYSTEM = "urn:trrg-gateway:oauth-subject";
/** FHIR R4 "Identifier for DICOM UIDs" (urn:dicom:uid, value urn:oid:<uid>), as ImagingStudy.identifier uses it. */
export const DICOM_UID_SYSTEM = "urn:dicom:uid";

const REST: Coding = { system: AUDIT_EVENT_TYPE, code: "rest", display: "Restful Operation" };

/** AuditEvent.type: DICOM PS3.15 A.5.3 event IDs for DICOMweb, BALP's "rest" for FHIR and other HTTP. */
const EVENT_TYPE: Record<AccessKind, Coding> = {
  "dicomweb-store": { system: DCM, code: "110107", display: "Import" },
  "dicomweb-retrieve": { system: DCM, code: "110106", display: "Export" },
  "dicomweb-search": { system: DCM, code: "110112", display: "Query" },
  "dicomweb-worklist": { system: DCM, code: "110111", display: "Procedure Record" },
  "fhir-read": REST,
  "fhir-search": REST,
  http: REST,
};

/** BALP Read and Query profiles: subtype from FHIR restful-interaction. */
const RESTFUL_SUBTYPE: Partial<Record<AccessKind, Coding>> = {
  "fhir-read": { system: RESTFUL_INTERACTION, code: "read", display: "read" },
  "fhir-search": { system: RESTFUL_INTERACTION, code: "search-type", display: "search-type" },
};

const SOURCE_ROLE: Coding = { system: DCM, code: "110153", display: "Source Role ID" };
const DESTINATION_ROLE: Coding = { system: DCM, code: "110152", display: "Destination Role ID" };

/**
 * BALP follows DICOM: the side the request's data flows from is the Source Role ID. On a create (STOW-RS) and a
 * query the client is the source (BALP Create, Query); on a read (WADO-RS, FHIR read) the server is (BALP Read).
 */
function clientIsSource(kind: AccessKind): boolean {
  return kind !== "dicomweb-retrieve" && kind !== "fhir-read";
}

/** BALP user agent types: Informant (DataSources value set) for a create, information recipient otherwise. */
function userAgentType(kind: AccessKind): Coding {
  return kind === "dicomweb-store"
    ? { system: PARTICIPATION_TYPE, code: "INF", display: "Informant" }
    : { system: PARTICIPATION_TYPE, code: "IRCP", display: "information recipient" };
}

function agents(record: AccessRecord, source: AuditSource): AuditEventAgent[] {
  const { clientId, userId, address } = record.agent;
  const clientSource = clientIsSource(record.kind);
  const client: AuditEventAgent = {
    type: { coding: [clientSource ? SOURCE_ROLE : DESTINATION_ROLE] },
    who: clientId !== undefined
      ? { identifier: { system: OAUTH_CLIENT_SYSTEM, value: clientId } }
      : { display: "unauthenticated client" },
    // FHIR R4 AuditEvent.agent.requestor: one initiator; BALP makes the user it when the token names one.
    requestor: userId === undefined,
    ...(address !== undefined ? { network: { address, type: "2" as const } } : {}),
  };
  const server: AuditEventAgent = {
    type: { coding: [clientSource ? DESTINATION_ROLE : SOURCE_ROLE] },
    who: { display: source.observer },
    requestor: false,
  };
  if (userId === undefined) return [client, server];
  const user: AuditEventAgent = {
    type: { coding: [userAgentType(record.kind)] },
    who: { identifier: { system: OAUTH_SUBJECT_SYSTEM, value: userId } },
    requestor: true,
  };
  return [client, server, user];
}

const HAS_URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

function patientEntity(patientId: string, issuer: string | undefined): AuditEventEntity {
  // Issuer of Patient ID (0010,0021) is usually a local namespace name, not a URI: only a URI may be the system.
  const identifier: Identifier = { value: patientId };
  if (issuer !== undefined && HAS_URI_SCHEME.test(issuer)) identifier.system = issuer;
  else if (issuer !== undefined) identifier.assigner = { display: issuer };
  return {
    what: { type: "Patient", identifier },
    type: { system: AUDIT_ENTITY_TYPE, code: "1", display: "Person" },
    role: { system: OBJECT_ROLE, code: "1", display: "Patient" },
  };
}

function studyEntity(studyInstanceUID: string): AuditEventEntity {
  // DICOM PS3.15 A.5.3 "Studies" participant objects: type 2 System Object, role 3 Report, ID type DCM 110180.
  // Role 3 is also in BALP's RestObjectRoles value set.
  return {
    what: {
      identifier: {
        type: { coding: [{ system: DCM, code: "110180", display: "Study Instance UID" }] },
        system: DICOM_UID_SYSTEM,
        value: `urn:oid:${studyInstanceUID}`,
      },
    },
    type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
    role: { system: OBJECT_ROLE, code: "3", display: "Report" },
  };
}

function toEntity(entity: AuditEntity): AuditEventEntity {
  switch (entity.kind) {
    case "patient":
      return patientEntity(entity.patientId, entity.issuer);
    case "study":
      return studyEntity(entity.studyInstanceUID);
    case "workitem":
      // A UPS workitem: a System Object in the role of a Job (DICOM PS3.15 A.5.2.7), identified by its UID.
      return {
        what: { identifier: { system: DICOM_UID_SYSTEM, value: `urn:oid:${entity.workitemUID}` } },
        type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
        role: { system: OBJECT_ROLE, code: "20", display: "Job" },
      };
    case "resource":
      // BALP Read/Create entity[data]: System Object, role from RestObjectRoles, "Domain Resource" expected.
      return {
        what: { reference: entity.reference },
        type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
        role: { system: OBJECT_ROLE, code: "4", display: "Domain Resource" },
      };
    case "query":
      // BALP Query entity[query]: the raw request, base64, so that malformed or hostile input is kept exactly.
      return {
        type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
        role: { system: OBJECT_ROLE, code: "24", display: "Query" },
        query: Buffer.from(entity.query, "utf8").toString("base64"),
      };
  }
}

/** BALP entity[transaction]: the X-Request-Id, so the event can be matched with logs of the same request. */
function requestIdEntity(requestId: string): AuditEventEntity {
  return {
    what: { identifier: { value: requestId } },
    type: { system: BALP_ENTITY_TYPE, code: "XrequestId", display: "transport specific unique identifier where http X-Request-Id is used" },
  };
}

export function toAuditEvent(record: AccessRecord, source: AuditSource): AuditEvent {
  const subtype = RESTFUL_SUBTYPE[record.kind];
  const route: Coding = { system: ROUTE_SYSTEM, code: `${record.method} ${record.route}` };
  const recorded = record.recorded.toISOString();
  return {
    resourceType: "AuditEvent",
    type: EVENT_TYPE[record.kind],
    subtype: subtype ? [subtype, route] : [route],
    action: record.action,
    period: { start: (record.started ?? record.recorded).toISOString(), end: recorded },
    recorded,
    outcome: record.outcome,
    ...(record.outcomeDescription !== undefined ? { outcomeDesc: record.outcomeDescription } : {}),
    agent: agents(record, source),
    source: {
      ...(source.site !== undefined ? { site: source.site } : {}),
      observer: { display: source.observer },
      type: [{ system: SECURITY_SOURCE_TYPE, code: "4", display: "Application Server" }],
    },
    entity: [...record.entities.map(toEntity), requestIdEntity(record.requestId)],
  };
}

export type ApplicationActivity = "start" | "stop";

/** The service itself as the only agent and the source: its own background actions (BALP). */
function applicationAsActor(source: { observer: string; site?: string }) {
  return {
    agent: [
      {
        type: { coding: [{ system: DCM, code: "110150", display: "Application" }] },
        who: { display: source.observer },
        requestor: true,
      },
    ],
    source: {
      ...(source.site !== undefined ? { site: source.site } : {}),
      observer: { display: source.observer },
      type: [{ system: SECURITY_SOURCE_TYPE, code: "4", display: "Application Server" }],
    },
  };
}

/**
 * A background action of the service itself: here its start and stop, as DICOM PS3.15 A.5.3.1 "Application
 * Activity" (DCM 110100, subtypes 110120 Application Start / 110121 Application Stop), with the application as
 * the one agent (DCM 110150 Application).
 */
export function applicationActivityEvent(activity: ApplicationActivity, source: AuditSource, at = new Date()): AuditEvent {
  const recorded = at.toISOString();
  return {
    resourceType: "AuditEvent",
    type: { system: DCM, code: "110100", display: "Application Activity" },
    subtype: [
      activity === "start"
        ? { system: DCM, code: "110120", display: "Application Start" }
        : { system: DCM, code: "110121", display: "Application Stop" },
    ],
    action: "E",
    period: { start: recorded, end: recorded },
    recorded,
    outcome: "0",
    ...applicationAsActor(source),
  };
}

/** Local code system of the service's background actions (AuditEvent.subtype). */
export const BACKGROUND_ACTION_SYSTEM = "urn:trrg-gateway:background-action";
export const JOB_SYSTEM = "urn:trrg-gateway:job";

/** One run of a job (src/jobs/), for its AuditEvent. */
export interface JobRunRecord {
  jobId: string;
  studyInstanceUID: string;
  /** The study's patient, when the study is in the index. */
  patient?: { patientId: string; issuer?: string };
  model: { name: string; version: string };
  attempt: number;
  maxAttempts: number;
  started: Date;
  finished: Date;
  outcome: AuditOutcome;
  outcomeDescription?: string;
}

/**
 * A job run, the service's own background action (DESIGN §6: one AuditEvent per background action). Recorded,
 * like the service's start and stop, as DICOM PS3.15 A.5.3.1 Application Activity (DCM 110100, action Execute)
 * with the application as the one agent: no person or client asked for this run, a trigger did. DICOM defines
 * no subtype for it, so the subtype is a local code ("job-run"). The entities say what it touched, as BALP
 * does for requests: the patient and the study (DICOM "Studies" participant object) and the job itself
 * (object-role 20 Job), whose description names the model and the attempt. Outcome 0 for a success, 4 for a
 * failed attempt that will be retried, 8 for a job that failed for good.
 */
export function jobRunEvent(run: JobRunRecord, source: AuditSource): AuditEvent {
  const recorded = run.finished.toISOString();
  const job: AuditEventEntity = {
    what: { identifier: { system: JOB_SYSTEM, value: run.jobId } },
    type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
    role: { system: OBJECT_ROLE, code: "20", display: "Job" },
    description: `model ${run.model.name} ${run.model.version}, attempt ${run.attempt} of ${run.maxAttempts}`,
  };
  return {
    resourceType: "AuditEvent",
    type: { system: DCM, code: "110100", display: "Application Activity" },
    subtype: [{ system: BACKGROUND_ACTION_SYSTEM, code: "job-run", display: "Job run" }],
    action: "E",
    period: { start: run.started.toISOString(), end: recorded },
    recorded,
    outcome: run.outcome,
    ...(run.outcomeDescription !== undefined ? { outcomeDesc: run.outcomeDescription } : {}),
    ...applicationAsActor(source),
    entity: [
      ...(run.patient ? [patientEntity(run.patient.patientId, run.patient.issuer)] : []),
      studyEntity(run.studyInstanceUID),
      job,
    ],
  };
}

export const FHIR_DELIVERY_SYSTEM = "urn:trrg-gateway:fhir-delivery";

/** One attempt to deliver a report to the target FHIR server (src/fhir/deliveryWorker.ts), for its AuditEvent. */
export interface DeliveryAttemptRecord {
  deliveryId: string;
  /** The DiagnosticReport here, and the version delivered. */
  reportId: string;
  reportVersion: number;
  studyInstanceUID?: string;
  patient?: { patientId: string; issuer?: string };
  /** The target's FHIR base URL. */
  targetUrl: string;
  attempt: number;
  /** The target's HTTP status, when it answered. */
  status?: number;
  /** Where the target holds the report, once delivered. */
  location?: string;
  started: Date;
  finished: Date;
  outcome: AuditOutcome;
  outcomeDescription?: string;
}

/**
 * A delivery attempt, the service's own background action (DESIGN §6). It is the client side of a FHIR transaction
 * that creates the report at the target, so it follows BALP's Create pattern as the client records it: type rest,
 * subtype restful-interaction "transaction" (and a local "fhir-delivery" code), action C; this service is the
 * Source Role ID agent and the initiator (no person asked), the target the Destination Role ID agent with its URL;
 * the entities are the patient, the study, the DiagnosticReport here (object-role 4 Domain Resource) and the
 * delivery itself (object-role 20 Job). Outcome 0 delivered, 4 failed and to be retried, 8 rejected by the target.
 */
export function deliveryAttemptEvent(attempt: DeliveryAttemptRecord, source: AuditSource): AuditEvent {
  const recorded = attempt.finished.toISOString();
  const delivery: AuditEventEntity = {
    what: { identifier: { system: FHIR_DELIVERY_SYSTEM, value: attempt.deliveryId } },
    type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
    role: { system: OBJECT_ROLE, code: "20", display: "Job" },
    description: [
      `report version ${attempt.reportVersion}, attempt ${attempt.attempt}`,
      attempt.status !== undefined ? `HTTP ${attempt.status}` : "no answer",
      ...(attempt.location !== undefined ? [`at ${attempt.location}`] : []),
    ].join(", "),
  };
  const report: AuditEventEntity = {
    what: { reference: `DiagnosticReport/${attempt.reportId}` },
    type: { system: AUDIT_ENTITY_TYPE, code: "2", display: "System Object" },
    role: { system: OBJECT_ROLE, code: "4", display: "Domain Resource" },
  };
  return {
    resourceType: "AuditEvent",
    type: REST,
    subtype: [
      { system: RESTFUL_INTERACTION, code: "transaction", display: "transaction" },
      { system: BACKGROUND_ACTION_SYSTEM, code: "fhir-delivery", display: "FHIR delivery" },
    ],
    action: "C",
    period: { start: attempt.started.toISOString(), end: recorded },
    recorded,
    outcome: attempt.outcome,
    ...(attempt.outcomeDescription !== undefined ? { outcomeDesc: attempt.outcomeDescription } : {}),
    agent: [
      { type: { coding: [SOURCE_ROLE] }, who: { display: source.observer }, requestor: true },
      { type: { coding: [DESTINATION_ROLE] }, who: { display: attempt.targetUrl }, requestor: false, network: { address: attempt.targetUrl, type: "5" } },
    ],
    source: {
      ...(source.site !== undefined ? { site: source.site } : {}),
      observer: { display: source.observer },
      type: [{ system: SECURITY_SOURCE_TYPE, code: "4", display: "Application Server" }],
    },
    entity: [
      ...(attempt.patient ? [patientEntity(attempt.patient.patientId, attempt.patient.issuer)] : []),
      ...(attempt.studyInstanceUID !== undefined ? [studyEntity(attempt.studyInstanceUID)] : []),
      report,
      delivery,
    ],
  };
}

/** A study retrieved from a PACS by WADO-RS for a UPS workitem (src/dicomweb/upsPerformer.ts), for its AuditEvent. */
export interface StudyRetrieveRecord {
  studyInstanceUID: string;
  workitemUID: string;
  patient?: { patientId: string; issuer?: string } | undefined;
  /** The peer's name and DICOMweb base URL (never the Retrieve URL: it holds UIDs). */
  peer: { name: string; baseUrl: string } | undefined;
  started: Date;
  finished: Date;
  outcome: AuditOutcome;
  outcomeDescription?: string;
}

/**
 * The retrieve, a background action (DESIGN §6): DICOM Import (PS3.15 A.5.3.3, DCM 110107), action C; the PACS is
 * the Source Role ID agent, this service the Destination and the requestor; the entities are the patient (when the
 * study arrived), the study and the workitem (object-role 20 Job). Outcome 0 stored, 4 to be tried again, 8 failed.
 */
export function studyRetrieveEvent(retrieve: StudyRetrieveRecord, source: AuditSource): AuditEvent {
  const recorded = retrieve.finished.toISOString();
  const peer = retrieve.peer;
  return {
    resourceType: "AuditEvent",
    type: { system: DCM, code: "110107", display: "Import" },
    subtype: [{ system: BACKGROUND_ACTION_SYSTEM, code: "dicomweb-retrieve", display: "DICOMweb retrieve for a workitem" }],
    action: "C",
    period: { start: retrieve.started.toISOString(), end: recorded },
    recorded,
    outcome: retrieve.outcome,
    ...(retrieve.outcomeDescription !== undefined ? { outcomeDesc: retrieve.outcomeDescription } : {}),
    agent: [
      ...(peer ? [{ type: { coding: [SOURCE_ROLE] }, who: { display: peer.name }, requestor: false, network: { address: peer.baseUrl, type: "5" as const } }] : []),
      { type: { coding: [DESTINATION_ROLE] }, who: { display: source.observer }, requestor: true },
    ],
    source: {
      ...(source.site !== undefined ? { site: source.site } : {}),
      observer: { display: source.observer },
      type: [{ system: SECURITY_SOURCE_TYPE, code: "4", display: "Application Server" }],
    },
    entity: [
      ...(retrieve.patient ? [patientEntity(retrieve.patient.patientId, retrieve.patient.issuer)] : []),
      studyEntity(retrieve.studyInstanceUID),
      toEntity({ kind: "workitem", workitemUID: retrieve.workitemUID }),
    ],
  };
}
