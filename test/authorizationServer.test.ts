// The embedded OAuth 2.0 authorization server (SMART Backend Services over oidc-provider), mounted at /oauth2 in
// a real express app on loopback, with the token command and the SMART configuration document.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import express from "express";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthorizationServer } from "../src/auth/authorizationServer.js";
import { ClientsFileError, DEMO_CLIENT_ID, DEMO_CLIENT_SCOPE, parseClients, type RegisteredClient } from "../src/auth/clients.js";
import { fetchIssuerMetadata, smartConfiguration } from "../src/auth/smartConfiguration.js";
import { runTokenCommand } from "../src/auth/tokenCommand.js";
import { loadConfig, type Config } from "../src/config.js";
import { createLogger } from "../src/log.js";

interface RunningServer {
  config: Config;
  issuer: string;
  tokenUrl: string;
  publicJwks: { keys: JWK[] };
  /** Log lines (JSON) of the server, to see why a request was refused. */
  logs: string[];
  close(): Promise<void>;
}

const tempDirs: string[] = [];
async function newDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "trrg-oauth-"));
  tempDirs.push(dir);
  return dir;
}

/** Listens first, so the issuer URL (which must match the requests) can name the port, then attaches the app. */
async function startServer(dataDir: string): Promise<RunningServer> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const config = loadConfig({ TRRG_DATA_DIR: dataDir, TRRG_PUBLIC_URL: `http://127.0.0.1:${port}`, TRRG_LOG_LEVEL: "silent" });
  const logs: string[] = [];
  const logger = createLogger("info", { write: (line: string) => void logs.push(line) });
  const authorizationServer = await createAuthorizationServer(config, logger);
  const app = express();
  expect(authorizationServer.mountPath).toBe("/oauth2");
  app.use(authorizationServer.mountPath, authorizationServer.router);
  server.on("request", app);
  return {
    config,
    issuer: authorizationServer.issuer,
    tokenUrl: `${authorizationServer.issuer}/token`,
    publicJwks: authorizationServer.publicJwks,
    logs,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface TokenResponse {
  status: number;
  body: { access_token?: string; token_type?: string; expires_in?: number; scope?: string; error?: string; error_description?: string };
}

async function requestToken(tokenUrl: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenResponse> {
  const response = await fetch(tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ grant_type: "client_credentials", ...form }),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse["body"] };
}

const basic = (clientId: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` });

interface ClientKey {
  alg: "RS384" | "ES384";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function makeClientKey(alg: "RS384" | "ES384"): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid: `${alg}-key`, alg, use: "sig" } };
}

async function clientAssertion(
  clientId: string,
  audience: string,
  key: ClientKey,
  { lifetimeSeconds = 240, jti = randomBytes(16).toString("hex") }: { lifetimeSeconds?: number; jti?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.publicJwk.kid, typ: "JWT" })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(jti)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(key.privateKey);
}

const assertionForm = (assertion: string) => ({
  client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
  client_assertion: assertion,
});

function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return { stream, text: () => chunks.join("") };
}

const SECRET = randomBytes(32).toString("base64url");
let rsKey: ClientKey;
let esKey: ClientKey;
let remoteKey: ClientKey;
let clientKeyServer: http.Server;
let t: RunningServer;

beforeAll(async () => {
  rsKey = await makeClientKey("RS384");
  esKey = await makeClientKey("ES384");
  remoteKey = await makeClientKey("ES384");
  // A client that publishes its keys at a jwks_uri on the local network (loopback here).
  clientKeyServer = http.createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [remoteKey.publicJwk] }));
  });
  await new Promise<void>((resolve) => clientKeyServer.listen(0, "127.0.0.1", () => resolve()));
  const jwksUri = `http://127.0.0.1:${(clientKeyServer.address() as AddressInfo).port}/jwks`;
  const dataDir = await newDataDir();
  const clients: RegisteredClient[] = [
    { client_id: "reporting-basic", scope: "system/DiagnosticReport.rs system/Observation.rs", token_endpoint_auth_method: "client_secret_basic", client_secret: SECRET },
    { client_id: "reporting-post", scope: "system/DiagnosticReport.rs", token_endpoint_auth_method: "client_secret_post", client_secret: SECRET },
    { client_id: "backend-rs384", scope: "system/ImagingStudy.cruds", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [rsKey.publicJwk] } },
    { client_id: "backend-es384", scope: "system/ImagingStudy.rs", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [esKey.publicJwk] } },
    { client_id: "backend-jwks-uri", scope: "system/Observation.rs", token_endpoint_auth_method: "private_key_jwt", jwks_uri: jwksUri },
    { client_id: "patient-viewer", scope: "patient/DiagnosticReport.rs", token_endpoint_auth_method: "client_secret_basic", client_secret: SECRET, patient: "example-patient-1" },
  ];
  await writeFile(path.join(dataDir, "oauth-clients.json"), JSON.stringify(clients), { mode: 0o600 });
  t = await startServer(dataDir);
});

afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => (clientKeyServer ? clientKeyServer.close(() => resolve()) : resolve()));
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function verifyAccessToken(server: RunningServer, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  return jwtVerify(token, jwks, { issuer: server.issuer, audience: server.config.auth.audience, typ: "at+jwt" });
}

describe("client_credentials with a client secret", () => {
  it("issues a JWT access token for client_secret_basic that verifies against /oauth2/jwks", async () => {
    const res = await requestToken(t.tokenUrl, { scope: "system/DiagnosticReport.rs" }, basic("reporting-basic", SECRET));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", scope: "system/DiagnosticReport.rs" });
    expect(res.body.expires_in).toBeLessThanOrEqual(300);
    const { payload, protectedHeader } = await verifyAccessToken(t, res.body.access_token!);
    expect(protectedHeader.alg).toBe("RS384");
    expect(payload).toMatchObject({ iss: t.issuer, aud: t.config.auth.audience, scope: "system/DiagnosticReport.rs", client_id: "reporting-basic" });
    expect(payload.exp! - payload.iat!).toBeGreaterThan(0);
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
    expect(payload.jti).toEqual(expect.any(String));
  });

  it("issues a token for client_secret_post", async () => {
    const res = await requestToken(t.tokenUrl, { client_id: "reporting-post", client_secret: SECRET, scope: "system/DiagnosticReport.rs" });
    expect(res.status).toBe(200);
    const { payload } = await verifyAccessToken(t, res.body.access_token!);
    expect(payload).toMatchObject({ client_id: "reporting-post", scope: "system/DiagnosticReport.rs" });
  });

  it("grants every registered scope when the request names none (RFC 6749 §3.3 default)", async () => {
    const res = await requestToken(t.tokenUrl, {}, basic("reporting-basic", SECRET));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe("system/DiagnosticReport.rs system/Observation.rs");
  });

  it("refuses a wrong secret with 401 invalid_client", async () => {
    const res = await requestToken(t.tokenUrl, { scope: "system/DiagnosticReport.rs" }, basic("reporting-basic", `${SECRET}x`));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_client");
    expect(res.body.access_token).toBeUndefined();
  });

  it("refuses a scope the client is not registered for with 400 invalid_scope", async () => {
    for (const scope of ["system/ImagingStudy.rs", "system/DiagnosticReport.rs system/Patient.rs", "openid"]) {
      const res = await requestToken(t.tokenUrl, { scope }, basic("reporting-basic", SECRET));
      expect(res.status, scope).toBe(400);
      expect(res.body.error, scope).toBe("invalid_scope");
    }
  });

  it("puts the registered patient into the token as the SMART patient claim", async () => {
    const res = await requestToken(t.tokenUrl, { scope: "patient/DiagnosticReport.rs" }, basic("patient-viewer", SECRET));
    expect(res.status).toBe(200);
    const { payload } = await verifyAccessToken(t, res.body.access_token!);
    expect(payload.patient).toBe("example-patient-1");
    const other = await requestToken(t.tokenUrl, {}, basic("reporting-basic", SECRET));
    expect((await verifyAccessToken(t, other.body.access_token!)).payload.patient).toBeUndefined();
  });

  it("refuses a resource other than this service with invalid_target", async () => {
    const res = await requestToken(t.tokenUrl, { resource: "https://elsewhere.example/fhir" }, basic("reporting-basic", SECRET));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_target");
  });
});

