// What one audited action was, before it becomes a FHIR AuditEvent (src/audit/auditEvent.ts). Filled by the
// HTTP layer (who, what route, which outcome) and by the domain code (which patient, study or query).

/** FHIR R4 AuditEvent.action: Create, Read/view, Update, Delete, Execute. */
export type AuditAction = "C" | "R" | "U" | "D" | "E";

/** FHIR R4 AuditEvent.outcome: success, minor failure (client error), serious failure (server error), major. */
export type AuditOutcome = "0" | "4" | "8" | "12";

/** The kind of access, in the words of the standard it came through; mapped to BALP type/subtype codes. */
export type AccessKind =
  | "dicomweb-store" // STOW-RS (DICOM DCM 110107 Import)
  | "dicomweb-retrieve" // WADO-RS (DCM 110106 Export)
  | "dicomweb-search" // QIDO-RS (DCM 110112 Query)
  | "dicomweb-worklist" // UPS-RS (DCM 110111 Procedure Record); the action follows the transaction
  | "fhir-read"
  | "fhir-search"
  | "http"; // anything else, e.g. a refused request to an unknown route

export interface AuditAgent {
  /** OAuth client id (token `client_id` / `azp`), when a token was presented and valid. */
  clientId?: string;
  /** The person (token `sub` / `fhirUser`) when the token stands for one. */
  userId?: string;
  /** Network address of the caller. */
  address?: string;
}

export type AuditEntity =
  | { kind: "patient"; patientId: string; issuer?: string }
  | { kind: "study"; studyInstanceUID: string }
  | { kind: "workitem"; workitemUID: string }
  | { kind: "resource"; reference: string }
  | { kind: "query"; query: string };

export interface AccessRecord {
  kind: AccessKind;
  requestId: string;
  /** When the request arrived (AuditEvent.period.start); absent for a record made at one instant. */
  started?: Date;
  /** When the outcome was known (AuditEvent.recorded and period.end). */
  recorded: Date;
  method: string;
  /** The route pattern, e.g. /dicomweb/studies/:study. */
  route: string;
  /** The full request URL path and query: it may hold patient data, which is why it lives only in the audit trail. */
  url: string;
  status: number;
  action: AuditAction;
  outcome: AuditOutcome;
  /** Why a request failed or was refused, e.g. "invalid_token: expired". */
  outcomeDescription?: string;
  agent: AuditAgent;
  entities: AuditEntity[];
}

export function outcomeOfStatus(status: number): AuditOutcome {
  if (status < 400) return "0";
  if (status < 500) return "4";
  return "8";
}
