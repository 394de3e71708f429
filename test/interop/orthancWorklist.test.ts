// Interoperability with a real PACS, the other way round: a study held only by Debian's Orthanc is pulled by our
// performer over Orthanc's own WADO-RS (its DICOMweb plugin at /dicom-web, no authentication in the harness), for a
// workitem a client created over our UPS-RS, reported by the real TRRG pipeline, and the workitem COMPLETED. Once
// with a WADO-RS Retrieve URL pointing into Orthanc, once with only the Study Instance UID and Orthanc the default
// peer. What we stored must be what Orthanc holds: the same instances, byte for byte.
import type { DiagnosticReport } from "@medplum/fhirtypes";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DicomJsonDataset } from "../../src/dicom/dicomJson.js";
import { TAG } from "../../src/dicomweb/upsWorkitem.js";
import { makePhantomStudy, type PhantomStudy } from "../../src/phantom/study.js";
import { type RunningServer } from "../../src/server.js";
import { ensureOrthanc, startOrthanc, uploadToOrthanc, type RunningOrthanc } from "../support/orthanc.js";
import { startReportingServer, type ReportingServer } from "../support/reportingServer.js";
import { until } from "../support/until.js";
import { inputStudy, scheduledWorkitem } from "../support/workitems.js";

const FIRST_SEED = 2_001_301;
const RENDER = { rows: 512, columns: 512, pixelSpacingMm: 0.7 };
/** The first run installs Orthanc from Debian. */
const SETUP_TIMEOUT_MS = 600_000;
const DICOM_JSON = "application/dicom+json";

let dir: string;
let orthanc: RunningOrthanc;
let service: ReportingServer;
let server: RunningServer;
let token: string;

const value = (dataset: DicomJsonDataset | undefined, tag: string) => dataset?.[tag]?.Value?.[0];
const items = (dataset: DicomJsonDataset | undefined, tag: string) => (dataset?.[tag]?.Value ?? []) as DicomJsonDataset[];
const ours = (url: string) => request(url).get("").set("Authorization", `Bearer ${token}`);

