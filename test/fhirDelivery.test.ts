// Delivery of reports to the EHR's FHIR server, against a real FHIR server (test/support/fhirPeer.ts: @medplum's
// fhir-router over its in-memory repository) on loopback: real HTTP, real SQLite, real tokens from a real
// authorization server (the service's own embedded oidc-provider, playing the EHR's). Reports are published with
// publishReport from a pipeline result fixture: the model does not run here.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { Bundle, DiagnosticReport, Observation, Provenance, Resource } from "@medplum/fhirtypes";
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, type JWK } from "jose";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BackendServicesClient, readClientKey } from "../src/auth/backendServicesClient.js";
import { DEFAULT_TARGET_SCOPE } from "../src/config.js";
import { CODE_SYSTEMS, IDENTIFIER_SYSTEMS } from "../src/fhir/canonical.js";
import { runDeliveriesCommand } from "../src/fhir/deliveriesCommand.js";
import { DeliveryOutbox, enqueueDelivery, type Delivery } from "../src/fhir/deliveryOutbox.js";
import { startDeliveryWorker, type DeliveryWorker } from "../src/fhir/deliveryWorker.js";
import { publishReport } from "../src/fhir/publishReport.js";
import { buildReportResources, type ReportResources } from "../src/fhir/reportResources.js";
import { transactionBundle } from "../src/fhir/transactionBundle.js";
import type { ObservationName } from "../src/findings/observations.js";
import { createLogger, type Logger } from "../src/log.js";
import { closeServices } from "../src/services.js";
import { newUid } from "./fixtures/dicomFactory.js";
import { makePipelineResult } from "./fixtures/pipelineResult.js";
import { startFhirPeer, type FhirPeer } from "./support/fhirPeer.js";
import { startTestApp, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

const PATIENT_ID = "PID-A";
/** Fast retries, so that outages of a fraction of a second are many attempts. */
const FAST_RETRIES = { TRRG_FHIR_DELIVERY_RETRY_BASE: "50ms", TRRG_FHIR_DELIVERY_RETRY_CAP: "200ms", TRRG_FHIR_DELIVERY_TIMEOUT: "20s" };
/**
 * Findings per report, unless a test asks for all. The peer's in-memory repository answers each conditional create
 * by scanning every resource of the type, so the fewer Observations, the faster the tests.
 */
const FINDINGS_PER_REPORT = 3;

let peer: FhirPeer;
const apps: TestApp[] = [];
const workers: DeliveryWorker[] = [];

beforeAll(async () => {
  peer = await startFhirPeer();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(2000)));
  await Promise.all(apps.splice(0).map((a) => a.close()));
  peer.failNext(0);
  peer.dropResponses(0);
  peer.delayNext(0, 0);
  peer.refuseResourceType(undefined);
  peer.requireToken(undefined);
  peer.smartConfiguration = undefined;
  await peer.start();
  // Each test starts with an empty target.
  peer.repo.clear();
  peer.requests.length = 0;
});
afterAll(async () => {
  await peer.stop();
});

/** Log lines of a gateway, kept for assertions and also written where the suite checks logs for patient data. */
function capturingLogger(lines: string[]): Logger {
  const file = process.env.TEST_LOG_CAPTURE_FILE;
  const suite = file ? createWriteStream(file, { flags: "a" }) : undefined;
  return createLogger("debug", {
    write: (line: string) => {
      lines.push(line);
      suite?.write(line);
    },
  });
}

interface Gateway {
  t: TestApp;
  logs: string[];
  /** Starts a delivery worker (several may run at once, as in several processes). */
  worker(): DeliveryWorker;
}

async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const logs: string[] = [];
  const t = await startTestApp({ TRRG_FHIR_TARGET_URL: peer.baseUrl, ...FAST_RETRIES, ...env }, { logger: capturingLogger(logs) });
  apps.push(t);
  return {
    t,
    logs,
    worker: () => {
      const worker = startDeliveryWorker(t.services, { pollIntervalMs: 20 })!;
      workers.push(worker);
      return worker;
    },
  };
}

