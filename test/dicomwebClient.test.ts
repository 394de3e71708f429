// The outbound DICOMweb client (src/dicomweb/dicomwebClient.ts) over real HTTP: a second gateway plays the PACS
// (its own STOW-RS to fill it, its own WADO-RS and embedded OAuth server to serve it), reached through a
// fault-injecting proxy (test/support/faultProxy.ts); the instances are pulled into the local gateway's real store.
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeJwt, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_PEER_SCOPE, loadConfig, SETTINGS_HELP, type Config } from "../src/config.js";
import { openDicomwebPeers, RETRIEVE_ACCEPT, RetrieveError, type DicomwebPeers } from "../src/dicomweb/dicomwebClient.js";
import { createLogger, type Logger } from "../src/log.js";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { startFaultProxy, type FaultProxy } from "./support/faultProxy.js";
import { freePort } from "./support/rawHttp.js";
import { PUBLIC_URL, startTestApp, storeInstances, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

const PATIENT_ID = "PID-B";
const SMART_CLIENT_ID = "trrg-retrieve";

let pacs: TestApp;
let pacsServer: http.Server;
let pacsOrigin: string;
let tokenRequests = 0;
let proxy: FaultProxy;
let local: TestApp;
let dir: string;
let smartKeyFile: string;
let logs: string[] = [];

/** A study of two series (two instances and one) stored in the PACS by STOW-RS; its files as sent. */
interface PacsStudy {
  study: string;
  series: [string, string];
  instances: Map<string, Buffer>;
}

async function pacsStudy(): Promise<PacsStudy> {
  const study = newUid();
  const series: [string, string] = [newUid(), newUid()];
  const instances = new Map<string, Buffer>();
  [series[0], series[0], series[1]].forEach((seriesInstanceUID, i) => {
    const sopInstanceUID = newUid();
    instances.set(sopInstanceUID, makeInstance({ studyInstanceUID: study, seriesInstanceUID, sopInstanceUID, instanceNumber: i + 1, patientID: PATIENT_ID, seed: i + 7 }));
  });
  const res = await storeInstances(pacs, [...instances.values()]);
  expect(res.status).toBe(200);
  return { study, series, instances };
}

/** The local gateway's index rows of a study, with each stored file's bytes. */
async function localInstances(study: string) {
  const rows = await local.services.db.selectFrom("instances").selectAll().where("study_instance_uid", "=", study).execute();
  return Promise.all(rows.map(async (row) => ({ row, bytes: await readFile(local.services.files.absolutePath(row.file_path)) })));
}

async function expectStoredLocally(pacsStudy: PacsStudy, sopInstanceUIDs = [...pacsStudy.instances.keys()]): Promise<void> {
  const stored = await localInstances(pacsStudy.study);
  expect(stored.map(({ row }) => row.sop_instance_uid).sort()).toEqual([...sopInstanceUIDs].sort());
  for (const { row, bytes } of stored) expect(bytes.equals(pacsStudy.instances.get(row.sop_instance_uid)!)).toBe(true);
  const studyRow = await local.services.db.selectFrom("studies").selectAll().where("study_instance_uid", "=", pacsStudy.study).executeTakeFirstOrThrow();
  expect(studyRow.patient_id).toBe(PATIENT_ID);
}

async function expectNothingStored(study: string): Promise<void> {
  expect(await localInstances(study)).toEqual([]);
  expect(await local.services.files.pendingTemporaryFiles()).toEqual([]);
}

/** Log lines kept for assertions, also written where the suite checks logs for patient data. */
function capturingLogger(): Logger {
  const file = process.env.TEST_LOG_CAPTURE_FILE;
  const suite = file ? createWriteStream(file, { flags: "a" }) : undefined;
  return createLogger("debug", {
    write: (line: string) => {
      logs.push(line);
      suite?.write(line);
    },
  });
}

let peersFiles = 0;

/** The configuration of the local gateway with a peers file holding `peers` (written in `folder`). */
async function configWith(peers: unknown, env: Record<string, string> = {}, folder = dir): Promise<Config> {
  const file = path.join(folder, `peers-${++peersFiles}.json`);
  await writeFile(file, typeof peers === "string" ? peers : JSON.stringify(peers));
  return loadConfig({ TRRG_DATA_DIR: local.dataDir, TRRG_PUBLIC_URL: PUBLIC_URL, TRRG_STORAGE_MIN_FREE: "0", TRRG_DICOMWEB_PEERS_FILE: file, ...env });
}

/** The PACS behind the proxy, its token from `auth`; fast retries unless told otherwise. */
function pacsPeer(auth: object, options: { timeoutMs?: number; retries?: number } = {}) {
  return { name: "pacs", baseUrl: `${proxy.origin}/dicomweb`, auth, timeoutMs: options.timeoutMs ?? 5000, retries: options.retries ?? 2 };
}

async function openPeers(peers: unknown[], defaultPeer: string | null = "pacs"): Promise<DicomwebPeers> {
  const config = await configWith(peers, defaultPeer ? { TRRG_DICOMWEB_DEFAULT_PEER: defaultPeer } : {});
  return openDicomwebPeers(config, { index: local.services.index, files: local.services.files, logger: capturingLogger() });
}

/** A token file holding a real token of the PACS for its WADO-RS. */
async function tokenFile(token?: string): Promise<string> {
  const file = path.join(dir, `token-${++peersFiles}.txt`);
  await writeFile(file, token ?? (await pacs.token()), { mode: 0o600 });
  return file;
}

async function rejection(promise: Promise<unknown>): Promise<RetrieveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RetrieveError);
  return error as RetrieveError;
}

