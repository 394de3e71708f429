// The FHIR resources built from a pipeline result (docs/fhir.md): patient linkage, dates, stable identities,
// finding values, the transaction Bundle's conditional creates, and the validation gate in front of publishing.
import type { Bundle, DiagnosticReport, Observation, Resource } from "@medplum/fhirtypes";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_PATIENT_LINKAGE, PatientLinkageError, patientReference } from "../src/fhir/patientReference.js";
import { profileFor, validateProfiled } from "../src/fhir/profileValidation.js";
import { assertValid, InvalidResourceError } from "../src/fhir/publishReport.js";
import { buildReportResources, studyDateTime, type FhirOutputSettings } from "../src/fhir/reportResources.js";
import { transactionBundle } from "../src/fhir/transactionBundle.js";
import { makePipelineResult } from "./fixtures/pipelineResult.js";

const SETTINGS: FhirOutputSettings = { patientLinkage: DEFAULT_PATIENT_LINKAGE, organizationName: "Radiology" };
const STUDY = { studyInstanceUID: "1.2.826.0.1.3680043.10.1234.1", patientId: "MRN-7", issuerOfPatientId: "1.2.3.4", studyDate: "20261130", studyTime: "0815", timezoneOffset: "+0100" };
const ISSUED = new Date("2026-12-01T09:00:00Z");

describe("patient linkage", () => {
  it("references the patient by identifier, the issuer mapped to its system", () => {
    const linkage = { rule: "identifier" as const, issuerSystems: { HOSP: "https://hospital.example/mrn" } };
    expect(patientReference({ patientId: "A1", issuerOfPatientId: "HOSP" }, linkage)).toEqual({
      type: "Patient",
      identifier: { system: "https://hospital.example/mrn", value: "A1" },
    });
  });

  it("makes an OID issuer a urn:oid system, and keeps any other unmapped issuer as the assigner", () => {
    expect(patientReference({ patientId: "A1", issuerOfPatientId: "1.2.3.4" }, DEFAULT_PATIENT_LINKAGE).identifier).toEqual({ system: "urn:oid:1.2.3.4", value: "A1" });
    expect(patientReference({ patientId: "A1", issuerOfPatientId: "CLINIC" }, DEFAULT_PATIENT_LINKAGE).identifier).toEqual({ value: "A1", assigner: { display: "CLINIC" } });
  });

  it("maps studies without an issuer by the empty key", () => {
    const linkage = { rule: "identifier" as const, issuerSystems: { "": "https://hospital.example/mrn" } };
    expect(patientReference({ patientId: "A1" }, linkage).identifier?.system).toBe("https://hospital.example/mrn");
  });

  it("gives a literal Patient reference under the literal rule, and refuses an id FHIR cannot hold", () => {
    const literal = { rule: "literal" as const, issuerSystems: {} };
    expect(patientReference({ patientId: "A-1.2" }, literal)).toEqual({ reference: "Patient/A-1.2", type: "Patient" });
    expect(() => patientReference({ patientId: "A 1/2" }, literal)).toThrow(PatientLinkageError);
  });

  it("names an unknown patient when the study has no Patient ID", () => {
    expect(patientReference({ patientId: "  " }, DEFAULT_PATIENT_LINKAGE)).toEqual({ type: "Patient", display: "unknown patient" });
  });
});

describe("study date and time", () => {
  it("gives a dateTime with its zone when the study has a Timezone Offset From UTC", () => {
    expect(studyDateTime({ studyDate: "20261130", studyTime: "081530.25", timezoneOffset: "-0500" })).toBe("2026-11-30T08:15:30-05:00");
    expect(studyDateTime({ studyDate: "20261130", studyTime: "0815", timezoneOffset: "+0100" })).toBe("2026-11-30T08:15:00+01:00");
  });

  it("gives the date alone without a zone, and nothing for a malformed date", () => {
    expect(studyDateTime({ studyDate: "20261130", studyTime: "081530" })).toBe("2026-11-30");
    expect(studyDateTime({ studyDate: "2026-11-30" })).toBeUndefined();
  });

  it("falls back to the issue time when the study has no date", () => {
    const { report } = buildReportResources(makePipelineResult(), { studyInstanceUID: STUDY.studyInstanceUID }, SETTINGS, ISSUED);
    expect(report.effectiveDateTime).toBe(ISSUED.toISOString());
  });
});

