// The FHIR R4 resources of one report (docs/fhir.md): a DiagnosticReport, an Observation per finding, the model
// Device and a Provenance, built from the pipeline result and the study's own attributes. References between
// them are literal (`Observation/<id>`); transactionBundle.ts turns them into the bundle's urn:uuid full URLs.
import type {
  CodeableConcept,
  Coding,
  Device,
  DiagnosticReport,
  Identifier,
  ImagingStudy,
  Observation,
  Patient,
  Provenance,
  Reference,
} from "@medplum/fhirtypes";
import { codingsFor } from "../findings/codes.js";
import type { ObservationName } from "../findings/observations.js";
import { reportText, type FindingResult, type PipelineResult } from "../pipeline/reportStudy.js";
import { CODE_SYSTEMS, IDENTIFIER_SYSTEMS, PROFILES, findingCode } from "./canonical.js";
import { nameBasedUuid } from "./identifiers.js";
import { patientReference, type PatientLinkage } from "./patientReference.js";

/** The study attributes a report needs, from the index or the DICOM header. */
export interface ReportedStudy {
  studyInstanceUID: string;
  /** (0010,0020) and (0010,0021). */
  patientId?: string | undefined;
  issuerOfPatientId?: string | undefined;
  /** (0008,0020) DA and (0008,0030) TM, as stored. */
  studyDate?: string | undefined;
  studyTime?: string | undefined;
  /** (0008,0201) Timezone Offset From UTC, e.g. "+0100". */
  timezoneOffset?: string | undefined;
}

export interface FhirOutputSettings {
  patientLinkage: PatientLinkage;
  /** The organisation that runs the service: DiagnosticReport.performer (a display-only reference). */
  organizationName: string;
}

export interface ReportResources {
  report: DiagnosticReport;
  observations: Observation[];
  device: Device;
  provenance: Provenance;
}

const AI_ASSERTED: Coding = { system: CODE_SYSTEMS.observationValue, code: "AIAST", display: "Artificial Intelligence asserted" };
const RADIOLOGY: CodeableConcept = { coding: [{ system: CODE_SYSTEMS.loinc, code: "LP29684-5", display: "Radiology" }] };
const IMAGING: CodeableConcept = { coding: [{ system: CODE_SYSTEMS.observationCategory, code: "imaging", display: "Imaging" }] };
// The model reads one frontal image (LOINC 36554-4, as the IHE Imaging Diagnostic Report examples code it).
const CHEST_XRAY_SINGLE_VIEW: CodeableConcept = {
  coding: [{ system: CODE_SYSTEMS.loinc, code: "36554-4", display: "XR Chest Single view" }],
  text: "Chest X-ray (AI preliminary report)",
};
const LATERALITY: Record<NonNullable<FindingResult["laterality"]>, Coding> = {
  right: { system: CODE_SYSTEMS.snomed, code: "24028007", display: "Right" },
  left: { system: CODE_SYSTEMS.snomed, code: "7771000", display: "Left" },
  bilateral: { system: CODE_SYSTEMS.snomed, code: "51440002", display: "Right and left" },
};

/** The report's identity: one report per study and model version (DESIGN §1). */
export function reportUuid(studyInstanceUID: string, model: Pick<PipelineResult["model"], "name" | "version">): string {
  return nameBasedUuid(`report|${studyInstanceUID}|${model.name}|${model.version}`);
}

export function buildReportResources(
  result: PipelineResult,
  study: ReportedStudy,
  settings: FhirOutputSettings,
  issued: Date,
): ReportResources {
  const id = reportUuid(study.studyInstanceUID, result.model);
  const context: BuildContext = {
    reportId: id,
    subject: patientReference(study, settings.patientLinkage),
    studyReference: imagingStudyReference(study.studyInstanceUID),
    effective: studyDateTime(study) ?? issued.toISOString(),
    issued: issued.toISOString(),
    deviceId: nameBasedUuid(`device|${result.model.manifestSha256}`),
  };
  const observations = result.findings.map((f) => findingObservation(f, context));
  return {
    report: diagnosticReport(result, context, observations, settings),
    observations,
    device: modelDevice(result.model, context.deviceId),
    provenance: provenance(context, observations),
  };
}

interface BuildContext {
  reportId: string;
  subject: Reference<Patient>;
  studyReference: Reference<ImagingStudy>;
  effective: string;
  issued: string;
  deviceId: string;
}

function uuidIdentifier(uuid: string): Identifier {
  return { system: IDENTIFIER_SYSTEMS.uri, value: `urn:uuid:${uuid}` };
}

/** A logical reference to the study by its Study Instance UID (FHIR ImagingStudy.identifier convention). */
export function imagingStudyReference(studyInstanceUID: string): Reference<ImagingStudy> {
  return { type: "ImagingStudy", identifier: { system: IDENTIFIER_SYSTEMS.dicomUid, value: `urn:oid:${studyInstanceUID}` } };
}

/**
 * The study date and time as a FHIR dateTime. A time needs a zone in FHIR, so with no Timezone Offset From UTC
 * the date alone is given.
 */