const statuses = () => proxy.requests.map((r) => r.status);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-dicomweb-client-"));
  const { privateKey, publicKey } = await generateKeyPair("ES384", { extractable: true });
  smartKeyFile = path.join(dir, "retrieve-es384.json");
  await writeFile(smartKeyFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid: "retrieve-es384", alg: "ES384" }), { mode: 0o600 });
  const clientsFile = path.join(dir, "pacs-clients.json");
  const publicJwk = { ...(await exportJWK(publicKey)), kid: "retrieve-es384", alg: "ES384", use: "sig" };
  await writeFile(
    clientsFile,
    JSON.stringify([
      { ...TEST_CLIENTS.system, token_endpoint_auth_method: "client_secret_basic" },
      { client_id: SMART_CLIENT_ID, token_endpoint_auth_method: "private_key_jwt", scope: DEFAULT_PEER_SCOPE, jwks: { keys: [publicJwk] } },
    ]),
    { mode: 0o600 },
  );
  // Listen first: the PACS's issuer and audience, which its tokens and our client assertions name, hold the port.
  pacsServer = http.createServer();
  await new Promise<void>((resolve) => pacsServer.listen(0, "127.0.0.1", resolve));
  const pacsPort = (pacsServer.address() as AddressInfo).port;
  pacsOrigin = `http://127.0.0.1:${pacsPort}`;
  pacs = await startTestApp({ TRRG_PUBLIC_URL: pacsOrigin, TRRG_AUTH_CLIENTS_FILE: clientsFile });
  pacsServer.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === "/oauth2/token") tokenRequests++;
    pacs.app(req, res);
  });
  proxy = await startFaultProxy(pacsPort);
  local = await startTestApp();
});
afterAll(async () => {
  await proxy?.close();
  pacsServer?.closeAllConnections();
  await new Promise((resolve) => pacsServer?.close(resolve));
  await pacs?.close();
  await local?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.reset();
  logs = [];
});

