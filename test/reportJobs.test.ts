// Phantom studies sent over STOW-RS become report jobs that the TRRG pipeline finishes, on studies the model never
// saw; a study the pipeline cannot read fails its job with the reason and leaves the service healthy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../src/jobs/jobQueue.js";
import { startJobRunner, type JobRunner } from "../src/jobs/jobRunner.js";
import { makePhantomStudy } from "../src/phantom/study.js";
import { closeReportModel, openReportModel, studyJobHandler, type ReportModel } from "../src/pipeline/studyJob.js";
import type { PipelineResult } from "../src/pipeline/reportStudy.js";
import { readFile } from "node:fs/promises";
import { parseHeader } from "../src/dicom/part10.js";
import { stringValue } from "../src/dicom/dicomJson.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

const FIRST_TEST_SEED = 2_000_301;
const RENDER = { rows: 512, columns: 512, pixelSpacingMm: 0.7 };
/** The model card gives micro F1 0.87 on 600 test studies; a dozen studies vary, so the bar is set below it. */
const MIN_MICRO_F1 = 0.65;

let t: TestApp;
let reportModel: ReportModel;
let runner: JobRunner;

beforeAll(async () => {
  // Two image workers: the service's decode and preprocess off the main thread, as a busy site would run it.
  // Three jobs at once: their reports are generated in shared decoder batches (TRRG_GENERATION_BATCH defaults to 4).
  t = await startTestApp({ TRRG_JOB_QUIET_PERIOD: "100ms", TRRG_IMAGE_WORKERS: "2", TRRG_JOB_CONCURRENCY: "3" });
  reportModel = await openReportModel(t.services.config, t.services.logger);
  runner = startJobRunner(t.services, studyJobHandler(t.services, reportModel), { pollIntervalMs: 20 });
});
afterAll(async () => {
  await runner.stop(5000);
  await closeReportModel(reportModel);
  await t.close();
});

async function finishedJob(studyInstanceUID: string, timeoutMs = 20_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [job] = await t.services.jobs.listByStudy(studyInstanceUID);
    if (job && (job.state === "succeeded" || job.state === "failed")) return job;
    if (Date.now() > deadline) throw new Error(`job of study not finished in time (state ${job?.state ?? "none"})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("report jobs from STOW-RS", () => {
  it("reports every stored phantom study once, its findings matching the ground truth", async () => {
    const studies = Array.from({ length: 12 }, (_, i) => makePhantomStudy(FIRST_TEST_SEED + i, RENDER));
    for (const study of studies) {
      expect((await storeInstances(t, study.images.map((i) => i.part10))).status).toBe(200);
    }
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const study of studies) {
      const job = await finishedJob(study.studyInstanceUID);
      expect(job).toMatchObject({ state: "succeeded", attempts: 1, lastError: null });
      expect(await t.services.jobs.listByStudy(study.studyInstanceUID)).toHaveLength(1);
      const result = job.result as PipelineResult;
      expect(result.image.sopInstanceUID).toBe(study.images[0]!.sopInstanceUID);
      // The job published the report: one preliminary DiagnosticReport for the study, with a finding per clue.
      const reports = (await t.api.get(`/fhir/DiagnosticReport?study-instance-uid=${study.studyInstanceUID}&_include=DiagnosticReport:result`)).body;
      expect(reports.total).toBe(1);
      expect(reports.entry[0].resource).toMatchObject({ status: "preliminary", conclusion: result.report.impression.trim() || expect.any(String) });
      expect(reports.entry.filter((e: { search: { mode: string } }) => e.search.mode === "include")).toHaveLength(result.findings.length);
      const drawn = new Set<string>(study.case.findings.map((f) => f.observation));
      for (const f of result.findings) {
        const said = f.textStatus === "present";
        if (said && drawn.has(f.name)) tp++;
        else if (said) fp++;
        else if (drawn.has(f.name)) fn++;
      }
    }
    expect((2 * tp) / (2 * tp + fp + fn)).toBeGreaterThanOrEqual(MIN_MICRO_F1);
  });

  it("fails a study without a frontal image at once, with the reason, and the service stays healthy", async () => {
    const study = [...Array(30).keys()].map((i) => makePhantomStudy(FIRST_TEST_SEED + 100 + i, RENDER)).find((s) => s.images.length === 2)!;
    expect((await storeInstances(t, [study.images[1]!.part10])).status).toBe(200);
    const job = await finishedJob(study.studyInstanceUID);
    expect(job).toMatchObject({ state: "failed", attempts: 1 });
    expect(job.lastError).toMatch(/no frontal chest image/);
    expect((await t.api.get("/healthz")).status).toBe(200);
  });

  it("fails a study whose image does not decode, with the reason, without retrying", async () => {
    const original = await readFile("test/fixtures/generated/jpeg-baseline.dcm");
    // Overwrite the middle of the JPEG entropy-coded data: the header still parses, the pixels do not.
    const damaged = Buffer.from(original);
    damaged.fill(0xff, damaged.length - 600, damaged.length - 300);
    const studyInstanceUID = stringValue(parseHeader(original, true)!.dataset, "0020000D")!;
    expect((await storeInstances(t, [damaged])).status).toBe(200);
    const job = await finishedJob(studyInstanceUID);
    expect(job).toMatchObject({ state: "failed", attempts: 1 });
    expect(job.lastError).toMatch(/JPEG|corrupt|decode/i);
    expect((await t.api.get("/healthz")).status).toBe(200);
  });
});
