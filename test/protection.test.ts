// Security headers, CORS closed by default, and the per-client rate limit, through the real app.
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { startTestApp, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("HTTP protections", () => {
  it("sends security headers on every answer, refusals included", async () => {
    t = await startTestApp();
    for (const res of [await request(t.app).get("/healthz"), await request(t.app).get("/dicomweb/studies")]) {
      expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["x-frame-options"]).toBe("SAMEORIGIN");
      expect(res.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
      expect(res.headers["x-powered-by"]).toBeUndefined();
    }
  });

  it("keeps CORS closed when no origin is configured", async () => {
    t = await startTestApp();
    const preflight = await request(t.app)
      .options("/dicomweb/studies")
      .set("Origin", "https://viewer.example.org")
      .set("Access-Control-Request-Method", "GET");
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    const res = await t.api.get("/dicomweb/studies").set("Origin", "https://viewer.example.org");
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("answers CORS for a configured origin only", async () => {
    t = await startTestApp({ TRRG_CORS_ORIGINS: "https://viewer.example.org" });
    const preflight = await request(t.app)
      .options("/dicomweb/studies")
      .set("Origin", "https://viewer.example.org")
      .set("Access-Control-Request-Method", "GET")
      .set("Access-Control-Request-Headers", "Authorization");
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://viewer.example.org");
    expect(preflight.headers["access-control-allow-headers"]).toContain("Authorization");
    const other = await t.api.get("/dicomweb/studies").set("Origin", "https://evil.example.org");
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("throttles an address whose requests keep failing authentication, and audits that", async () => {
    t = await startTestApp({ TRRG_RATE_LIMIT: "3" });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(t.app).get("/dicomweb/studies").set("Authorization", "Bearer not-a-jwt")).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const refused = await t.services.audit.search({ count: 10, offset: 0, outcome: "4" });
    expect(refused.total).toBe(5);
  });

  it("limits requests per client and audits the refusal", async () => {
    t = await startTestApp({ TRRG_RATE_LIMIT: "5" });
    // The token request itself goes through the limiter keyed by address; use the agent's token from here on.
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await t.api.get("/dicomweb/studies")).status);
    expect(statuses.slice(0, 4).every((status) => status === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const limited = await t.api.get("/dicomweb/studies");
    expect(limited.headers["retry-after"]).toBeDefined();
    // Another client has its own budget.
    const other = await request(t.app).get("/dicomweb/studies").set("Authorization", `Bearer ${await t.token(TEST_CLIENTS.patient)}`);
    expect(other.status).toBe(200);
    const [latest] = (await t.services.audit.search({ count: 1, offset: 0 })).events;
    expect(latest?.outcome).toBe("0");
    const refused = await t.services.audit.search({ count: 50, offset: 0, outcome: "4" });
    expect(refused.total).toBeGreaterThanOrEqual(2);
  });
});