describe("WADO-RS retrieve into the local store", () => {
  it("retrieves a whole study from the default peer with a static token: every instance stored byte for byte and indexed", async () => {
    const study = await pacsStudy();
    const token = await pacs.token();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile(token) })]);

    const result = await peers.retrieveStudy(study.study);

    expect(result).toMatchObject({ peer: "pacs", studyInstanceUIDs: [study.study], attempts: 1 });
    expect(result.outcome.stored).toHaveLength(3);
    expect(result.outcome.failed).toEqual([]);
    expect(result.outcome.stored[0]!.retrieveURL).toMatch(new RegExp(`^${PUBLIC_URL}/dicomweb/studies/${study.study}/series/`));
    await expectStoredLocally(study);
    expect(proxy.requests).toEqual([
      { method: "GET", url: `/dicomweb/studies/${study.study}`, accept: RETRIEVE_ACCEPT, authorization: `Bearer ${token}`, status: 200, fault: undefined },
    ]);
    // Logs name the peer and counts; never a UID, the patient or the token.
    const log = logs.join("");
    expect(log).toMatch(/"peer":"pacs".*"instances":3.*WADO-RS retrieve stored/);
    for (const secret of [study.study, ...study.series, ...study.instances.keys(), PATIENT_ID, token]) expect(log).not.toContain(secret);
  });

  it("follows Retrieve URLs of a series and of an instance, storing just what they name", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    const [first, , third] = [...study.instances.keys()];

    const series = await peers.retrieveUrl(`${proxy.origin}/dicomweb/studies/${study.study}/series/${study.series[1]}`);
    expect(series.outcome.stored.map((s) => s.sopInstanceUID)).toEqual([third]);
    const instance = await peers.retrieveUrl(`${proxy.origin}/dicomweb/studies/${study.study}/series/${study.series[0]}/instances/${first}#frag`);
    expect(instance.outcome.stored.map((s) => s.sopInstanceUID)).toEqual([first]);

    await expectStoredLocally(study, [first!, third!]);
  });

  it("retrieves again what is already stored, unchanged", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    await peers.retrieveStudy(study.study);
    const again = await peers.retrieveStudy(study.study);
    expect(again.outcome.stored).toHaveLength(3);
    await expectStoredLocally(study);
  });

  it("refuses, without sending a request, a Retrieve URL that lies under no peer", async () => {
    const elsewhere = http.createServer((_req, res) => res.end());
    let reached = 0;
    elsewhere.on("request", () => reached++);
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    const elsewherePort = (elsewhere.address() as AddressInfo).port;
    try {
      const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
      const study = newUid();
      for (const url of [
        `http://127.0.0.1:${elsewherePort}/dicomweb/studies/${study}`,
        `http://localhost:${new URL(proxy.origin).port}/dicomweb/studies/${study}`,
        `${proxy.origin}/dicomweb-other/studies/${study}`,
        `${proxy.origin}/dicomweb/../oauth2/studies/${study}`,
        `http://user:pw@${new URL(proxy.origin).host}/dicomweb/studies/${study}`,
        "not a url",
      ]) {
        const error = await rejection(peers.retrieveUrl(url));
        expect(error.failure).toBe("outside-peers");
        expect(error.message).toMatch(/lies under no peer of TRRG_DICOMWEB_PEERS_FILE; it is not followed/);
        expect(error.message).not.toContain(study);
        expect(error.retryable).toBe(false);
      }
      // Under the peer, but not a study, series or instance resource.
      for (const url of [`${proxy.origin}/dicomweb/studies/${study}/metadata`, `${proxy.origin}/dicomweb/studies/not-a-uid`, `${proxy.origin}/dicomweb/studies/${study}?includefield=all`]) {
        expect((await rejection(peers.retrieveUrl(url))).failure).toBe("not-a-retrieve-url");
      }
      expect(reached).toBe(0);
      expect(proxy.requests).toEqual([]);
    } finally {
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });

  it("says so when only a Study Instance UID is given and no default peer is set", async () => {
    const peers = await openPeers([pacsPeer({ kind: "none" })], null);
    expect((await rejection(peers.retrieveStudy(newUid()))).failure).toBe("no-default-peer");
    expect(proxy.requests).toEqual([]);
  });
});

describe("authentication to the peer", () => {
  it("gets a SMART Backend Services token from the peer's token endpoint, and reuses it", async () => {
    const study = await pacsStudy();
    // The key file is named relative to the peers file.
    const peers = await openPeers([pacsPeer({ kind: "smart-backend", clientId: SMART_CLIENT_ID, keyFile: path.basename(smartKeyFile), tokenUrl: `${pacsOrigin}/oauth2/token` })]);
    const before = tokenRequests;

    await peers.retrieveStudy(study.study);
    await peers.retrieveUrl(`${proxy.origin}/dicomweb/studies/${study.study}/series/${study.series[0]}`);

    expect(tokenRequests - before).toBe(1);
    await expectStoredLocally(study);
    const [first, second] = proxy.requests;
    expect(first!.authorization).toBe(second!.authorization);
    const claims = decodeJwt(first!.authorization!.replace(/^Bearer /, ""));
    expect(claims).toMatchObject({ client_id: SMART_CLIENT_ID, aud: pacsOrigin, scope: DEFAULT_PEER_SCOPE });
  });

  it("answers a 401 with a new SMART token at once, in the same attempt", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "smart-backend", clientId: SMART_CLIENT_ID, keyFile: smartKeyFile, tokenUrl: `${pacsOrigin}/oauth2/token` })]);
    await peers.retrieveUrl(`${proxy.origin}/dicomweb/studies/${study.study}/series/${study.series[1]}`);
    const before = tokenRequests;
    proxy.inject({ kind: "answer", status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } });

    const result = await peers.retrieveStudy(study.study);

    expect(result.attempts).toBe(1);
    expect(tokenRequests - before).toBe(1);
    expect(statuses()).toEqual([200, 401, 200]);
    expect(proxy.requests[2]!.authorization).not.toBe(proxy.requests[1]!.authorization);
  });

  it("reads the token file again after a 401 (the operator replaced the token)", async () => {
    const study = await pacsStudy();
    const file = await tokenFile("stale-token");
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: file })]);
    await writeFile(file, await pacs.token());

    const result = await peers.retrieveStudy(study.study);

    expect(result.attempts).toBe(1);
    expect(statuses()).toEqual([401, 200]);
    await expectStoredLocally(study);
  });

  it("gives up at the second 401, not retried", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile("stale-token") })]);
    const error = await rejection(peers.retrieveStudy(study.study));
    expect(error).toMatchObject({ failure: "credentials", status: 401, retryable: false, attempts: 1 });
    expect(error.message).toBe("DICOMweb peer pacs: the peer refused our credentials (401)");
    expect(statuses()).toEqual([401, 401]);
    await expectNothingStored(study.study);
  });
});