export function studyDateTime(study: Pick<ReportedStudy, "studyDate" | "studyTime" | "timezoneOffset">): string | undefined {
  const date = /^(\d{4})(\d{2})(\d{2})$/.exec(study.studyDate?.trim() ?? "");
  if (!date) return undefined;
  const day = `${date[1]}-${date[2]}-${date[3]}`;
  const time = /^(\d{2})(\d{2})?(\d{2})?/.exec(study.studyTime?.trim() ?? "");
  const zone = /^([+-])(\d{2})(\d{2})$/.exec(study.timezoneOffset?.trim() ?? "");
  if (!time || !zone) return day;
  return `${day}T${time[1]}:${time[2] ?? "00"}:${time[3] ?? "00"}${zone[1]}${zone[2]}:${zone[3]}`;
}

function diagnosticReport(
  result: PipelineResult,
  context: BuildContext,
  observations: readonly Observation[],
  settings: FhirOutputSettings,
): DiagnosticReport {
  const text = reportText(result.report);
  return {
    resourceType: "DiagnosticReport",
    id: context.reportId,
    meta: { profile: [PROFILES.report], security: [AI_ASSERTED] },
    identifier: [uuidIdentifier(context.reportId)],
    // Preliminary until a person signs: the model never finalises a report.
    status: "preliminary",
    category: [RADIOLOGY],
    code: CHEST_XRAY_SINGLE_VIEW,
    subject: context.subject,
    effectiveDateTime: context.effective,
    issued: context.issued,
    performer: [{ type: "Organization", display: settings.organizationName }],
    imagingStudy: [context.studyReference],
    result: observations.map((o) => ({ reference: `Observation/${o.id}`, display: o.code.text })),
    conclusion: result.report.impression.trim() || result.report.findings.trim() || "No report text was generated.",
    presentedForm: [
      {
        contentType: "text/plain;charset=utf-8",
        language: "en",
        data: Buffer.from(text, "utf8").toString("base64"),
        title: "Preliminary chest X-ray report generated by AI",
      },
    ],
  };
}

function findingObservation(finding: FindingResult, context: BuildContext): Observation {
  const id = nameBasedUuid(`observation|${context.reportId}|${finding.name}`);
  const presence = finding.textStatus ?? (finding.clue ? "present" : "absent");
  return {
    resourceType: "Observation",
    id,
    meta: { profile: [PROFILES.finding], security: [AI_ASSERTED] },
    identifier: [uuidIdentifier(id)],
    status: "preliminary",
    category: [IMAGING],
    code: findingConcept(finding.name),
    subject: context.subject,
    effectiveDateTime: context.effective,
    issued: context.issued,
    valueCodeableConcept: { coding: [{ system: CODE_SYSTEMS.presence, code: presence, display: presence }] },
    ...(finding.needsReview
      ? {
          interpretation: [
            {
              coding: [{ system: CODE_SYSTEMS.modelOutput, code: "needs-review", display: "Needs review" }],
              text: "The report text contradicts the model's perception of this finding",
            },
          ],
        }
      : {}),
    ...(finding.laterality ? { bodySite: { coding: [LATERALITY[finding.laterality]], text: finding.laterality } } : {}),
    derivedFrom: [context.studyReference],
    device: { reference: `Device/${context.deviceId}` },
    component: [
      modelOutputComponent("probability", "Model probability", finding.probability),
      modelOutputComponent("decision-threshold", "Decision threshold", finding.threshold),
    ],
  };
}

export function findingConcept(name: ObservationName): CodeableConcept {
  return {
    coding: [{ system: CODE_SYSTEMS.finding, code: findingCode(name), display: name }, ...codingsFor(name)],
    text: name,
  };
}

function modelOutputComponent(code: string, display: string, value: number): NonNullable<Observation["component"]>[number] {
  return {
    code: { coding: [{ system: CODE_SYSTEMS.modelOutput, code, display }] },
    valueQuantity: { value: Math.round(value * 1e6) / 1e6, unit: "1", system: CODE_SYSTEMS.ucum, code: "1" },
  };
}

function modelDevice(model: PipelineResult["model"], id: string): Device {
  return {
    resourceType: "Device",
    id,
    meta: { profile: [PROFILES.device] },
    identifier: [{ system: IDENTIFIER_SYSTEMS.manifest, value: model.manifestSha256 }],
    status: "active",
    deviceName: [{ name: model.name, type: "model-name" }],
    type: { text: "AI report generation model" },
    version: [{ value: model.version }],
  };
}

function provenance(context: BuildContext, observations: readonly Observation[]): Provenance {
  return {
    resourceType: "Provenance",
    id: nameBasedUuid(`provenance|${context.reportId}`),
    // R4 Provenance has no identifier: delivery's conditional create matches this tag.
    meta: { profile: [PROFILES.provenance], tag: [{ system: CODE_SYSTEMS.reportTag, code: `urn:uuid:${context.reportId}` }] },
    target: [
      { reference: `DiagnosticReport/${context.reportId}` },
      ...observations.map((o) => ({ reference: `Observation/${o.id}` })),
    ],
    recorded: context.issued,
    activity: { coding: [{ system: CODE_SYSTEMS.dataOperation, code: "CREATE", display: "create" }] },
    agent: [
      {
        type: { coding: [{ system: CODE_SYSTEMS.provenanceParticipantType, code: "author", display: "Author" }] },
        who: { reference: `Device/${context.deviceId}` },
      },
    ],
    entity: [{ role: "source", what: context.studyReference }],
  };
}
