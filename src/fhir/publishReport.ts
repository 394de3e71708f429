// Publishing a finished report: its FHIR resources are built, each is validated against its profile (a resource
// that fails is never published: the job fails with the reasons), and all are saved in one transaction, so the
// FHIR API shows a whole report or none of it. When a target FHIR server is configured, the same transaction adds
// the report's delivery to the outbox (deliveryOutbox.ts), so that no report is saved without its delivery.
import type { Resource } from "@medplum/fhirtypes";
import { stringValue, type DicomJsonDataset } from "../dicom/dicomJson.js";
import type { PipelineResult } from "../pipeline/reportStudy.js";
import type { Database } from "../store/database.js";
import type { FhirConfig } from "../config.js";
import { profileFor, validateProfiled } from "./profileValidation.js";
import { buildReportResources, type ReportResources, type ReportedStudy } from "./reportResources.js";
import { enqueueDelivery } from "./deliveryOutbox.js";
import { saveResourcesIn } from "./resourceStore.js";
import { transactionBundle } from "./transactionBundle.js";

export class InvalidResourceError extends Error {
  override name = "InvalidResourceError";
}

/** The resources in the order a transaction creates them: what is referenced before what refers to it. */
export function resourcesOf(resources: ReportResources): Resource[] {
  return [resources.device, ...resources.observations, resources.report, resources.provenance];
}

/** Throws InvalidResourceError listing every error issue of every resource. */
export function assertValid(resources: ReportResources): void {
  const problems = resourcesOf(resources).flatMap((resource) => {
    const profile = profileFor(resource.resourceType);
    if (!profile) return [`${resource.resourceType}: no profile`];
    return validateProfiled(resource, profile)
      .filter((issue) => issue.severity === "error" || issue.severity === "fatal")
      .map((issue) => `${resource.resourceType}${issue.expression?.[0] ? ` ${issue.expression[0]}` : ""}: ${issue.diagnostics ?? issue.code}`);
  });
  if (problems.length > 0) throw new InvalidResourceError(`the report's FHIR resources do not validate: ${problems.join("; ")}`);
}

const TIMEZONE_OFFSET_FROM_UTC = "00080201";

/** The study attributes of the index, and the Timezone Offset From UTC of its first instance. */
export async function reportedStudy(db: Database, studyInstanceUID: string): Promise<ReportedStudy> {
  const study = await db
    .selectFrom("studies")
    .select(["patient_id", "issuer_of_patient_id", "study_date", "study_time"])
    .where("study_instance_uid", "=", studyInstanceUID)
    .executeTakeFirst();
  const instance = await db
    .selectFrom("instances")
    .select("metadata")
    .where("study_instance_uid", "=", studyInstanceUID)
    .orderBy("received_at")
    .limit(1)
    .executeTakeFirst();
  const metadata = instance ? (JSON.parse(instance.metadata) as DicomJsonDataset) : {};
  return {
    studyInstanceUID,
    patientId: study?.patient_id ?? undefined,
    issuerOfPatientId: study?.issuer_of_patient_id ?? undefined,
    studyDate: study?.study_date ?? undefined,
    studyTime: study?.study_time ?? undefined,
    timezoneOffset: stringValue(metadata, TIMEZONE_OFFSET_FROM_UTC),
  };
}

/**
 * Builds, validates and saves the report's resources; returns them as built. With a delivery target configured,
 * a report of which anything was new or changed is enqueued for delivery in the same transaction.
 */
export async function publishReport(
  db: Database,
  settings: FhirConfig,
  result: PipelineResult,
  study: ReportedStudy,
  issued = new Date(),
): Promise<ReportResources> {
  const resources = buildReportResources(result, study, settings, issued);
  assertValid(resources);
  await db.transaction().execute(async (trx) => {
    const saved = await saveResourcesIn(trx, resourcesOf(resources));
    if (!settings.delivery || !saved.some((s) => s.changed)) return;
    const report = saved.find((s) => s.resource.resourceType === "DiagnosticReport")!.resource;
    await enqueueDelivery(trx, {
      reportId: resources.report.id!,
      reportVersion: Number(report.meta?.versionId),
      studyInstanceUID: study.studyInstanceUID,
      // The resources as built: meta.versionId and lastUpdated are this store's, not the target's.
      bundle: transactionBundle(resources),
    });
  });
  return resources;
}
