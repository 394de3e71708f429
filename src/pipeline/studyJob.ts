// A report job: the stored instances of one study through the TRRG pipeline, published as FHIR resources.
// Problems in the study itself (no frontal image, an image that cannot be decoded, a Patient ID the linkage rule
// cannot use) fail the job at once with the reason; anything else (a disk or database hiccup) is retried.
import path from "node:path";
import { Part10Error } from "../dicom/part10.js";
import { PixelDecodeError } from "../dicom/pixelData.js";
import { PatientLinkageError } from "../fhir/patientReference.js";
import { InvalidResourceError, publishReport, reportedStudy } from "../fhir/publishReport.js";
import { observePipelineTimings } from "../http/metrics.js";
import { loadModelSet } from "../inference/manifest.js";
import { closeModel, openModel, type LoadedModel } from "../inference/sessions.js";
import { loadTokenizer, type ReportTokenizer } from "../inference/tokenizer.js";
import type { Job } from "../jobs/jobQueue.js";
import { PermanentJobError, type JobHandler } from "../jobs/jobRunner.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { GreedyBatcher } from "./greedyBatcher.js";
import { ImagePool } from "./imagePool.js";
import { NoFrontalImageError, reportStudy, type PipelineResult } from "./reportStudy.js";
import { studyImageFromFile } from "./studyImages.js";

export interface ReportModel {
  model: LoadedModel;
  tokenizer: ReportTokenizer;
  /** Decodes and preprocesses off the main thread (TRRG_IMAGE_WORKERS > 0). */
  images?: ImagePool;
  /** Decodes the reports of concurrent jobs as one batch (TRRG_GENERATION_BATCH > 1). */
  greedyBatcher?: GreedyBatcher;
}

/** Loads the configured model set; throws ModelSetError (with the reason) on a set that does not check out. */
export async function openReportModel(config: Config, logger: Logger): Promise<ReportModel> {
  const set = await loadModelSet(config.model.directory);
  const model = await openModel(set, {
    executionProviders: config.model.executionProviders,
    intraOpThreads: config.model.intraOpThreads,
    logger,
  });
  const tokenizer = await loadTokenizer(set);
  return {
    model,
    tokenizer,
    ...(config.model.imageWorkers > 0 ? { images: new ImagePool(config.model.imageWorkers) } : {}),
    ...(config.model.generationBatch > 1
      ? { greedyBatcher: new GreedyBatcher(model, config.model.generationBatch) }
      : {}),
  };
}

export async function closeReportModel(reportModel: ReportModel): Promise<void> {
  await reportModel.images?.close();
  await closeModel(reportModel.model);
}

// InvalidResourceError is a defect of ours, not of the study, but a retry cannot mend it either.
const STUDY_PROBLEMS = [NoFrontalImageError, PixelDecodeError, Part10Error, InvalidResourceError, PatientLinkageError];

async function runStudyJob(services: Services, { model, tokenizer, images: pool, greedyBatcher }: ReportModel, job: Job, signal: AbortSignal): Promise<PipelineResult> {
  const { manifest } = model.set;
  if (job.model.name !== manifest.name || job.model.version !== manifest.version) {
    throw new PermanentJobError(`the job asks for model ${job.model.name} ${job.model.version}; this process runs ${manifest.name} ${manifest.version}`);
  }
  const rows = await services.db
    .selectFrom("instances")
    .select(["file_path"])
    .where("study_instance_uid", "=", job.studyInstanceUID)
    .orderBy("file_path")
    .execute();
  if (rows.length === 0) throw new PermanentJobError("the study has no stored instances");
  try {
    const images = await Promise.all(rows.map((r) => studyImageFromFile(path.join(services.files.root, r.file_path))));
    signal.throwIfAborted();
    const result = await reportStudy(model, tokenizer, images, {
      ...(pool ? { prepareImage: (part10, spec) => pool.prepare(part10, spec) } : {}),
      ...(greedyBatcher ? { greedyBatcher } : {}),
    });
    observePipelineTimings(services.metrics, result.timings);
    signal.throwIfAborted();
    await publishReport(services.db, services.config.fhir, result, await reportedStudy(services.db, job.studyInstanceUID));
    return result;
  } catch (error) {
    if (STUDY_PROBLEMS.some((kind) => error instanceof kind)) throw new PermanentJobError((error as Error).message);
    throw error;
  }
}

export function studyJobHandler(services: Services, reportModel: ReportModel): JobHandler {
  return (job, signal) => runStudyJob(services, reportModel, job, signal);
}
