// A real app over a fresh data folder (real SQLite, real files, the real embedded OAuth server; with
// TEST_STORE=postgres real PostgreSQL and Redis dispatch instead) for tests that go through HTTP.
// `api` is a supertest agent that sends a real access token with every request.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Express } from "express";
import request from "supertest";
import type TestAgent from "supertest/lib/agent.js";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { closeServices, openServices, type Services } from "../../src/services.js";
import { createLogger, type Logger } from "../../src/log.js";
import { makeMultipartRelated } from "../fixtures/dicomFactory.js";
import { scaleOutEnv } from "./scaleOut.js";

export const PUBLIC_URL = "http://127.0.0.1:8080";
/** Signing keys shared by the tests of one run: generating RSA keys for every app would be slow. */
export const SHARED_KEYS_FILE = path.join(tmpdir(), "trrg-test-oauth-keys.json");

export interface TestClient {
  client_id: string;
  client_secret: string;
  scope: string;
  patient?: string;
}

/** Clients registered with the embedded authorization server of every test app. */
export const TEST_CLIENTS = {
  system: { client_id: "test-system", client_secret: "system-secret-0123456789abcdef", scope: "system/ImagingStudy.cruds system/AuditEvent.rs system/DiagnosticReport.rs system/Observation.rs system/Device.rs system/Provenance.rs system/Task.cruds" },
  noImaging: { client_id: "test-observer", client_secret: "observer-secret-0123456789abcdef", scope: "system/Observation.rs" },
  /** A second system, for what one client must not do to another's resources (e.g. UPS subscriptions). */
  otherSystem: { client_id: "test-other-system", client_secret: "other-system-secret-0123456789abcdef", scope: "system/Task.rs" },
  patient: { client_id: "test-patient-app", client_secret: "patient-secret-0123456789abcdef", scope: "patient/ImagingStudy.cruds patient/Task.rs patient/DiagnosticReport.rs patient/Observation.rs patient/Provenance.rs", patient: "PATIENT-OTHER" },
} satisfies Record<string, TestClient>;

export interface TestApp {
  app: Express;
  services: Services;
  dataDir: string;
  /** Sends requests with a token of the `system` test client (all imaging and audit scopes). */
  api: TestAgent;
  /** A real access token from the embedded server for one of TEST_CLIENTS. */
  token(client?: TestClient, scope?: string): Promise<string>;
  /** Closes the services and deletes the data folder. */
  close(): Promise<void>;
}

/** Writes a clients file registering `clients` (default: all TEST_CLIENTS) with client_secret_basic; returns its path. */
export async function writeTestClients(file: string, clients: readonly TestClient[] = Object.values(TEST_CLIENTS)): Promise<string> {
  await writeFile(file, JSON.stringify(clients.map((client) => ({ ...client, token_endpoint_auth_method: "client_secret_basic" }))), { mode: 0o600 });
  return file;
}

/** Gets a token from the app's own /oauth2/token endpoint (client_credentials, client_secret_basic); `app` or its URL. */
export async function requestToken(app: Express | string, client: TestClient, scope = client.scope): Promise<string> {
  const res = await request(app)
    .post("/oauth2/token")
    .auth(client.client_id, client.client_secret)
    .type("form")
    .send({ grant_type: "client_credentials", scope });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { access_token: string }).access_token;
}

/** Test apps log at debug level into the file that test/support/logCapture.ts checks for patient data. */
function suiteLogger(): Logger | undefined {
  const file = process.env.TEST_LOG_CAPTURE_FILE;
  return file ? createLogger("debug", createWriteStream(file, { flags: "a" })) : undefined;
}

/**
 * Starts the app on a new temporary data folder; pass TRRG_DATA_DIR in env to reopen an existing one. With
 * TEST_STORE=postgres it runs on the run's PostgreSQL and Redis (test/support/scaleOut.ts).
 */
export async function startTestApp(env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<TestApp> {
  const dataDir = env.TRRG_DATA_DIR ?? (await mkdtemp(path.join(tmpdir(), "trrg-test-")));
  await mkdir(dataDir, { recursive: true });
  const config = loadConfig({
    TRRG_LOG_LEVEL: "silent",
    TRRG_STORAGE_MIN_FREE: "0",
    TRRG_PUBLIC_URL: PUBLIC_URL,
    TRRG_AUTH_KEYS_FILE: SHARED_KEYS_FILE,
    TRRG_AUTH_CLIENTS_FILE: await writeTestClients(path.join(dataDir, "test-clients.json")),
    TRRG_RATE_LIMIT: "0",
    ...(await scaleOutEnv(dataDir, env)),
    ...env,
    TRRG_DATA_DIR: dataDir,
  });
  const services = await openServices(config, options.logger ?? suiteLogger());
  const app = createApp(services);
  // In external mode there is no token endpoint here: the test brings tokens from its issuer.
  const api = services.authorizationServer
    ? request.agent(app).set("Authorization", `Bearer ${await requestToken(app, TEST_CLIENTS.system)}`)
    : request.agent(app);
  return {
    app,
    services,
    dataDir,
    api,
    token: (client = TEST_CLIENTS.system, scope?: string) => requestToken(app, client, scope),
    close: async () => {
      await closeServices(services);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Stores instances through the real STOW-RS route with the system client's token. */
export function storeInstances(t: TestApp, buffers: Buffer[], target = "/dicomweb/studies") {
  const { body, contentType } = makeMultipartRelated(buffers);
  return t.api.post(target).set("Content-Type", contentType).set("Accept", "application/dicom+json").send(body);
}