describe("the resources of a report", () => {
  const result = makePipelineResult(["Cardiomegaly", "Pleural Effusion"]);

  it("are the same resources, with the same ids, every time they are built", () => {
    const first = buildReportResources(result, STUDY, SETTINGS, ISSUED);
    const again = buildReportResources(result, STUDY, SETTINGS, new Date());
    expect(again.report.id).toBe(first.report.id);
    expect(again.observations.map((o) => o.id)).toEqual(first.observations.map((o) => o.id));
    expect(new Set(first.observations.map((o) => o.id)).size).toBe(first.observations.length);
    const otherVersion = buildReportResources({ ...result, model: { ...result.model, version: "2.0.0" } }, STUDY, SETTINGS, ISSUED);
    expect(otherVersion.report.id).not.toBe(first.report.id);
  });

  it("validate against their profiles", () => {
    const resources = buildReportResources(result, STUDY, SETTINGS, ISSUED);
    expect(() => assertValid(resources)).not.toThrow();
  });

  it("say what the text says, and what perception found where the text is silent", () => {
    const silent = makePipelineResult(["Edema"]);
    for (const f of silent.findings) f.textStatus = null;
    const { observations } = buildReportResources(silent, STUDY, SETTINGS, ISSUED);
    const value = (name: string) => observations.find((o) => o.code.text === name)!.valueCodeableConcept!.coding![0]!.code;
    expect(value("Edema")).toBe("present");
    expect(value("Cardiomegaly")).toBe("absent");
  });

  it("carry the probability, the threshold, laterality and a needs-review flag", () => {
    const flagged = makePipelineResult(["Pleural Effusion"]);
    const effusion = flagged.findings.find((f) => f.name === "Pleural Effusion")!;
    Object.assign(effusion, { laterality: "left", needsReview: true, probability: 0.8125 });
    const observation = buildReportResources(flagged, STUDY, SETTINGS, ISSUED).observations.find((o) => o.code.text === "Pleural Effusion")!;
    expect(observation.component!.map((c) => [c.code.coding![0]!.code, c.valueQuantity!.value])).toEqual([
      ["probability", 0.8125],
      ["decision-threshold", effusion.threshold],
    ]);
    expect(observation.bodySite!.coding![0]).toMatchObject({ system: "http://snomed.info/sct", code: "7771000" });
    expect(observation.interpretation![0]!.coding![0]!.code).toBe("needs-review");
    expect(validateProfiled(observation, profileFor("Observation")!)).toEqual([]);
  });

  it("are not published when one fails its profile, with every reason", () => {
    const resources = buildReportResources(result, STUDY, SETTINGS, ISSUED);
    const broken = { ...resources, report: { ...resources.report, status: undefined } as unknown as DiagnosticReport };
    expect(() => assertValid(broken)).toThrow(InvalidResourceError);
    expect(() => assertValid(broken)).toThrow(/DiagnosticReport.*status/);
  });
});

describe("the transaction Bundle", () => {
  const resources = buildReportResources(makePipelineResult(), STUDY, SETTINGS, ISSUED);
  const bundle = transactionBundle(resources);

  it("creates every resource conditionally on its identity", () => {
    const conditions = bundle.entry!.map((e) => [e.resource!.resourceType, decodeURIComponent(e.request!.ifNoneExist!)]);
    expect(conditions[0]).toEqual(["Device", `identifier=https://trrg-gateway.org/fhir/sid/model-manifest-sha256|${"0".repeat(64)}`]);
    expect(conditions).toContainEqual(["DiagnosticReport", `identifier=urn:ietf:rfc:3986|urn:uuid:${resources.report.id}`]);
    expect(conditions.at(-1)).toEqual(["Provenance", `_tag=https://trrg-gateway.org/fhir/CodeSystem/trrg-report-tag|urn:uuid:${resources.report.id}`]);
    for (const entry of bundle.entry!) expect(entry.request).toMatchObject({ method: "POST", url: entry.resource!.resourceType });
  });

  it("refers between its entries by their urn:uuid full URLs, and leaves references outside it alone", () => {
    const fullUrls = new Set(bundle.entry!.map((e) => e.fullUrl));
    const report = bundle.entry!.find((e) => e.resource!.resourceType === "DiagnosticReport")!.resource as DiagnosticReport;
    for (const r of report.result!) expect(fullUrls.has(r.reference)).toBe(true);
    const observation = bundle.entry![1]!.resource as Observation;
    expect(fullUrls.has(observation.device!.reference)).toBe(true);
    expect(report.imagingStudy![0]!.identifier!.value).toBe(`urn:oid:${STUDY.studyInstanceUID}`);
    for (const entry of bundle.entry!) expect(entry.resource!.id).toBeUndefined();
  });
});

describe("the example Bundle in fhir-profiles/examples", () => {
  it("is a transaction whose every resource validates against its profile", () => {
    const example = JSON.parse(readFileSync("fhir-profiles/examples/chest-xray-report-transaction-bundle.json", "utf8")) as Bundle;
    expect(example.type).toBe("transaction");
    for (const entry of example.entry ?? []) {
      const resource = entry.resource as Resource;
      expect(issuesInBundle(resource), resource.resourceType).toEqual([]);
    }
  });
});

/** Issues of a resource inside a transaction Bundle: a urn:uuid reference cannot be type-checked (a warning). */
function issuesInBundle(resource: Resource) {
  return validateProfiled(resource, profileFor(resource.resourceType)!).filter((i) => !(i.severity === "warning" && /got "urn:uuid:/.test(i.diagnostics ?? "")));
}
