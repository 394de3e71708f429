// The whole path as `serve` runs it (src/server.ts): phantom studies stored over STOW-RS on a listening server
// become report jobs, the TRRG pipeline reports them, the reports are published under /fhir and delivered to the
// EHR's FHIR server (a real one, test/support/fhirPeer.ts) once each, with a static bearer token.
import type { DiagnosticReport } from "@medplum/fhirtypes";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePhantomStudy } from "../src/phantom/study.js";
import { type RunningServer } from "../src/server.js";
import { makeMultipartRelated } from "./fixtures/dicomFactory.js";
import { startFhirPeer, type FhirPeer } from "./support/fhirPeer.js";
import { TEST_CLIENTS } from "./support/testApp.js";
import { startReportingServer, type ReportingServer } from "./support/reportingServer.js";
import { until } from "./support/until.js";

const EHR_TOKEN = "ehr-static-token-0123456789";
const STUDIES = 3;

let dataDir: string;
let peer: FhirPeer;
let service: ReportingServer;
let server: RunningServer;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "trrg-e2e-"));
  peer = await startFhirPeer();
  peer.requireToken(async (token) => token === EHR_TOKEN);
  const tokenFile = path.join(dataDir, "ehr-token");
  await writeFile(tokenFile, EHR_TOKEN, { mode: 0o600 });
  service = await startReportingServer(dataDir, {
    TRRG_JOB_QUIET_PERIOD: "100ms",
    TRRG_FHIR_TARGET_URL: peer.baseUrl,
    TRRG_FHIR_TARGET_AUTH: "token",
    TRRG_FHIR_TARGET_TOKEN_FILE: tokenFile,
    TRRG_FHIR_DELIVERY_RETRY_BASE: "100ms",
  });
  server = service.server;
});
afterAll(async () => {
  await service?.stop();
  await peer?.stop();
  await rm(dataDir, { recursive: true, force: true });
});


describe("a chest X-ray stored over STOW-RS", () => {
  it("reaches the EHR's FHIR server as one preliminary DiagnosticReport per study, readable here too", async () => {
    const granted = await request(server.url)
      .post("/oauth2/token")
      .auth(TEST_CLIENTS.system.client_id, TEST_CLIENTS.system.client_secret)
      .type("form")
      .send({ grant_type: "client_credentials", scope: TEST_CLIENTS.system.scope });
    const token = granted.body.access_token as string;
    const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(2_000_601 + i, { rows: 512, columns: 512, pixelSpacingMm: 0.7 }));
    for (const study of studies) {
      const { body, contentType } = makeMultipartRelated(study.images.map((i) => i.part10));
      const stored = await request(server.url).post("/dicomweb/studies").set("Authorization", `Bearer ${token}`).set("Content-Type", contentType).send(body);
      expect(stored.status).toBe(200);
    }
    for (const study of studies) {
      const identifier = `urn:dicom:uid|urn:oid:${study.studyInstanceUID}`;
      const local = await until(async () => {
        const res = await request(server.url).get(`/fhir/DiagnosticReport?study-instance-uid=${encodeURIComponent(identifier)}`).set("Authorization", `Bearer ${token}`);
        return res.body.total === 1 ? (res.body.entry[0].resource as DiagnosticReport) : undefined;
      }, 60_000, 100);
      const delivered = await until(async () => {
        const found = (await peer.search("DiagnosticReport", `identifier=${encodeURIComponent(local.identifier![0]!.system + "|" + local.identifier![0]!.value)}`)) as DiagnosticReport[];
        return found.length > 0 ? found : undefined;
      }, 60_000, 100);
      expect(delivered).toHaveLength(1);
      expect(delivered[0]).toMatchObject({ status: "preliminary", conclusion: local.conclusion, imagingStudy: local.imagingStudy });
      expect(delivered[0]!.result).toHaveLength(local.result!.length);
    }
    // The outbox marks a delivery once the target has answered, a moment after the target has the report.
    const marked = await until(async () => {
      const { delivered } = await server.services.deliveries.counts();
      return delivered === STUDIES ? delivered : undefined;
    });
    expect(marked).toBe(STUDIES);
    expect(peer.requests.filter((r) => r.method === "POST").every((r) => r.token === EHR_TOKEN)).toBe(true);
  }, 120_000);
});
