// This service as a UPS performer (src/dicomweb/upsPerformer.ts), end to end on loopback: a second gateway plays
// the PACS (filled over its own STOW-RS, serving WADO-RS behind a fault-injecting proxy, its token in a static token
// file), and our service runs as `serve` does (startServer with the real pipeline). A client creates workitems over
// UPS-RS and watches them on a global subscription's WebSocket; the performer claims them, pulls each study by
// WADO-RS, has it reported, and completes the workitem, or cancels it with the reason. The quiet period is an hour,
// so that only a workitem makes a study's job due.
import type { DiagnosticReport } from "@medplum/fhirtypes";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { DicomJsonDataset } from "../src/dicom/dicomJson.js";
import { GLOBAL_SUBSCRIPTION_UID, TAG } from "../src/dicomweb/upsWorkitem.js";
import { describePhantom, makePhantomStudy, type PhantomImage, type PhantomStudy } from "../src/phantom/study.js";
import { type RunningServer } from "../src/server.js";
import { makeMultipartRelated } from "./fixtures/dicomFactory.js";
import { startFaultProxy, type FaultProxy } from "./support/faultProxy.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";
import { startReportingServer, type ReportingServer } from "./support/reportingServer.js";
import { until } from "./support/until.js";
import { CXR_REPORT, inputStudy, openEventChannel, scheduledWorkitem, type EventChannel } from "./support/workitems.js";

const DICOM_JSON = "application/dicom+json";
const RENDER = { rows: 512, columns: 512, pixelSpacingMm: 0.7 };
const FIRST_SEED = 2_001_101;
const SUBSCRIBER = "RIS_UPS";
const POLL_MS = 100;
/** The peer's limits: a hung request is given up after PEER_TIMEOUT_MS, a failing one tried PEER_RETRIES more times. */
const PEER_TIMEOUT_MS = 20_000;
const PEER_RETRIES = 2;
const EVENT = { type: "00001002", workitem: "00001000" };
const EVENT_TYPE = { stateReport: 1, cancelRequested: 2, progressReport: 3 };

let dir: string;
let pacs: TestApp;
let pacsServer: http.Server;
let proxy: FaultProxy;
let service: ReportingServer;
let server: RunningServer;
let token: string;
let channel: { socket: WebSocket; events: DicomJsonDataset[] };
let seed = FIRST_SEED;

const value = (dataset: DicomJsonDataset | undefined, tag: string) => dataset?.[tag]?.Value?.[0];
const items = (dataset: DicomJsonDataset | undefined, tag: string) => (dataset?.[tag]?.Value ?? []) as DicomJsonDataset[];
const api = () => ({
  get: (url: string) => request(server.url).get(url).set("Authorization", `Bearer ${token}`),
  post: (url: string) => request(server.url).post(url).set("Authorization", `Bearer ${token}`),
});

/** A new phantom study, with a lateral view (two series) when asked for. */
function phantom(options: { lateral?: boolean } = {}): PhantomStudy {
  while (options.lateral !== undefined && describePhantom(seed).case.acquisition.withLateral !== options.lateral) seed++;
  return makePhantomStudy(seed++, RENDER);
}

async function onPacs(study: PhantomStudy, images: PhantomImage[] = study.images): Promise<void> {
  expect((await storeInstances(pacs, images.map((image) => image.part10))).status).toBe(200);
}

const input = inputStudy;

const pacsStudyUrl = (studyInstanceUID: string) => `${proxy.origin}/dicomweb/studies/${studyInstanceUID}`;