beforeAll(async () => {
  await ensureOrthanc();
  orthanc = await startOrthanc();
  dir = await mkdtemp(path.join(tmpdir(), "trrg-interop-ups-"));
  const peersFile = path.join(dir, "peers.json");
  await writeFile(peersFile, JSON.stringify([{ name: "orthanc", baseUrl: orthanc.dicomwebUrl, auth: { kind: "none" } }]));
  // Only the workitems make jobs due.
  service = await startReportingServer(dir, { TRRG_JOB_QUIET_PERIOD: "1h", TRRG_UPS_POLL_INTERVAL: "200ms", TRRG_DICOMWEB_PEERS_FILE: peersFile, TRRG_DICOMWEB_DEFAULT_PEER: "orthanc" });
  server = service.server;
  token = await service.token();
}, SETUP_TIMEOUT_MS);
afterAll(async () => {
  await service?.stop();
  await orthanc?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Uploads the study to Orthanc (its REST API); returns Orthanc's IDs of the instances. */
async function uploadStudy(study: PhantomStudy): Promise<string[]> {
  const uploaded = await Promise.all(study.images.map((image) => uploadToOrthanc(orthanc, image.part10)));
  return uploaded.map((instance) => instance.ID);
}

function workitem(studyInstanceUID: string, retrieveUrl?: string): DicomJsonDataset {
  return scheduledWorkitem({ [TAG.InputInformationSequence]: { vr: "SQ", Value: [inputStudy(studyInstanceUID, retrieveUrl)] } });
}

/** Creates the workitem over our UPS-RS and waits for its final state. */
async function perform(dataset: DicomJsonDataset): Promise<DicomJsonDataset> {
  const created = await request(server.url).post("/dicomweb/workitems").set("Authorization", `Bearer ${token}`).set("Content-Type", DICOM_JSON).send(JSON.stringify(dataset));
  expect(created.status).toBe(201);
  return until(async () => {
    const res = await ours(String(created.headers.location));
    const [current] = JSON.parse(res.text) as DicomJsonDataset[];
    return ["COMPLETED", "CANCELED"].includes(String(value(current, TAG.ProcedureStepState))) ? current : undefined;
  }, 60_000, 100);
}

/** The instances as Orthanc holds them: its QIDO-RS for the study's instances, its REST API for each file as stored. */
async function orthancInstances(studyInstanceUID: string, orthancIds: string[]): Promise<Map<string, Buffer>> {
  const qido = (await (await fetch(`${orthanc.dicomwebUrl}/studies/${studyInstanceUID}/instances`, { headers: { Accept: DICOM_JSON } })).json()) as DicomJsonDataset[];
  const held = new Map<string, Buffer>();
  for (const id of orthancIds) {
    const { MainDicomTags } = (await (await fetch(`${orthanc.baseUrl}/instances/${id}`)).json()) as { MainDicomTags: { SOPInstanceUID: string } };
    held.set(MainDicomTags.SOPInstanceUID, Buffer.from(await (await fetch(`${orthanc.baseUrl}/instances/${id}/file`)).arrayBuffer()));
  }
  expect(qido.map((match) => String(value(match, TAG.SOPInstanceUID))).sort()).toEqual([...held.keys()].sort());
  return held;
}

async function expectSameInstances(study: PhantomStudy, orthancIds: string[]): Promise<void> {
  const held = await orthancInstances(study.studyInstanceUID, orthancIds);
  const rows = await server.services.db.selectFrom("instances").selectAll().where("study_instance_uid", "=", study.studyInstanceUID).execute();
  expect(rows.map((row) => row.sop_instance_uid).sort()).toEqual([...held.keys()].sort());
  for (const row of rows) {
    const bytes = await readFile(server.services.files.absolutePath(row.file_path));
    expect(bytes.equals(held.get(row.sop_instance_uid)!), `instance ${row.sop_instance_uid} differs from Orthanc's`).toBe(true);
    expect(bytes.equals(study.images.find((image) => image.sopInstanceUID === row.sop_instance_uid)!.part10)).toBe(true);
  }
}

async function expectReported(done: DicomJsonDataset, study: PhantomStudy): Promise<void> {
  expect(value(done, TAG.ProcedureStepState), String(value(items(done, TAG.ProcedureStepProgressInformationSequence)[0], TAG.ReasonForCancellation))).toBe("COMPLETED");
  const outputs = items(items(done, TAG.UnifiedProcedureStepPerformedProcedureSequence)[0], TAG.OutputInformationSequence);
  const fhir = outputs.find((item) => value(item, TAG.TypeOfInstances) === "FHIR");
  const report = await ours(String(value(fhir, TAG.RetrieveURL)));
  expect(report.status).toBe(200);
  expect(report.body as DiagnosticReport).toMatchObject({ resourceType: "DiagnosticReport", status: "preliminary" });
  const search = await ours(`${server.url}/fhir/DiagnosticReport?study-instance-uid=${study.studyInstanceUID}`);
  expect(search.body.total).toBe(1);
  expect(search.body.entry[0].resource.id).toBe((report.body as DiagnosticReport).id);
  const dicom = outputs.filter((item) => value(item, TAG.TypeOfInstances) === "DICOM");
  expect(dicom.flatMap((item) => items(item, TAG.ReferencedSOPSequence).map((ref) => value(ref, TAG.ReferencedSOPInstanceUID))).sort()).toEqual(
    study.images.map((image) => image.sopInstanceUID).sort(),
  );
  expect(await server.services.jobs.listByStudy(study.studyInstanceUID)).toMatchObject([{ state: "succeeded", trigger: "ups", attempts: 1 }]);
}

describe("our performer pulling from Orthanc by WADO-RS for a UPS-RS workitem", () => {
  it("retrieves the study by a Retrieve URL pointing into Orthanc, reports it, and completes the workitem", async () => {
    const study = makePhantomStudy(FIRST_SEED, RENDER);
    const orthancIds = await uploadStudy(study);

    const done = await perform(workitem(study.studyInstanceUID, `${orthanc.dicomwebUrl}/studies/${study.studyInstanceUID}`));

    await expectReported(done, study);
    await expectSameInstances(study, orthancIds);
  }, 120_000);

  it("retrieves the study from Orthanc as the default peer when the workitem gives only its UID", async () => {
    const study = makePhantomStudy(FIRST_SEED + 1, RENDER);
    const orthancIds = await uploadStudy(study);

    const done = await perform(workitem(study.studyInstanceUID));

    await expectReported(done, study);
    await expectSameInstances(study, orthancIds);
  }, 120_000);
});