describe("client_credentials with private_key_jwt (SMART Backend Services)", () => {
  it.each([
    ["RS384", "backend-rs384", "system/ImagingStudy.cruds"],
    ["ES384", "backend-es384", "system/ImagingStudy.rs"],
  ] as const)("issues a token for a %s client assertion", async (alg, clientId, scope) => {
    const key = alg === "RS384" ? rsKey : esKey;
    const res = await requestToken(t.tokenUrl, { scope, ...assertionForm(await clientAssertion(clientId, t.tokenUrl, key)) });
    expect(res.status).toBe(200);
    const { payload } = await verifyAccessToken(t, res.body.access_token!);
    expect(payload).toMatchObject({ client_id: clientId, scope });
  });

  it("fetches the keys of a client registered with a jwks_uri on a private address", async () => {
    const res = await requestToken(t.tokenUrl, assertionForm(await clientAssertion("backend-jwks-uri", t.tokenUrl, remoteKey)));
    expect(res.status).toBe(200);
    expect((await verifyAccessToken(t, res.body.access_token!)).payload).toMatchObject({ client_id: "backend-jwks-uri", scope: "system/Observation.rs" });
  });

  it("refuses a replayed client assertion (same jti) with invalid_client", async () => {
    const assertion = await clientAssertion("backend-rs384", t.tokenUrl, rsKey);
    expect((await requestToken(t.tokenUrl, assertionForm(assertion))).status).toBe(200);
    const replay = await requestToken(t.tokenUrl, assertionForm(assertion));
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe("invalid_client");
    expect(t.logs.join("")).toContain("client assertion tokens must only be used once");
  });

  it("refuses a client assertion that expires more than 5 minutes ahead", async () => {
    const assertion = await clientAssertion("backend-es384", t.tokenUrl, esKey, { lifetimeSeconds: 600 });
    const res = await requestToken(t.tokenUrl, assertionForm(assertion));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_client");
    expect(t.logs.join("")).toContain("no more than 5 minutes in the future");
  });

  it("refuses an assertion signed by a key the client did not register", async () => {
    const assertion = await clientAssertion("backend-es384", t.tokenUrl, await makeClientKey("ES384"));
    const res = await requestToken(t.tokenUrl, assertionForm(assertion));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_client");
  });

  it("refuses an assertion whose sub is not the client_id", async () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "RS384", kid: rsKey.publicJwk.kid })
      .setIssuer("backend-rs384")
      .setSubject("someone-else")
      .setAudience(t.tokenUrl)
      .setJti(randomBytes(8).toString("hex"))
      .setExpirationTime(now + 60)
      .sign(rsKey.privateKey);
    expect((await requestToken(t.tokenUrl, assertionForm(assertion))).status).toBe(401);
  });
});

