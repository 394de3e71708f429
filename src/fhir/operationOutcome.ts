// FHIR R4 OperationOutcome: how every /fhir route reports an error (R4 http.html "Handling Errors").
import type { Response } from "express";

/** FHIR R4 issue-severity. */
export type IssueSeverity = "fatal" | "error" | "warning" | "information";

/** FHIR R4 issue-type (the codes this service uses and their siblings). */
export type IssueType =
  | "invalid"
  | "structure"
  | "required"
  | "value"
  | "invariant"
  | "security"
  | "login"
  | "unknown"
  | "expired"
  | "forbidden"
  | "suppressed"
  | "processing"
  | "not-supported"
  | "duplicate"
  | "multiple-matches"
  | "not-found"
  | "deleted"
  | "too-long"
  | "code-invalid"
  | "extension"
  | "too-costly"
  | "business-rule"
  | "conflict"
  | "transient"
  | "lock-error"
  | "no-store"
  | "exception"
  | "timeout"
  | "incomplete"
  | "throttled"
  | "informational";

export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueType;
  diagnostics?: string;
  /** FHIRPath of the elements the issue is about. */
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: "OperationOutcome";
  issue: OperationOutcomeIssue[];
}

export const FHIR_JSON = "application/fhir+json";

export function operationOutcome(severity: IssueSeverity, code: IssueType, diagnostics?: string): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    issue: [{ severity, code, ...(diagnostics !== undefined ? { diagnostics } : {}) }],
  };
}

/** Answers with one error issue. Diagnostics go to the client: keep patient data out of them. */
export function sendOperationOutcome(res: Response, status: number, code: IssueType, diagnostics?: string): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(operationOutcome("error", code, diagnostics)));
}