describe("retries", () => {
  it("retries a 503 and stores once the peer answers", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "answer", status: 503 });
    const result = await peers.retrieveStudy(study.study);
    expect(result.attempts).toBe(2);
    expect(statuses()).toEqual([503, 200]);
    await expectStoredLocally(study);
    expect(logs.join("")).toMatch(/"status":503.*WADO-RS retrieve will be retried/);
  });

  it("waits as long as a 429's Retry-After says", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "answer", status: 429, headers: { "retry-after": "1" } });
    const started = Date.now();
    await peers.retrieveStudy(study.study);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(statuses()).toEqual([429, 200]);
  });

  it("ends, retryable, when every attempt fails", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() }, { retries: 2 })]);
    proxy.inject({ kind: "answer", status: 502 }, { kind: "answer", status: 500 }, { kind: "answer", status: 503 });
    const error = await rejection(peers.retrieveStudy(study.study));
    expect(error).toMatchObject({ failure: "unavailable", status: 503, retryable: true, attempts: 3 });
    expect(statuses()).toEqual([502, 500, 503]);
    await expectNothingStored(study.study);
  });

  it("retries a peer that cannot be reached", async () => {
    const closed = await freePort();
    const peers = await openPeers([{ name: "pacs", baseUrl: `http://127.0.0.1:${closed}/dicomweb`, auth: { kind: "none" }, retries: 1 }]);
    const error = await rejection(peers.retrieveStudy(newUid()));
    expect(error).toMatchObject({ failure: "unavailable", retryable: true, attempts: 2 });
    expect(error.message).toMatch(/^DICOMweb peer pacs: no answer: connect ECONNREFUSED/);
  });

  it("times out a peer that does not answer, and retries", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() }, { timeoutMs: 300, retries: 1 })]);
    proxy.inject({ kind: "hang" });
    const result = await peers.retrieveStudy(study.study);
    expect(result.attempts).toBe(2);
    expect(statuses()).toEqual([null, 200]);
    await expectStoredLocally(study);
  });

  it("times out a body that stops coming, storing nothing of it", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() }, { timeoutMs: 300, retries: 0 })]);
    proxy.inject({ kind: "stall", bytes: 12_000 });
    const error = await rejection(peers.retrieveStudy(study.study));
    expect(error).toMatchObject({ failure: "unavailable", retryable: true, attempts: 1 });
    expect(error.message).toMatch(/the response stopped coming for 300 ms/);
    await expectNothingStored(study.study);
  });

  it("retries a response whose connection was cut mid-body; the cut attempt stores nothing twice", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "cut", bytes: 20_000 });
    const result = await peers.retrieveStudy(study.study);
    expect(result.attempts).toBe(2);
    expect(result.outcome.stored).toHaveLength(3);
    await expectStoredLocally(study);
  });

  it("stops at once when the caller aborts", async () => {
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() }, { timeoutMs: 10_000 })]);
    proxy.inject({ kind: "hang" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await expect(peers.retrieveStudy(newUid(), { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(proxy.requests).toHaveLength(1);
  });
});

describe("refusals and bad responses, not retried", () => {
  it("reports a 404 as not-found after one request", async () => {
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    const error = await rejection(peers.retrieveStudy(newUid()));
    expect(error).toMatchObject({ failure: "not-found", status: 404, retryable: false, attempts: 1 });
    expect(error.message).toBe("DICOMweb peer pacs: the peer has no such study (404)");
    expect(statuses()).toEqual([404]);
  });

  it("reports another 4xx as refused, with the peer's Warning", async () => {
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "answer", status: 403, headers: { warning: "299 pacs: not your study" } });
    const error = await rejection(peers.retrieveStudy(newUid()));
    expect(error).toMatchObject({ failure: "refused", status: 403, retryable: false });
    expect(error.message).toMatch(/refused the retrieve \(403\): 299 pacs: not your study/);
    expect(proxy.requests).toHaveLength(1);
  });

  it("does not follow a redirect (the token would go with it)", async () => {
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "answer", status: 302, headers: { location: "http://127.0.0.1:1/elsewhere" } });
    expect(await rejection(peers.retrieveStudy(newUid()))).toMatchObject({ failure: "redirected", status: 302 });
    expect(proxy.requests).toHaveLength(1);
  });

  it("stores nothing of a truncated multipart body", async () => {
    const study = await pacsStudy();
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);
    proxy.inject({ kind: "truncate", bytes: 20_000 });
    const error = await rejection(peers.retrieveStudy(study.study));
    expect(error).toMatchObject({ failure: "bad-response", retryable: false, attempts: 1 });
    expect(error.message).toMatch(/not a whole multipart\/related body: body ended before the closing boundary delimiter/);
    expect(proxy.requests).toHaveLength(1);
    await expectNothingStored(study.study);
  });

  it("reports a response with no instance as empty, and one that is not multipart/related as bad", async () => {
    const peers = await openPeers([pacsPeer({ kind: "none" })]);
    proxy.inject(
      { kind: "answer", status: 200, headers: { "content-type": 'multipart/related; type="application/dicom"; boundary=b' }, body: "--b--\r\n" },
      { kind: "answer", status: 200, headers: { "content-type": "application/dicom+json" }, body: "[]" },
    );
    expect(await rejection(peers.retrieveStudy(newUid()))).toMatchObject({ failure: "empty", status: 200 });
    const bad = await rejection(peers.retrieveStudy(newUid()));
    expect(bad.failure).toBe("bad-response");
    expect(bad.message).toMatch(/media type application\/dicom\+json is not supported/);
    expect(proxy.requests).toHaveLength(2);
  });

  it("reports instances that could not be stored, with what was", async () => {
    const study = await pacsStudy();
    const [clash] = study.instances.keys();
    // The local store already holds other content under one of the SOP Instance UIDs.
    const series = study.series[0];
    const res = await storeInstances(local, [makeInstance({ studyInstanceUID: study.study, seriesInstanceUID: series, sopInstanceUID: clash, patientID: PATIENT_ID, seed: 99 })]);
    expect(res.status).toBe(200);
    const peers = await openPeers([pacsPeer({ kind: "token", tokenFile: await tokenFile() })]);

    const error = await rejection(peers.retrieveStudy(study.study));

    expect(error).toMatchObject({ failure: "incomplete", retryable: false });
    expect(error.message).toBe("DICOMweb peer pacs: 1 of 3 instances were not stored (0x0111)");
    expect(error.outcome?.stored).toHaveLength(2);
    expect(error.outcome?.failed).toMatchObject([{ sopInstanceUID: clash, failureReason: 0x0111 }]);
  });
});