function workitem(inputItem: DicomJsonDataset, overrides: DicomJsonDataset = {}): DicomJsonDataset {
  return scheduledWorkitem({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-PERFORMER"] }, [TAG.InputInformationSequence]: { vr: "SQ", Value: [inputItem] }, ...overrides });
}

/** Creates the workitem over UPS-RS; returns its UID. */
async function create(dataset: DicomJsonDataset): Promise<string> {
  const res = await api().post("/dicomweb/workitems").set("Content-Type", DICOM_JSON).send(JSON.stringify(dataset));
  expect(res.status).toBe(201);
  return String(res.headers.location).split("/").pop()!;
}

async function retrieve(uid: string): Promise<DicomJsonDataset> {
  const res = await api().get(`/dicomweb/workitems/${uid}`).expect(200);
  return (JSON.parse(res.text) as DicomJsonDataset[])[0]!;
}

/** The workitem once it is in `state` (by default: once it is COMPLETED or CANCELED). */
function inState(uid: string, state?: string, timeoutMs = 20_000): Promise<DicomJsonDataset> {
  return until(async () => {
    const dataset = await retrieve(uid);
    const now = value(dataset, TAG.ProcedureStepState);
    return (state ? now === state : now === "COMPLETED" || now === "CANCELED") ? dataset : undefined;
  }, timeoutMs, 50);
}

const retrieveUrlOf = (item: DicomJsonDataset) => String(value(items(item, TAG.WADORSRetrievalSequence)[0], TAG.RetrieveURL));
const progressItem = (dataset: DicomJsonDataset) => items(dataset, TAG.ProcedureStepProgressInformationSequence)[0];
const performedItem = (dataset: DicomJsonDataset) => items(dataset, TAG.UnifiedProcedureStepPerformedProcedureSequence)[0];
const outputs = (dataset: DicomJsonDataset) => items(performedItem(dataset), TAG.OutputInformationSequence);

const eventsFor = (uid: string) => channel.events.filter((event) => value(event, EVENT.workitem) === uid);
const stateReports = (uid: string) => eventsFor(uid).filter((event) => value(event, EVENT.type) === EVENT_TYPE.stateReport);
const statesReported = (uid: string) => stateReports(uid).map((event) => value(event, TAG.ProcedureStepState));

/** Waits until the subscriber has heard of the workitem's final state. */
const finalReport = (uid: string) =>
  until(async () => stateReports(uid).find((event) => ["COMPLETED", "CANCELED"].includes(String(value(event, TAG.ProcedureStepState)))));

/** Requests for the study that reached the PACS through the proxy. */
const pacsRequestsFor = (studyInstanceUID: string) => proxy.requests.filter((r) => r.url.includes(studyInstanceUID));

/** The AuditEvents of the workitem's retrieves from the PACS. */
async function retrieveEvents(workitemUID: string) {
  const { events } = await server.services.audit.search({ count: 1000, offset: 0, entity: `urn:oid:${workitemUID}` });
  return events.filter((event) => event.subtype?.some((coding) => coding.code === "dicomweb-retrieve"));
}

async function localInstances(studyInstanceUID: string) {
  const rows = await server.services.db.selectFrom("instances").selectAll().where("study_instance_uid", "=", studyInstanceUID).execute();
  return Promise.all(rows.map(async (row) => ({ row, bytes: await readFile(server.services.files.absolutePath(row.file_path)) })));
}

async function expectStoredAsSent(study: PhantomStudy, images: PhantomImage[] = study.images): Promise<void> {
  const stored = await localInstances(study.studyInstanceUID);
  expect(stored.map(({ row }) => row.sop_instance_uid).sort()).toEqual(images.map((image) => image.sopInstanceUID).sort());
  for (const { row, bytes } of stored) expect(bytes.equals(images.find((image) => image.sopInstanceUID === row.sop_instance_uid)!.part10)).toBe(true);
}

function openChannel(): Promise<EventChannel> {
  return openEventChannel(server.url.replace(/^http/, "ws"), SUBSCRIBER, token);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-performer-"));
  pacsServer = http.createServer();
  await new Promise<void>((resolve) => pacsServer.listen(0, "127.0.0.1", resolve));
  const pacsPort = (pacsServer.address() as AddressInfo).port;
  pacs = await startTestApp({ TRRG_PUBLIC_URL: `http://127.0.0.1:${pacsPort}` });
  pacsServer.on("request", pacs.app);
  proxy = await startFaultProxy(pacsPort);

  const tokenFile = path.join(dir, "pacs-token");
  await writeFile(tokenFile, await pacs.token(), { mode: 0o600 });
  const peersFile = path.join(dir, "peers.json");
  const peer = { name: "pacs", baseUrl: `${proxy.origin}/dicomweb`, auth: { kind: "token", tokenFile: "pacs-token" }, timeoutMs: PEER_TIMEOUT_MS, retries: PEER_RETRIES };
  await writeFile(peersFile, JSON.stringify([peer]));
  // No TRRG_PUBLIC_URL and port 0: the Retrieve URLs of the outputs must name the port the server got.
  service = await startReportingServer(dir, {
    TRRG_RATE_LIMIT: "0",
    TRRG_JOB_QUIET_PERIOD: "1h",
    TRRG_UPS_POLL_INTERVAL: `${POLL_MS}ms`,
    TRRG_DICOMWEB_PEERS_FILE: peersFile,
    TRRG_DICOMWEB_DEFAULT_PEER: "pacs",
  });
  server = service.server;
  token = await service.token();
  await api().post(`/dicomweb/workitems/${GLOBAL_SUBSCRIPTION_UID}/subscribers/${SUBSCRIBER}`).expect(201);
  channel = await openChannel();
});
afterAll(async () => {
  channel?.socket.close();
  await service?.stop();
  await proxy?.close();
  pacsServer?.closeAllConnections();
  await new Promise((resolve) => pacsServer?.close(resolve));
  await pacs?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => proxy.reset());

describe("a workitem whose input study only the PACS holds", () => {
  it("is claimed, its study pulled by the Retrieve URL and reported, and COMPLETED with the outputs", async () => {
    const study = phantom({ lateral: true });
    await onPacs(study);
    const before = new Date();
    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("COMPLETED");
    expect(pacsRequestsFor(study.studyInstanceUID).map((r) => [r.method, r.url, r.status])).toEqual([["GET", `/dicomweb/studies/${study.studyInstanceUID}`, 200]]);
    await expectStoredAsSent(study);
    const jobs = await server.services.jobs.listByStudy(study.studyInstanceUID);
    expect(jobs).toMatchObject([{ state: "succeeded", trigger: "ups", attempts: 1 }]);

    // Performed Procedure Step Start and End DateTime, in order, within the test.
    const performed = performedItem(done)!;
    const start = String(value(performed, TAG.PerformedProcedureStepStartDateTime));
    const end = String(value(performed, TAG.PerformedProcedureStepEndDateTime));
    expect(start).toMatch(/^\d{14}\.\d{3}\+0000$/);
    expect(start <= end).toBe(true);
    expect(start.slice(0, 14) >= before.toISOString().replace(/\D/g, "").slice(0, 14)).toBe(true);
    expect(items(performed, TAG.PerformedWorkitemCodeSequence).map((code) => value(code, TAG.CodeValue))).toEqual(["CXR-REPORT"]);

    // One DICOM output per series, naming the stored instances, retrievable here by its WADO-RS Retrieve URL.
    const dicom = outputs(done).filter((item) => value(item, TAG.TypeOfInstances) === "DICOM");
    expect(dicom.map((item) => value(item, TAG.SeriesInstanceUID)).sort()).toEqual(study.images.map((image) => image.seriesInstanceUID).sort());
    for (const item of dicom) {
      const image = study.images.find((i) => i.seriesInstanceUID === value(item, TAG.SeriesInstanceUID))!;
      expect(items(item, TAG.ReferencedSOPSequence).map((ref) => value(ref, TAG.ReferencedSOPInstanceUID))).toEqual([image.sopInstanceUID]);
      expect(retrieveUrlOf(item)).toBe(`${server.url}/dicomweb/studies/${study.studyInstanceUID}`);
    }
    const wado = await request(retrieveUrlOf(dicom[0]!)).get("").set("Authorization", `Bearer ${token}`).set("Accept", "multipart/related; type=\"application/dicom\"");
    expect(wado.status).toBe(200);

    // The FHIR output: its Retrieve URL reads the study's preliminary DiagnosticReport.
    const fhir = outputs(done).filter((item) => value(item, TAG.TypeOfInstances) === "FHIR");
    expect(fhir).toHaveLength(1);
    const reportUrl = String(value(fhir[0], TAG.RetrieveURL));
    expect(reportUrl).toMatch(new RegExp(`^${server.url}/fhir/DiagnosticReport/[0-9a-f-]{36}$`));
    const report = await request(reportUrl).get("").set("Authorization", `Bearer ${token}`).expect(200);
    expect(report.body as DiagnosticReport).toMatchObject({ resourceType: "DiagnosticReport", status: "preliminary" });
    const search = await api().get(`/fhir/DiagnosticReport?study-instance-uid=${study.studyInstanceUID}`).expect(200);
    expect(search.body.total).toBe(1);
    expect(search.body.entry[0].resource.id).toBe((report.body as DiagnosticReport).id);

    // The subscriber heard every state change, and the progress in between, ending at 100.
    await finalReport(uid);
    expect(statesReported(uid)).toEqual(["SCHEDULED", "IN PROGRESS", "COMPLETED"]);
    const progress = eventsFor(uid)
      .filter((event) => value(event, EVENT.type) === EVENT_TYPE.progressReport)
      .map((event) => progressItem(event)!);
    const percents = progress.map((item) => Number(value(item, TAG.ProcedureStepProgress)));
    expect(percents.length).toBeGreaterThanOrEqual(3);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBe(100);
    expect(value(progress[0], TAG.ProcedureStepProgressDescription)).toBe("retrieving the input study by WADO-RS");
    expect(value(progressItem(done), TAG.ProcedureStepProgress)).toBe("100");
    // The retrieve is audited as an Import from the PACS, naming the patient, the study and the workitem.
    const [retrieveEvent] = await retrieveEvents(uid);
    expect(retrieveEvent).toMatchObject({ action: "C", outcome: "0", type: { code: "110107" } });
    expect(retrieveEvent!.agent.map((agent) => agent.who?.display)).toEqual(["pacs", expect.any(String)]);
    expect(retrieveEvent!.entity!.map((entity) => entity.role?.code)).toEqual(["1", "3", "20"]);
  });

  it("is pulled from the default peer when the input names only the Study Instance UID", async () => {
    const study = phantom();
    await onPacs(study);
    const uid = await create(workitem(input(study.studyInstanceUID)));

    expect(value(await inState(uid), TAG.ProcedureStepState)).toBe("COMPLETED");
    expect(pacsRequestsFor(study.studyInstanceUID).map((r) => [r.url, r.status])).toEqual([[`/dicomweb/studies/${study.studyInstanceUID}`, 200]]);
    await expectStoredAsSent(study);
  });
});

describe("a workitem whose input study is here already", () => {
  it("is not retrieved: the study's STOW-RS job is shared, made due at once for the workitem, and it completes", async () => {
    const study = phantom();
    const { body, contentType } = makeMultipartRelated(study.images.map((image) => image.part10));
    await api().post("/dicomweb/studies").set("Content-Type", contentType).send(body).expect(200);
    const [queued] = await server.services.jobs.listByStudy(study.studyInstanceUID);
    expect(queued).toMatchObject({ state: "queued", trigger: "stow" });
    expect(Date.parse(queued!.runAfter)).toBeGreaterThan(Date.now() + 3_000_000);

    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("COMPLETED");
    expect(pacsRequestsFor(study.studyInstanceUID)).toEqual([]);
    const jobs = await server.services.jobs.listByStudy(study.studyInstanceUID);
    expect(jobs).toMatchObject([{ id: queued!.id, state: "succeeded", trigger: "ups", attempts: 1 }]);
    expect(outputs(done).filter((item) => value(item, TAG.TypeOfInstances) === "FHIR")).toHaveLength(1);
  });
});

describe("a workitem that cannot be performed is CANCELED with the reason", () => {
  it("when the PACS has no such study (404)", async () => {
    const missing = phantom();
    const uid = await create(workitem(input(missing.studyInstanceUID, pacsStudyUrl(missing.studyInstanceUID))));

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("CANCELED");
    const reason = String(value(progressItem(done), TAG.ReasonForCancellation));
    expect(reason).toMatch(/could not be retrieved/);
    expect(reason).toMatch(/pacs: the peer has no such study \(404\)/);
    expect(value(progressItem(done), TAG.ProcedureStepCancellationDateTime)).toMatch(/^\d{14}/);
    // Not found is not retried.
    expect(pacsRequestsFor(missing.studyInstanceUID).map((r) => r.status)).toEqual([404]);
    const report = await finalReport(uid);
    expect(value(report, TAG.ReasonForCancellation)).toBe(reason);
    expect(await server.services.jobs.listByStudy(missing.studyInstanceUID)).toEqual([]);
    expect((await retrieveEvents(uid)).map((event) => event.outcome)).toEqual(["8"]);
  });

  it("when the study has no frontal image: its job fails, and the workitem carries the job's reason", async () => {
    const study = phantom({ lateral: true });
    const lateral = study.images.filter((image) => image.view === "lateral");
    await onPacs(study, lateral);
    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("CANCELED");
    expect(String(value(progressItem(done), TAG.ReasonForCancellation))).toMatch(/^report generation failed: .*no frontal chest image/);
    await expectStoredAsSent(study, lateral);
    expect(await server.services.jobs.listByStudy(study.studyInstanceUID)).toMatchObject([{ state: "failed", attempts: 1 }]);
  });

  it("when the Retrieve URL lies under no configured peer: no request is sent there", async () => {
    const study = phantom();
    await onPacs(study);
    const elsewhere = `${proxy.origin}/other-archive/studies/${study.studyInstanceUID}`;
    const uid = await create(workitem(input(study.studyInstanceUID, elsewhere)));

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("CANCELED");
    expect(value(progressItem(done), TAG.ReasonForCancellation)).toMatch(/lies under no peer of TRRG_DICOMWEB_PEERS_FILE; it is not followed/);
    expect(pacsRequestsFor(study.studyInstanceUID)).toEqual([]);
  });

  it("when the workitem names no valid input study", async () => {
    const uid = await create(workitem(input("not-a-uid")));
    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("CANCELED");
    expect(value(progressItem(done), TAG.ReasonForCancellation)).toMatch(/no valid Study Instance UID/);
  });
});

describe("cancellation requested while IN PROGRESS", () => {
  it("stops the retrieve that hangs and cancels the workitem at once, keeping the requester's reason", async () => {
    const study = phantom();
    await onPacs(study);
    proxy.inject({ kind: "hang" });
    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));
    await until(async () => (pacsRequestsFor(study.studyInstanceUID).length > 0 ? true : undefined));
    expect(value(await retrieve(uid), TAG.ProcedureStepState)).toBe("IN PROGRESS");

    const asked = Date.now();
    const cancel = { [TAG.ReasonForCancellation]: { vr: "LT", Value: ["the order was withdrawn"] }, [TAG.ContactDisplayName]: { vr: "LO", Value: ["Ward 4"] } };
    await api().post(`/dicomweb/workitems/${uid}/cancelrequest`).set("Content-Type", DICOM_JSON).send(JSON.stringify(cancel)).expect(202);

    const done = await inState(uid, "CANCELED", PEER_TIMEOUT_MS / 2);
    // At the next poll, not once the hung request times out.
    expect(Date.now() - asked).toBeLessThan(3_000);
    expect(value(progressItem(done), TAG.ReasonForCancellation)).toBe("the order was withdrawn");
    expect(value(progressItem(done), TAG.ContactDisplayName)).toBe("Ward 4");
    await finalReport(uid);
    expect(eventsFor(uid).map((event) => value(event, EVENT.type))).toContain(EVENT_TYPE.cancelRequested);
    expect(statesReported(uid)).toEqual(["SCHEDULED", "IN PROGRESS", "CANCELED"]);
    expect(value(stateReports(uid).at(-1), TAG.ReasonForCancellation)).toBe("the order was withdrawn");
    // Nothing was stored, and no report was asked for.
    expect(pacsRequestsFor(study.studyInstanceUID)).toHaveLength(1);
    expect(await localInstances(study.studyInstanceUID)).toEqual([]);
    expect(await server.services.jobs.listByStudy(study.studyInstanceUID)).toEqual([]);
  });
});

