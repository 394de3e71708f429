// TRRG_AUTH_MODE=external: the service trusts another issuer's tokens, with keys fetched from its JWKS over
// HTTP. The "hospital issuer" here is a second instance's embedded oidc-provider on a real loopback port.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./support/rawHttp.js";
import { startTestApp, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

const AUDIENCE = "https://trrg-gateway.hospital.example";
let issuerApp: TestApp;
let issuerServer: http.Server;
let issuer: string;
let service: TestApp;

beforeAll(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}/oauth2`;
  issuerApp = await startTestApp({ TRRG_PUBLIC_URL: `http://127.0.0.1:${port}`, TRRG_AUTH_AUDIENCE: AUDIENCE });
  issuerServer = http.createServer(issuerApp.app);
  await new Promise<void>((resolve) => issuerServer.listen(port, "127.0.0.1", resolve));
  service = await startTestApp({ TRRG_AUTH_MODE: "external", TRRG_AUTH_ISSUER: issuer, TRRG_AUTH_AUDIENCE: AUDIENCE });
});

afterAll(async () => {
  await service?.close();
  issuerServer?.closeAllConnections();
  await new Promise((resolve) => issuerServer?.close(resolve));
  await issuerApp?.close();
});

describe("an external issuer", () => {
  it("is trusted through its discovery document and JWKS", async () => {
    expect(service.services.authorizationServer).toBeUndefined();
    expect(service.services.issuerMetadata?.jwks_uri).toBe(`${issuer}/jwks`);
    const token = await issuerApp.token(TEST_CLIENTS.system);
    const res = await service.api.get("/dicomweb/studies").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(200);
  });

  it("refuses a token of the issuer meant for another audience", async () => {
    const other = await startTestApp({ TRRG_AUTH_MODE: "external", TRRG_AUTH_ISSUER: issuer, TRRG_AUTH_AUDIENCE: "https://elsewhere.example" });
    try {
      const res = await other.api.get("/dicomweb/studies").set("Authorization", `Bearer ${await issuerApp.token(TEST_CLIENTS.system)}`);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toMatch(/error="invalid_token", error_description="claim aud invalid/);
    } finally {
      await other.close();
    }
  });

  it("does not run its own token endpoint", async () => {
    const res = await service.api.post("/oauth2/token").type("form").send({ grant_type: "client_credentials" });
    expect(res.status).toBe(404);
  });

  it("does not start when the issuer cannot be reached", async () => {
    await expect(
      startTestApp({ TRRG_AUTH_MODE: "external", TRRG_AUTH_ISSUER: "http://127.0.0.1:9/oauth2" }),
    ).rejects.toThrow(/cannot read the metadata of issuer/);
  });
});