describe("configuration of the peers", () => {
  const problems = async (peers: unknown, env: Record<string, string> = {}) => {
    try {
      await configWith(peers, env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error("no ConfigError");
  };
  const valid = { name: "pacs", baseUrl: "https://pacs.example.org/dicom-web/", auth: { kind: "none" } };

  it("reads the peers with their defaults, file paths relative to the peers file", async () => {
    const config = await configWith(
      [valid, { name: "archive", baseUrl: "http://archive.local/wado", auth: { kind: "smart-backend", clientId: "gw", keyFile: "keys/k.json" }, retries: 0 }, { name: "ris", baseUrl: "http://ris.local/dw", auth: { kind: "token", tokenFile: "/abs/t" } }],
      { TRRG_DICOMWEB_DEFAULT_PEER: "archive" },
    );
    expect(config.dicomwebClient).toEqual({
      peers: [
        { name: "pacs", baseUrl: "https://pacs.example.org/dicom-web", auth: { kind: "none" }, timeoutMs: 30_000, retries: 3 },
        { name: "archive", baseUrl: "http://archive.local/wado", auth: { kind: "smart-backend", clientId: "gw", keyFile: path.join(dir, "keys/k.json"), tokenUrl: undefined, scope: DEFAULT_PEER_SCOPE }, timeoutMs: 30_000, retries: 0 },
        { name: "ris", baseUrl: "http://ris.local/dw", auth: { kind: "token", tokenFile: "/abs/t" }, timeoutMs: 30_000, retries: 3 },
      ],
      defaultPeer: "archive",
    });
    expect(loadConfig({}).dicomwebClient).toEqual({ peers: [], defaultPeer: undefined });
  });

  it("names the file and the problem of a file that is not JSON, or not an array", async () => {
    expect(await problems("[{ name: pacs }")).toEqual([expect.stringMatching(/^TRRG_DICOMWEB_PEERS_FILE: cannot read ".*peers-\d+\.json" as JSON: /)]);
    expect(await problems({ pacs: valid })).toEqual([expect.stringMatching(/^TRRG_DICOMWEB_PEERS_FILE: ".*", the file: expected a JSON array of peers$/)]);
    expect(() => loadConfig({ TRRG_DICOMWEB_PEERS_FILE: "/nonexistent/peers.json" })).toThrow(/TRRG_DICOMWEB_PEERS_FILE: cannot read "\/nonexistent\/peers.json"/);
  });

  it("names the peer and the field of each bad entry", async () => {
    const found = await problems([
      { ...valid, baseUrl: "ftp://pacs.example.org" },
      { name: "b", baseUrl: "https://u:p@pacs.example.org/dw?x=1", auth: { kind: "token" } },
      { name: "c", baseUrl: "https://c.example.org", auth: { kind: "oauth" }, timeoutMs: "5s" },
      { ...valid, name: "d", extra: 1 },
    ]);
    expect(found.map((p) => p.replace(/^TRRG_DICOMWEB_PEERS_FILE: "[^"]+", /, ""))).toEqual([
      'peer 0 (pacs) baseUrl: expected an http(s) URL, got "ftp://pacs.example.org"',
      "peer 1 (b) baseUrl: must not hold credentials: give them in auth",
      "peer 1 (b) baseUrl: must not have a query or fragment",
      "peer 1 (b) auth.tokenFile: Invalid input: expected string, received undefined",
      "peer 2 (c) auth.kind: Invalid discriminator value. Expected 'none' | 'token' | 'smart-backend'",
      "peer 2 (c) timeoutMs: Invalid input: expected number, received string",
      'peer 3 (d): Unrecognized key: "extra"',
    ]);
    expect(await problems([valid, { ...valid, baseUrl: "https://other.example.org/dw" }])).toEqual([expect.stringMatching(/peer 1 \(pacs\) name: "pacs" is listed twice$/)]);
  });

  it("refuses a default peer that is not listed, or without a peers file", async () => {
    expect(await problems([valid], { TRRG_DICOMWEB_DEFAULT_PEER: "archive" })).toEqual([
      'TRRG_DICOMWEB_DEFAULT_PEER: "archive" is not a peer of TRRG_DICOMWEB_PEERS_FILE (listed: pacs)',
    ]);
    expect(() => loadConfig({ TRRG_DICOMWEB_DEFAULT_PEER: "pacs" })).toThrow(/TRRG_DICOMWEB_DEFAULT_PEER: set, but TRRG_DICOMWEB_PEERS_FILE is not/);
  });

  it("refuses to open a peer whose token file or key file cannot be read, naming the peer", async () => {
    const store = { index: local.services.index, files: local.services.files, logger: capturingLogger() };
    const missingToken = await configWith([{ ...valid, auth: { kind: "token", tokenFile: "missing-token.txt" } }]);
    await expect(openDicomwebPeers(missingToken, store)).rejects.toThrow(
      new ConfigError([`TRRG_DICOMWEB_PEERS_FILE: peer pacs: cannot read the token file "${path.join(dir, "missing-token.txt")}": ENOENT`]),
    );
    const missingKey = await configWith([{ ...valid, auth: { kind: "smart-backend", clientId: "gw", keyFile: "missing-key.json" } }]);
    await expect(openDicomwebPeers(missingKey, store)).rejects.toBeInstanceOf(ConfigError);
  });

  it("documents both settings", () => {
    const documented = SETTINGS_HELP.map(([name]) => name);
    expect(documented).toEqual(expect.arrayContaining(["TRRG_DICOMWEB_PEERS_FILE", "TRRG_DICOMWEB_DEFAULT_PEER"]));
  });
});