describe("workitems performed at once", () => {
  it("completes one workitem while the retrieve of another hangs", async () => {
    const [slow, quick] = [phantom(), phantom()];
    await onPacs(slow);
    await onPacs(quick);
    proxy.inject({ kind: "hang" });
    const held = await create(workitem(input(slow.studyInstanceUID, pacsStudyUrl(slow.studyInstanceUID))));
    await until(async () => (pacsRequestsFor(slow.studyInstanceUID).length > 0 ? true : undefined));
    const uid = await create(workitem(input(quick.studyInstanceUID, pacsStudyUrl(quick.studyInstanceUID))));

    expect(value(await inState(uid, undefined, PEER_TIMEOUT_MS / 2), TAG.ProcedureStepState)).toBe("COMPLETED");
    expect(value(await retrieve(held), TAG.ProcedureStepState)).toBe("IN PROGRESS");
    expect(pacsRequestsFor(slow.studyInstanceUID).map((r) => r.fault)).toEqual(["hang"]);
    await api().post(`/dicomweb/workitems/${held}/cancelrequest`).expect(202);
    const canceled = await inState(held);
    expect(value(canceled, TAG.ProcedureStepState)).toBe("CANCELED");
    expect(value(progressItem(canceled), TAG.ReasonForCancellation)).toBe("cancellation was requested");
  });
});

