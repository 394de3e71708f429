// DiagnosticReport.subject from the DICOM patient identity, by the site's rule (docs/fhir.md "Patient linkage").
import type { Patient, Reference } from "@medplum/fhirtypes";

export interface PatientLinkage {
  /** "identifier": a logical reference by identifier (default); "literal": Patient/<Patient ID>. */
  rule: "identifier" | "literal";
  /** Issuer of Patient ID (0010,0021) → identifier system URI; "" is the key for studies without an issuer. */
  issuerSystems: Readonly<Record<string, string>>;
}

export const DEFAULT_PATIENT_LINKAGE: PatientLinkage = { rule: "identifier", issuerSystems: {} };

const OID = /^[0-2](\.(0|[1-9]\d*))+$/;
// FHIR R4 id: 1-64 of [A-Za-z0-9\-.].
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export class PatientLinkageError extends Error {
  override name = "PatientLinkageError";
}

export function patientReference(
  patient: { patientId?: string | undefined; issuerOfPatientId?: string | undefined },
  linkage: PatientLinkage,
): Reference<Patient> {
  const patientId = patient.patientId?.trim();
  if (!patientId) return { type: "Patient", display: "unknown patient" };
  if (linkage.rule === "literal") {
    if (!FHIR_ID.test(patientId)) {
      throw new PatientLinkageError("the Patient ID is not a valid FHIR id, so it cannot be a literal Patient reference");
    }
    return { reference: `Patient/${patientId}`, type: "Patient" };
  }
  const issuer = patient.issuerOfPatientId?.trim() ?? "";
  const system = linkage.issuerSystems[issuer] ?? (OID.test(issuer) ? `urn:oid:${issuer}` : undefined);
  return {
    type: "Patient",
    identifier: {
      ...(system ? { system } : {}),
      value: patientId,
      ...(system === undefined && issuer ? { assigner: { display: issuer } } : {}),
    },
  };
}
