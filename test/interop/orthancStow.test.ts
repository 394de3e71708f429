// Interoperability with a real PACS: Debian's Orthanc, holding phantom chest X-rays, sends them to us with its own
// DICOMweb client (STOW-RS, PS3.18 §10.5) and a bearer token from our embedded authorization server; every study
// is stored here and reported by the real TRRG pipeline. A token without system/ImagingStudy.c stores nothing.
import type { DiagnosticReport } from "@medplum/fhirtypes";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job } from "../../src/jobs/jobQueue.js";
import { makePhantomStudy, type PhantomStudy } from "../../src/phantom/study.js";
import { type RunningServer } from "../../src/server.js";
import { ensureOrthanc, orthancStowTo, startOrthanc, uploadToOrthanc, type RunningOrthanc } from "../support/orthanc.js";
import { TEST_CLIENTS } from "../support/testApp.js";
import { startReportingServer, type ReportingServer } from "../support/reportingServer.js";
import { until } from "../support/until.js";

const STUDIES = 3;
const FIRST_SEED = 2_000_901;
const RENDER = { rows: 512, columns: 512, pixelSpacingMm: 0.7 };
/** The first run installs Orthanc from Debian. */
const SETUP_TIMEOUT_MS = 600_000;
const TAG = { SOPInstanceUID: "00080018" };

let dataDir: string;
let ours: ReportingServer;
let server: RunningServer;
let orthanc: RunningOrthanc;
/** Our system client's token, to look at what we stored. */
let systemToken: string;

beforeAll(async () => {
  await ensureOrthanc();
  dataDir = await mkdtemp(path.join(tmpdir(), "trrg-interop-"));
  ours = await startReportingServer(dataDir, { TRRG_JOB_QUIET_PERIOD: "100ms" }, [TEST_CLIENTS.system, TEST_CLIENTS.noImaging]);
  server = ours.server;
  systemToken = await ours.token();
  // Orthanc reads its peers once, at start: both tokens are issued now (they live 300 s, longer than this file).
  const storeToken = await ours.token(TEST_CLIENTS.system, "system/ImagingStudy.c");
  const unscopedToken = await ours.token(TEST_CLIENTS.noImaging);
  orthanc = await startOrthanc({
    peers: {
      trrg: { url: `${server.url}/dicomweb`, httpHeaders: { Authorization: `Bearer ${storeToken}` } },
      "trrg-unscoped": { url: `${server.url}/dicomweb`, httpHeaders: { Authorization: `Bearer ${unscopedToken}` } },
    },
  });
}, SETUP_TIMEOUT_MS);
afterAll(async () => {
  await orthanc?.stop();
  await ours?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Uploads a study's instances to Orthanc; returns Orthanc's ID of the study. */
async function uploadStudy(study: PhantomStudy): Promise<string> {
  const uploaded = await Promise.all(study.images.map((image) => uploadToOrthanc(orthanc, image.part10)));
  expect(new Set(uploaded.map((instance) => instance.ParentStudy)).size).toBe(1);
  return uploaded[0]!.ParentStudy;
}

/** SOP Instance UIDs we hold for a study, from our QIDO-RS. */
async function storedInstances(studyInstanceUID: string): Promise<string[]> {
  const res = await request(server.url).get(`/dicomweb/studies/${studyInstanceUID}/instances`).set("Authorization", `Bearer ${systemToken}`);
  expect([200, 204]).toContain(res.status);
  const matches = (res.status === 200 ? JSON.parse(res.text) : []) as Record<string, { Value: string[] }>[];
  return matches.map((match) => match[TAG.SOPInstanceUID]!.Value[0]!).sort();
}

async function finishedJob(studyInstanceUID: string): Promise<Job> {
  return until(async () => {
    const [job] = await server.services.jobs.listByStudy(studyInstanceUID);
    return job && (job.state === "succeeded" || job.state === "failed") ? job : undefined;
  }, 120_000, 100);
}

describe("Orthanc sending studies to us over STOW-RS", () => {
  it("stores every study it sends, and each becomes a report job that ends in a preliminary DiagnosticReport", async () => {
    const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(FIRST_SEED + i, RENDER));
    const orthancIds = [];
    for (const study of studies) orthancIds.push(await uploadStudy(study));

    const sent = await orthancStowTo(orthanc, "trrg", orthancIds);
    expect(sent.status, await orthanc.logTail()).toBe(200);

    for (const study of studies) {
      expect(await storedInstances(study.studyInstanceUID)).toEqual(study.images.map((image) => image.sopInstanceUID).sort());
      const job = await finishedJob(study.studyInstanceUID);
      expect(job).toMatchObject({ state: "succeeded", attempts: 1, lastError: null });
      const reports = await request(server.url)
        .get(`/fhir/DiagnosticReport?study-instance-uid=${study.studyInstanceUID}`)
        .set("Authorization", `Bearer ${systemToken}`);
      expect(reports.body.total).toBe(1);
      expect(reports.body.entry[0].resource as DiagnosticReport).toMatchObject({ resourceType: "DiagnosticReport", status: "preliminary" });
    }
  }, 300_000);

  it("is refused with a token lacking system/ImagingStudy.c: Orthanc's call fails and nothing is stored", async () => {
    const study = makePhantomStudy(FIRST_SEED + 100, RENDER);
    const orthancId = await uploadStudy(study);

    const sent = await orthancStowTo(orthanc, "trrg-unscoped", [orthancId]);
    expect(sent.status).not.toBe(200);
    // Refused for the scope (403), not for anything else in the request.
    expect(await orthanc.logTail()).toMatch(/received HTTP status 403/);

    expect(await storedInstances(study.studyInstanceUID)).toEqual([]);
    expect(await server.services.jobs.listByStudy(study.studyInstanceUID)).toEqual([]);
  }, 120_000);
});