describe("workitems the performer leaves alone", () => {
  it("does not claim another Scheduled Workitem Code, an INCOMPLETE input, or a start in the future; READY later is claimed", async () => {
    const study = phantom();
    await onPacs(study);
    const url = pacsStudyUrl(study.studyInstanceUID);
    const otherCode = { ...CXR_REPORT, [TAG.CodeValue]: { vr: "SH", Value: ["CT-REPORT"] } };
    const other = await create(workitem(input(study.studyInstanceUID, url), { [TAG.ScheduledWorkitemCodeSequence]: { vr: "SQ", Value: [otherCode] } }));
    const incomplete = await create(workitem(input(study.studyInstanceUID, url), { [TAG.InputReadinessState]: { vr: "CS", Value: ["INCOMPLETE"] } }));
    const future = await create(workitem(input(study.studyInstanceUID, url), { [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20991231235959"] } }));

    await new Promise((resolve) => setTimeout(resolve, 8 * POLL_MS));
    for (const uid of [other, incomplete, future]) expect(value(await retrieve(uid), TAG.ProcedureStepState)).toBe("SCHEDULED");
    expect(pacsRequestsFor(study.studyInstanceUID)).toEqual([]);

    await api().post(`/dicomweb/workitems/${incomplete}`).set("Content-Type", DICOM_JSON).send(JSON.stringify({ [TAG.InputReadinessState]: { vr: "CS", Value: ["READY"] } })).expect(200);
    expect(value(await inState(incomplete), TAG.ProcedureStepState)).toBe("COMPLETED");
    for (const uid of [other, future]) expect(value(await retrieve(uid), TAG.ProcedureStepState)).toBe("SCHEDULED");
  });
});

describe("the PACS down, then back", () => {
  it("retries the retrieve, within the client and then at later polls, and completes the workitem", async () => {
    const study = phantom();
    await onPacs(study);
    // One more 503 than the client tries in one go: the performer has to try again at a later poll.
    const unavailable = { kind: "answer" as const, status: 503, body: "down for maintenance" };
    proxy.inject(...Array.from({ length: PEER_RETRIES + 2 }, () => unavailable));
    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));

    expect(value(await inState(uid), TAG.ProcedureStepState)).toBe("COMPLETED");
    expect(pacsRequestsFor(study.studyInstanceUID).map((r) => r.status)).toEqual([...Array(PEER_RETRIES + 2).fill(503), 200]);
    await expectStoredAsSent(study);
    expect(statesReported(uid)).toEqual(["SCHEDULED", "IN PROGRESS", "COMPLETED"]);
  });
});

describe("a restart while a workitem is IN PROGRESS", () => {
  it("resumes the workitem from the store and completes it once", async () => {
    const study = phantom();
    await onPacs(study);
    proxy.inject({ kind: "hang" });
    const uid = await create(workitem(input(study.studyInstanceUID, pacsStudyUrl(study.studyInstanceUID))));
    await until(async () => (pacsRequestsFor(study.studyInstanceUID).length > 0 ? true : undefined));
    const claimed = await retrieve(uid);
    expect(value(claimed, TAG.ProcedureStepState)).toBe("IN PROGRESS");
    const started = value(performedItem(claimed), TAG.PerformedProcedureStepStartDateTime);
    expect(started).toBeDefined();

    channel.socket.close();
    server = await service.restart();
    channel = await openChannel();

    const done = await inState(uid);
    expect(value(done, TAG.ProcedureStepState)).toBe("COMPLETED");
    // The start is the first run's; the study was asked for again, in full, and reported once.
    expect(value(performedItem(done), TAG.PerformedProcedureStepStartDateTime)).toBe(started);
    expect(pacsRequestsFor(study.studyInstanceUID).map((r) => r.fault ?? r.status)).toEqual(["hang", 200]);
    await expectStoredAsSent(study);
    expect(await server.services.jobs.listByStudy(study.studyInstanceUID)).toMatchObject([{ state: "succeeded", attempts: 1 }]);
    await finalReport(uid);
    expect(statesReported(uid)).toEqual(["COMPLETED"]);
    expect(outputs(done).filter((item) => value(item, TAG.TypeOfInstances) === "FHIR")).toHaveLength(1);
    expect(String(value(outputs(done)[0], TAG.StudyInstanceUID))).toBe(study.studyInstanceUID);
    // Nothing more happens to it.
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    expect(statesReported(uid)).toEqual(["COMPLETED"]);
  });
});