describe("discovery", () => {
  it("serves the OpenID/OAuth metadata under /oauth2 with only the client_credentials grant", async () => {
    const response = await fetch(`${t.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: t.issuer,
      token_endpoint: `${t.issuer}/token`,
      jwks_uri: `${t.issuer}/jwks`,
      grant_types_supported: ["client_credentials"],
      token_endpoint_auth_signing_alg_values_supported: expect.arrayContaining(["RS384", "ES384"]),
    });
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(
      expect.arrayContaining(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
    );
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(["system/ImagingStudy.cruds", "patient/DiagnosticReport.rs"]));
    expect(metadata.authorization_endpoint).toBeUndefined();
  });

  it("describes itself at its issuer whatever host and scheme the request names (as behind a proxy)", async () => {
    const url = new URL(`${t.issuer}/.well-known/openid-configuration`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get(url, { headers: { host: "gateway.internal:8443", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" } }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += String(chunk)));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
    });
    expect(JSON.parse(body)).toMatchObject({ issuer: t.issuer, token_endpoint: `${t.issuer}/token`, jwks_uri: `${t.issuer}/jwks` });
  });

  it("serves the public keys only, matching the ones it returned at start", async () => {
    const jwks = (await (await fetch(`${t.issuer}/jwks`)).json()) as { keys: JWK[] };
    expect(jwks.keys.map((key) => key.alg).sort()).toEqual(["ES384", "RS384"]);
    for (const key of jwks.keys) expect(key).not.toHaveProperty("d");
    expect(jwks.keys.map((key) => key.kid).sort()).toEqual(t.publicJwks.keys.map((key) => key.kid).sort());
  });

  it("does not serve the provider's interactive endpoints", async () => {
    expect((await fetch(`${t.issuer}/auth?client_id=reporting-basic&response_type=code`)).status).toBe(404);
  });

  it("describes the embedded server in the SMART configuration", () => {
    expect(smartConfiguration(t.config, { scopesSupported: ["system/ImagingStudy.rs"] })).toEqual({
      issuer: t.issuer,
      jwks_uri: `${t.issuer}/jwks`,
      token_endpoint: `${t.issuer}/token`,
      grant_types_supported: ["client_credentials"],
      token_endpoint_auth_methods_supported: ["private_key_jwt", "client_secret_basic", "client_secret_post"],
      token_endpoint_auth_signing_alg_values_supported: ["RS384", "ES384"],
      scopes_supported: ["system/ImagingStudy.rs"],
      capabilities: ["client-confidential-asymmetric", "client-confidential-symmetric", "permission-v2", "permission-v1"],
    });
    expect(smartConfiguration(t.config).scopes_supported).toContain("system/ImagingStudy.crs");
  });

  it("reads an issuer's endpoints from its discovery document", async () => {
    const metadata = await fetchIssuerMetadata(t.issuer);
    expect(metadata).toMatchObject({ issuer: t.issuer, jwks_uri: `${t.issuer}/jwks`, token_endpoint: `${t.issuer}/token` });
    await expect(fetchIssuerMetadata(`${t.issuer}/elsewhere`)).rejects.toThrow(/cannot read the metadata/);
  });
});

describe("first start and restart", () => {
  it("creates the clients file with the demo client, mode 0600, and logs where but not the secret", async () => {
    const dataDir = await newDataDir();
    const server = await startServer(dataDir);
    try {
      const file = path.join(dataDir, "oauth-clients.json");
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(path.join(dataDir, "oauth-keys.json"))).mode & 0o777).toBe(0o600);
      const [demo] = JSON.parse(await readFile(file, "utf8")) as RegisteredClient[];
      expect(demo).toMatchObject({ client_id: DEMO_CLIENT_ID, scope: DEMO_CLIENT_SCOPE, token_endpoint_auth_method: "client_secret_basic" });
      expect(Buffer.from(demo!.client_secret!, "base64url")).toHaveLength(32);
      const logs = server.logs.join("");
      expect(logs).toContain(file);
      expect(logs).not.toContain(demo!.client_secret);

      const res = await requestToken(server.tokenUrl, {}, basic(DEMO_CLIENT_ID, demo!.client_secret!));
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe(DEMO_CLIENT_SCOPE);
    } finally {
      await server.close();
    }
  });

  it("keeps its signing keys across a restart, so earlier tokens still verify", async () => {
    const dataDir = await newDataDir();
    const first = await startServer(dataDir);
    const [demo] = JSON.parse(await readFile(first.config.auth.clientsFile, "utf8")) as RegisteredClient[];
    const earlier = await requestToken(first.tokenUrl, {}, basic(DEMO_CLIENT_ID, demo!.client_secret!));
    await first.close();

    const second = await startServer(dataDir);
    try {
      const jwks = (await (await fetch(`${second.issuer}/jwks`)).json()) as { keys: JWK[] };
      expect(jwks.keys.map((key) => key.kid).sort()).toEqual(first.publicJwks.keys.map((key) => key.kid).sort());
      const token = earlier.body.access_token!;
      expect(jwks.keys.map((key) => key.kid)).toContain(decodeProtectedHeader(token).kid);
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: first.issuer, audience: first.config.auth.audience });
      expect(payload.client_id).toBe(DEMO_CLIENT_ID);
    } finally {
      await second.close();
    }
  });
});

describe("trrg-gateway token", () => {
  it("prints only the access token for the demo client, with its secret taken from the clients file", async () => {
    const dataDir = await newDataDir();
    const server = await startServer(dataDir);
    try {
      const out = collector();
      const err = collector();
      const code = await runTokenCommand(server.config, { clientId: DEMO_CLIENT_ID }, out.stream, err.stream);
      expect(err.text()).toBe("");
      expect(code).toBe(0);
      expect(out.text()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const { payload } = await verifyAccessToken(server, out.text().trim());
      expect(payload).toMatchObject({ client_id: DEMO_CLIENT_ID, scope: DEMO_CLIENT_SCOPE });

      const narrow = collector();
      expect(await runTokenCommand(server.config, { clientId: DEMO_CLIENT_ID, scope: "system/AuditEvent.rs" }, narrow.stream, err.stream)).toBe(0);
      expect((await verifyAccessToken(server, narrow.text().trim())).payload.scope).toBe("system/AuditEvent.rs");
    } finally {
      await server.close();
    }
  });

  it("signs a client assertion with a PEM or JWK key given by --key", async () => {
    const dataDir = await newDataDir();
    const pemFile = path.join(dataDir, "backend-rs384.pem");
    const jwkFile = path.join(dataDir, "backend-es384.jwk.json");
    await writeFile(pemFile, await exportPKCS8(rsKey.privateKey), { mode: 0o600 });
    await writeFile(jwkFile, JSON.stringify({ ...(await exportJWK(esKey.privateKey)), kid: esKey.publicJwk.kid }), { mode: 0o600 });
    for (const [clientId, keyFile] of [["backend-rs384", pemFile], ["backend-es384", jwkFile]] as const) {
      const out = collector();
      const err = collector();
      const code = await runTokenCommand(t.config, { clientId, keyFile }, out.stream, err.stream);
      expect(err.text(), clientId).toBe("");
      expect(code).toBe(0);
      expect((await verifyAccessToken(t, out.text().trim())).payload.client_id).toBe(clientId);
    }
  });

  it("reports a refusal on stderr with the OAuth error and exits 1", async () => {
    const out = collector();
    const err = collector();
    const code = await runTokenCommand(t.config, { clientId: "reporting-basic", secret: "not-the-secret" }, out.stream, err.stream);
    expect(code).toBe(1);
    expect(out.text()).toBe("");
    expect(err.text()).toMatch(/invalid_client/);

    const scopeErr = collector();
    expect(await runTokenCommand(t.config, { clientId: "reporting-basic", secret: SECRET, scope: "system/Patient.rs" }, out.stream, scopeErr.stream)).toBe(1);
    expect(scopeErr.text()).toMatch(/invalid_scope.*system\/Patient\.rs/);
  });
});

describe("clients file validation", () => {
  it("names the client and the problem", () => {
    const attempt = () =>
      parseClients(
        [
          { client_id: "no-secret", scope: "system/DiagnosticReport.rs", token_endpoint_auth_method: "client_secret_basic" },
          { client_id: "bad-scope", scope: "read:everything", token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://client.example/jwks" },
          { client_id: "typo", scope: "system/Observation.rs", token_endpoint_auth_method: "client_secret_post", secret: "x".repeat(32) },
        ],
        "clients.json",
      );
    expect(attempt).toThrow(ClientsFileError);
    expect(attempt).toThrow(/client "no-secret": client_secret: required for client_secret_basic/);
    expect(attempt).toThrow(/client "bad-scope": scope: "read:everything" is not a SMART resource scope/);
    expect(attempt).toThrow(/client "typo": .*secret/);
  });
});