/** Publishes a report of a new study of PATIENT_ID, as a finished report job does. */
async function publish(
  t: TestApp,
  options: { present?: ObservationName[]; issued?: Date; studyInstanceUID?: string; allFindings?: boolean } = {},
): Promise<ReportResources> {
  const studyInstanceUID = options.studyInstanceUID ?? newUid();
  const result = makePipelineResult(options.present);
  if (!options.allFindings) result.findings = result.findings.filter((f) => f.clue).concat(result.findings.filter((f) => !f.clue)).slice(0, FINDINGS_PER_REPORT);
  return publishReport(
    t.services.db,
    t.services.config.fhir,
    result,
    { studyInstanceUID, patientId: PATIENT_ID, studyDate: "20260301", studyTime: "101500", timezoneOffset: "+0100" },
    options.issued,
  );
}

/** The study row a stored DICOM study would have: the audit trail names the patient from it. */
async function indexStudy(t: TestApp, studyInstanceUID: string): Promise<void> {
  const at = new Date().toISOString();
  await t.services.db.insertInto("studies").values({
    study_instance_uid: studyInstanceUID,
    patient_id: PATIENT_ID,
    issuer_of_patient_id: null,
    patient_name: null,
    patient_birth_date: null,
    patient_sex: null,
    study_date: "20260301",
    study_time: "101500",
    accession_number: null,
    referring_physician_name: null,
    study_description: null,
    study_id: null,
    created_at: at,
    updated_at: at,
  }).execute();
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function deliveriesOf(t: TestApp, resources: ReportResources): Promise<Delivery[]> {
  return t.services.deliveries.list({ reportId: resources.report.id! });
}

/** The report's one delivery, once it is no longer pending. */
function finished(t: TestApp, resources: ReportResources): Promise<Delivery> {
  return waitFor("the delivery to finish", async () => {
    const [delivery] = await deliveriesOf(t, resources);
    return delivery && delivery.state !== "pending" ? delivery : undefined;
  });
}

const identifierOf = (resource: { identifier?: { value?: string }[] }) => resource.identifier![0]!.value!;
const byIdentifier = (value: string) => `identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEMS.uri}|${value}`)}`;
const byReportTag = (resources: ReportResources) => `_tag=${encodeURIComponent(`${CODE_SYSTEMS.reportTag}|${identifierOf(resources.report)}`)}`;

/** What the peer holds of a report: its DiagnosticReports, Provenances and, per finding, Observations. */
async function onPeer(resources: ReportResources) {
  return {
    reports: (await peer.search("DiagnosticReport", byIdentifier(identifierOf(resources.report)))) as DiagnosticReport[],
    provenances: (await peer.search("Provenance", byReportTag(resources))) as Provenance[],
    observations: await Promise.all(resources.observations.map((o) => peer.search("Observation", byIdentifier(identifierOf(o))))),
    devices: await peer.search("Device", `identifier=${encodeURIComponent(`${IDENTIFIER_SYSTEMS.manifest}|${identifierOf(resources.device)}`)}`),
  };
}

/** Transactions of this report that the peer processed (answered, or processed and then dropped). */
const transactionsOf = (resources: ReportResources) =>
  peer.requests.filter((r) => r.reportIdentifier === identifierOf(resources.report) && (r.status === 200 || r.dropped));

async function expectDeliveredOnce(resources: ReportResources): Promise<void> {
  const held = await onPeer(resources);
  expect(held.reports).toHaveLength(1);
  expect(held.provenances).toHaveLength(1);
  for (const observations of held.observations) expect(observations).toHaveLength(1);
  expect(held.devices).toHaveLength(1);
}

/** The AuditEvents of the report's delivery attempts, oldest first, once there is one per attempt recorded. */
async function auditOf(t: TestApp, resources: ReportResources) {
  // An attempt is audited just after its outcome is recorded in the outbox, so the event can trail `finished`.
  const [delivery] = await deliveriesOf(t, resources);
  return waitFor("an AuditEvent per delivery attempt", async () => {
    const { events } = await t.services.audit.search({ entity: `DiagnosticReport/${resources.report.id}`, count: 100, offset: 0 });
    const attempts = events.filter((e) => e.subtype?.some((s) => s.code === "fhir-delivery")).reverse();
    return attempts.length >= (delivery?.attempts ?? 0) ? attempts : undefined;
  });
}

describe("delivery of a report to the target FHIR server", () => {
  it("posts one transaction Bundle whose references the target resolves to the resources it created", async () => {
    const { t, worker } = await startGateway();
    worker();
    const studyInstanceUID = newUid();
    await indexStudy(t, studyInstanceUID);
    const resources = await publish(t, { studyInstanceUID, present: ["Cardiomegaly", "Pleural Effusion"], allFindings: true });
    const delivery = await finished(t, resources);

    expect(delivery).toMatchObject({ state: "delivered", attempts: 1, lastStatus: 200, lastError: null, outcome: null });
    const entries = delivery.response!.entries;
    expect(entries.map((e) => e.resourceType)).toEqual(transactionBundle(resources).entry!.map((e) => e.resource!.resourceType));
    expect(entries.filter((e) => e.resourceType !== "Device").every((e) => e.status.startsWith("201"))).toBe(true);
    const [posted] = transactionsOf(resources);
    expect(posted).toMatchObject({ method: "POST", url: "/", contentType: expect.stringMatching(/^application\/fhir\+json/), accept: "application/fhir+json" });

    const held = await onPeer(resources);
    const report = held.reports[0]!;
    expect(delivery.response!.reportLocation).toMatch(new RegExp(`^DiagnosticReport/${report.id}\\b`));
    // The target's own ids; our identifiers arrive as they were (not rewritten to the target's references).
    expect(report.id).not.toBe(resources.report.id);
    expect(report.identifier).toEqual(resources.report.identifier);
    expect(report.subject).toEqual(resources.report.subject);
    // Every reference between the resources points at what the target created: none is left as a bundle urn:uuid.
    const observations = await Promise.all(report.result!.map((r) => peer.read(r.reference!) as Promise<Observation>));
    expect(observations.map(identifierOf).sort()).toEqual(resources.observations.map(identifierOf).sort());
    const device = held.devices[0]!;
    for (const observation of observations) expect(observation.device).toEqual({ reference: `Device/${device.id}` });
    const provenance = held.provenances[0]!;
    expect(provenance.target.map((r) => r.reference)).toEqual([`DiagnosticReport/${report.id}`, ...report.result!.map((r) => r.reference)]);
    expect(provenance.agent[0]!.who).toEqual({ reference: `Device/${device.id}` });
    for (const resource of [report, provenance, ...observations] as Resource[]) expect(JSON.stringify(resource)).not.toMatch(/"reference":"urn:uuid:/);

    // One AuditEvent for the attempt: a transaction creating the report at the target, naming the patient.
    const [event, ...others] = await auditOf(t, resources);
    expect(others).toHaveLength(0);
    expect(event).toMatchObject({ type: { code: "rest" }, action: "C", outcome: "0" });
    expect(event!.agent[1]).toMatchObject({ network: { address: peer.baseUrl } });
    expect(JSON.stringify(event!.entity)).toContain(PATIENT_ID);
  });

  it("enqueues a report when something of it is new or changed; a newer version replaces one still waiting", async () => {
    const { t, worker } = await startGateway();
    const studyInstanceUID = newUid();
    const issued = new Date(Date.UTC(2026, 2, 1, 12));
    const first = await publish(t, { studyInstanceUID, issued });
    await publish(t, { studyInstanceUID, issued });
    const [waiting, ...none] = await deliveriesOf(t, first);
    expect(none).toEqual([]);
    expect(waiting).toMatchObject({ reportVersion: 1, state: "pending", attempts: 0 });
    // Published again (a job retried) before delivery: the waiting delivery takes the new version.
    const later = new Date(issued.getTime() + 60_000);
    await publish(t, { studyInstanceUID, issued: later });
    expect(await deliveriesOf(t, first)).toMatchObject([{ id: waiting!.id, reportVersion: 2 }]);
    worker();
    await finished(t, first);
    expect((await onPeer(first)).reports[0]!.issued).toBe(later.toISOString());

    // Published again after delivery: a new delivery, which conditional create makes a no-op at the target; the
    // target keeps what it has (updating a delivered report would take a conditional update).
    await publish(t, { studyInstanceUID, issued: new Date(issued.getTime() + 120_000) });
    const rows = await waitFor("the third version delivered", async () => {
      const all = await deliveriesOf(t, first);
      return all.length === 2 && all.every((d) => d.state === "delivered") ? all : undefined;
    });
    expect(rows.map((d) => d.reportVersion)).toEqual([2, 3]);
    expect(rows[1]!.response!.entries.every((e) => e.status.startsWith("200"))).toBe(true);
    await expectDeliveredOnce(first);
    expect((await onPeer(first)).reports[0]!.issued).toBe(later.toISOString());
  });

  it("enqueues nothing without a target, and never saves a report whose delivery cannot be written with it", async () => {
    const without = await startTestApp();
    apps.push(without);
    expect(without.services.config.fhir.delivery).toBeUndefined();
    const unsent = await publish(without);
    expect(await deliveriesOf(without, unsent)).toEqual([]);

    const { t } = await startGateway();
    await sql`drop table fhir_deliveries`.execute(t.services.db);
    const studyInstanceUID = newUid();
    await expect(publish(t, { studyInstanceUID })).rejects.toThrow(/fhir_deliveries/);
    const saved = await t.services.db.selectFrom("fhir_resources").select("id").execute();
    expect(saved).toEqual([]);
  });

  it("retries a delivery whose answer was lost, and conditional create leaves one of each resource at the target", async () => {
    const { t, worker, logs } = await startGateway();
    worker();
    peer.dropResponses(1);
    const resources = await publish(t);
    const delivery = await finished(t, resources);

    expect(delivery).toMatchObject({ state: "delivered", attempts: 2 });
    // The target processed the bundle twice: the second time, every conditional create found the first's resources.
    expect(transactionsOf(resources).map((r) => r.dropped ?? false)).toEqual([true, false]);
    expect(delivery.response!.entries.every((e) => e.status.startsWith("200"))).toBe(true);
    await expectDeliveredOnce(resources);
    // A second report of the same model set: its own DiagnosticReport, and still one Device for the manifest.
    const other = await publish(t);
    await finished(t, other);
    await expectDeliveredOnce(other);
    expect((await onPeer(other)).devices[0]!.id).toBe((await onPeer(resources)).devices[0]!.id);

    expect((await auditOf(t, resources)).map((e) => e.outcome)).toEqual(["4", "0"]);
    expect(logs.join("")).not.toContain(PATIENT_ID);
  });

  it("retries when the target does not answer in time, and what it processed late creates nothing twice", async () => {
    const { t, worker } = await startGateway({ TRRG_FHIR_DELIVERY_TIMEOUT: "1s" });
    worker();
    peer.delayNext(1, 2500);
    const resources = await publish(t);
    const delivery = await finished(t, resources);
    expect(delivery.state).toBe("delivered");
    expect(delivery.attempts).toBeGreaterThanOrEqual(2);
    const [firstAttempt] = await auditOf(t, resources);
    expect(firstAttempt!.outcomeDesc).toMatch(/no answer from the target within 1000 ms/);
    // The slow first post is processed after the retry was answered: conditional create finds what the retry made.
    await waitFor("the late post processed", async () => transactionsOf(resources).length === delivery.attempts);
    await expectDeliveredOnce(resources);
  });

  it("holds every report while the target is down and delivers each exactly once when it is back", async () => {
    const { t, worker } = await startGateway();
    // Two workers, as two processes would run: they never post the same delivery at once.
    worker();
    worker();
    await peer.stop();
    const published: ReportResources[] = [];
    for (let i = 0; i < 4; i++) published.push(await publish(t));
    await waitFor("every delivery retried at least twice", async () => {
      const rows = await t.services.deliveries.list({ state: "pending" });
      const ours = rows.filter((d) => published.some((r) => r.report.id === d.reportId));
      return ours.length === published.length && ours.every((d) => d.attempts >= 2);
    });
    const waiting = await t.services.deliveries.list({ state: "pending" });
    for (const delivery of waiting) expect(delivery).toMatchObject({ lastStatus: null, lastError: expect.stringMatching(/cannot reach the target: ECONNREFUSED/) });

    await peer.start();
    for (const resources of published) {
      const delivery = await finished(t, resources);
      expect(delivery.state).toBe("delivered");
      expect(delivery.attempts).toBeGreaterThan(2);
      await expectDeliveredOnce(resources);
      expect(transactionsOf(resources)).toHaveLength(1);
    }
    expect(await t.services.deliveries.counts()).toEqual({ pending: 0, delivered: 4, rejected: 0 });
  });

  it("retries 503 answers, and waits as long as a 429's Retry-After says", async () => {
    const { t, worker } = await startGateway();
    worker();
    peer.failNext(2, 503);
    const unavailable = await publish(t);
    expect(await finished(t, unavailable)).toMatchObject({ state: "delivered", attempts: 3 });

    peer.failNext(1, 429, { "retry-after": "1" });
    const throttled = await publish(t);
    const waiting = await waitFor("the throttled attempt", async () => {
      const [delivery] = await deliveriesOf(t, throttled);
      return delivery?.attempts === 1 && delivery.lastStatus === 429 ? delivery : undefined;
    });
    expect(Date.parse(waiting.nextAttemptAt) - Date.parse(waiting.updatedAt)).toBeGreaterThanOrEqual(1000);
    expect(await finished(t, throttled)).toMatchObject({ state: "delivered", attempts: 2 });
    await expectDeliveredOnce(throttled);
  });

  it("ends a bundle the target refuses as rejected, with the target's OperationOutcome, and never retries it", async () => {
    const { t, worker, logs } = await startGateway();
    worker();
    peer.refuseResourceType("Provenance");
    const resources = await publish(t);
    const delivery = await finished(t, resources);

    expect(delivery).toMatchObject({ state: "rejected", attempts: 1, lastStatus: 422 });
    expect(delivery.outcome!.issue![0]).toMatchObject({ severity: "error", code: "business-rule", diagnostics: expect.stringMatching(/does not accept Provenance/) });
    expect(delivery.lastError).toMatch(/refused the bundle \(422\)/);
    // The transaction failed as a whole: nothing of the report is at the target.
    expect((await onPeer(resources)).reports).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await t.services.deliveries.get(delivery.id)).toMatchObject({ state: "rejected", attempts: 1 });
    expect(transactionsOf(resources)).toHaveLength(0);
    expect((await auditOf(t, resources)).map((e) => e.outcome)).toEqual(["8"]);
    // The log says what was refused by code and element, not in the target's words (they may quote patient data).
    const rejected = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "FHIR delivery rejected by the target; the OperationOutcome is in the outbox");
    expect(rejected).toMatchObject({ status: 422, issues: [{ severity: "error", code: "business-rule" }] });
    expect(JSON.stringify(rejected)).not.toContain("does not accept");

    // What an operator sees: `trrg-gateway deliveries` lists it with the target's reason.
    let printed = "";
    const out = new Writable({ write: (chunk: Buffer, _encoding, done) => ((printed += chunk.toString()), done()) });
    expect(await runDeliveriesCommand(t.services.config, {}, out)).toBe(0);
    expect(printed).toContain(`deliveries to ${peer.baseUrl}: 0 pending, 0 delivered, 1 rejected`);
    expect(printed).toMatch(new RegExp(`${delivery.id}  rejected  report ${resources.report.id} v1  attempts 1  HTTP 422  .*business-rule: this server does not accept Provenance`));
  });

  it("rejects a bundle that fails the target's validation (400), keeping the validator's OperationOutcome", async () => {
    const { t, worker } = await startGateway();
    // Not something publishReport would enqueue (it validates against our profiles): a DiagnosticReport without code.
    const resources = buildReportResources(makePipelineResult(), { studyInstanceUID: newUid(), patientId: PATIENT_ID }, t.services.config.fhir, new Date());
    const invalid: Bundle = transactionBundle(resources);
    delete (invalid.entry!.find((e) => e.resource?.resourceType === "DiagnosticReport")!.resource as Partial<DiagnosticReport>).code;
    await t.services.db.transaction().execute((trx) => enqueueDelivery(trx, { reportId: resources.report.id!, reportVersion: 1, bundle: invalid }));
    worker();
    const rejected = await finished(t, resources);
    expect(rejected).toMatchObject({ state: "rejected", lastStatus: 400, attempts: 1 });
    expect(rejected.outcome!.issue![0]).toMatchObject({ severity: "error", expression: ["DiagnosticReport.code"] });
    expect((await onPeer(resources)).reports).toEqual([]);
  });
});

describe("the delivery outbox", () => {
  it("leases a delivery to one worker at a time, and drops the late outcome of a worker whose lease expired", async () => {
    const { t } = await startGateway();
    const resources = await publish(t);
    let now = new Date();
    const outbox = new DeliveryOutbox(t.services.db, { retryBaseMs: 1000, retryCapMs: 8000, leaseMs: 60_000 }, () => now);
    const a = await outbox.claim("worker-a");
    expect(a?.delivery).toMatchObject({ reportId: resources.report.id, attempts: 1, leaseOwner: "worker-a" });
    expect(a?.bundle).toEqual(transactionBundle(resources));
    expect(await outbox.claim("worker-b")).toBeUndefined();
    // Worker a hangs past its lease: b takes the delivery over, and a's outcome no longer counts.
    now = new Date(now.getTime() + 60_001);
    const b = await outbox.claim("worker-b");
    expect(b?.lease).toMatchObject({ owner: "worker-b", attempt: 2 });
    expect(await outbox.delivered(a!.lease, 200, { entries: [] })).toBeUndefined();
    const retried = await outbox.retry(b!.lease, 503, "the target answered 503");
    // Retry 2 waits base × 2; the cap bounds later ones.
    expect(retried).toMatchObject({ state: "pending", attempts: 2, lastStatus: 503, leaseOwner: null });
    expect(Date.parse(retried!.nextAttemptAt) - now.getTime()).toBe(2000);
    expect(outbox.backoffMs(10)).toBe(8000);
    expect(await outbox.claim("worker-a")).toBeUndefined();
    now = new Date(now.getTime() + 2000);
    expect((await outbox.claim("worker-a"))?.lease.attempt).toBe(3);
  });
});

describe("authentication to the target", () => {
  /** The EHR's authorization server: a second test app listening on loopback, its embedded oidc-provider issuing tokens. */
  let ehr: TestApp;
  let ehrServer: http.Server;
  let ehrOrigin: string;
  let tokenRequests = 0;
  let keysDir: string;
  let keyFile: string;
  let wrongKeyFile: string;
  const CLIENT_ID = "trrg-delivery";

  async function privateJwkFile(name: string, alg: "RS384" | "ES384", kid: string): Promise<{ file: string; publicJwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const file = path.join(keysDir, name);
    await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid, alg }] }), { mode: 0o600 });
    return { file, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
  }

  /** Tokens the peer accepts: signed by the EHR's server for its audience, with the scope delivery asked for. */
  async function verifyEhrToken(token: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(ehr.services.authorizationServer!.publicJwks), {
        issuer: ehr.services.config.auth.issuer,
        audience: ehr.services.config.auth.audience,
      });
      return typeof payload.scope === "string" && payload.scope.split(" ").includes("system/DiagnosticReport.cr");
    } catch {
      return false;
    }
  }

  beforeAll(async () => {
    keysDir = await mkdtemp(path.join(tmpdir(), "trrg-delivery-keys-"));
    const es384 = await privateJwkFile("es384.json", "ES384", "delivery-es384");
    keyFile = es384.file;
    // Same kid, another key: what the EHR's server holds for us no longer matches.
    wrongKeyFile = (await privateJwkFile("wrong.json", "ES384", "delivery-es384")).file;
    const clientsFile = path.join(keysDir, "clients.json");
    const clients = [
      { ...TEST_CLIENTS.system, token_endpoint_auth_method: "client_secret_basic" },
      { client_id: CLIENT_ID, token_endpoint_auth_method: "private_key_jwt", scope: DEFAULT_TARGET_SCOPE, jwks: { keys: [es384.publicJwk] } },
    ];
    await writeFile(clientsFile, JSON.stringify(clients), { mode: 0o600 });
    // Listen first: the issuer URL, which client assertions must name, holds the port.
    ehrServer = http.createServer();
    ehrServer.listen(0, "127.0.0.1");
    await new Promise((resolve) => ehrServer.once("listening", resolve));
    ehrOrigin = `http://127.0.0.1:${(ehrServer.address() as AddressInfo).port}`;
    ehr = await startTestApp({ TRRG_PUBLIC_URL: ehrOrigin, TRRG_AUTH_CLIENTS_FILE: clientsFile });
    ehrServer.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.url === "/oauth2/token") tokenRequests++;
      ehr.app(req, res);
    });
  });
  afterAll(async () => {
    await new Promise((resolve) => ehrServer.close(resolve));
    await ehr.close();
    await rm(keysDir, { recursive: true, force: true });
  });

  const smartBackend = (file: string) => ({ TRRG_FHIR_TARGET_AUTH: "smart-backend", TRRG_FHIR_TARGET_CLIENT_ID: CLIENT_ID, TRRG_FHIR_TARGET_KEY_FILE: file });

  it("delivers with SMART Backend Services tokens, the token endpoint found in the target's SMART configuration, one token for many deliveries", async () => {
    peer.smartConfiguration = { token_endpoint: `${ehrOrigin}/oauth2/token`, token_endpoint_auth_methods_supported: ["private_key_jwt"] };
    peer.requireToken(verifyEhrToken);
    const { t, worker, logs } = await startGateway(smartBackend(keyFile));
    worker();
    const before = tokenRequests;
    const published = [await publish(t), await publish(t), await publish(t)];
    for (const resources of published) expect(await finished(t, resources)).toMatchObject({ state: "delivered", attempts: 1 });
    expect(tokenRequests - before).toBe(1);
    const tokens = new Set(published.flatMap((r) => transactionsOf(r).map((req) => req.token)));
    expect(tokens.size).toBe(1);
    const claims = decodeJwt([...tokens][0]!);
    expect(claims).toMatchObject({ client_id: CLIENT_ID, aud: ehr.services.config.auth.audience });
    expect((claims.scope as string).split(" ").sort()).toEqual(DEFAULT_TARGET_SCOPE.split(" ").sort());
    expect(logs.join("")).not.toContain([...tokens][0]!);
  });

  it("answers a 401 at once with a new token, in the same attempt", async () => {
    const refused = new Set<string>();
    peer.requireToken(async (token) => !refused.has(token) && verifyEhrToken(token));
    const { t, worker } = await startGateway({ ...smartBackend(keyFile), TRRG_FHIR_TARGET_TOKEN_URL: `${ehrOrigin}/oauth2/token` });
    worker();
    const first = await publish(t);
    await finished(t, first);
    // The target revokes the token it was given; the next delivery gets a 401 for it.
    refused.add(transactionsOf(first)[0]!.token!);
    const before = tokenRequests;
    const second = await publish(t);
    expect(await finished(t, second)).toMatchObject({ state: "delivered", attempts: 1 });
    expect(tokenRequests - before).toBe(1);
    const posts = peer.requests.filter((r) => r.reportIdentifier === identifierOf(second.report));
    expect(posts.map((r) => r.status)).toEqual([401, 200]);
  });

  it("keeps retrying, and loses nothing, while the authorization server refuses the client's key; delivers once the key is right", async () => {
    peer.requireToken(verifyEhrToken);
    const { t, worker } = await startGateway({ ...smartBackend(wrongKeyFile), TRRG_FHIR_TARGET_TOKEN_URL: `${ehrOrigin}/oauth2/token` });
    worker();
    const resources = await publish(t);
    const retried = await waitFor("several refused attempts", async () => {
      const [delivery] = await deliveriesOf(t, resources);
      return delivery && delivery.attempts >= 3 ? delivery : undefined;
    });
    // The token endpoint's OAuth error and description, and no request reached the target.
    expect(retried).toMatchObject({ state: "pending", lastStatus: null, lastError: expect.stringMatching(/no access token: token request refused by .*: invalid_client: /) });
    expect(peer.requests.filter((r) => r.reportIdentifier === identifierOf(resources.report))).toEqual([]);

    // The operator fixes the key and restarts: the same outbox, and the report goes out.
    await Promise.all(workers.splice(0).map((w) => w.stop(2000)));
    await closeServices(t.services);
    apps.splice(apps.indexOf(t), 1);
    const fixed = await startGateway({ ...smartBackend(keyFile), TRRG_FHIR_TARGET_TOKEN_URL: `${ehrOrigin}/oauth2/token`, TRRG_DATA_DIR: t.dataDir });
    fixed.worker();
    const delivery = await finished(fixed.t, resources);
    expect(delivery.state).toBe("delivered");
    expect(delivery.attempts).toBeGreaterThan(3);
  });

  it("caches the access token until shortly before expires_in runs out", async () => {
    let now = Date.now();
    const client = new BackendServicesClient({
      clientId: CLIENT_ID,
      key: await readClientKey(keyFile),
      scope: "system/DiagnosticReport.cr",
      tokenUrl: `${ehrOrigin}/oauth2/token`,
      fhirBaseUrl: peer.baseUrl,
      timeoutMs: 5000,
      now: () => now,
    });
    const before = tokenRequests;
    const token = await client.accessToken();
    expect(decodeJwt(token).exp! - decodeJwt(token).iat!).toBe(300);
    expect(await client.accessToken()).toBe(token);
    now += 239_000;
    expect(await client.accessToken()).toBe(token);
    expect(tokenRequests - before).toBe(1);
    // A fifth of the lifetime (at most a minute) before expiry, a new one.
    now += 2_000;
    expect(await client.accessToken()).not.toBe(token);
    expect(tokenRequests - before).toBe(2);
  });

  it("sends a static token read from its file, and reads the file again after a 401", async () => {
    const tokenFile = path.join(keysDir, "static-token");
    let accepted = "static-token-one-0123456789abcdef";
    await writeFile(tokenFile, `${accepted}\n`, { mode: 0o600 });
    peer.requireToken(async (token) => token === accepted);
    const { t, worker, logs } = await startGateway({ TRRG_FHIR_TARGET_AUTH: "token", TRRG_FHIR_TARGET_TOKEN_FILE: tokenFile });
    expect(JSON.stringify(t.services.config)).not.toContain(accepted);
    worker();
    const first = await publish(t);
    expect(await finished(t, first)).toMatchObject({ state: "delivered", attempts: 1 });
    expect(transactionsOf(first)[0]!.token).toBe(accepted);
    // The token is rotated in its file; the target takes only the new one.
    accepted = "static-token-two-0123456789abcdef";
    await writeFile(tokenFile, accepted);
    const second = await publish(t);
    expect(await finished(t, second)).toMatchObject({ state: "delivered", attempts: 1 });
    expect(logs.join("")).not.toMatch(/static-token-/);
  });
});
