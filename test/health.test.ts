// Liveness and readiness, and that every operation of openapi.yaml is served by the app.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.close();
});

describe("health probes", () => {
  it("answers /healthz and /readyz when database and storage are reachable", async () => {
    expect((await t.api.get("/healthz")).body).toEqual({ status: "ok" });
    const ready = await t.api.get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready", checks: { database: "ok", storage: "ok" } });
  });

  it("answers 503 naming the storage when it cannot write there", async () => {
    await rm(t.services.files.temporaryDirectory, { recursive: true, force: true });
    const ready = await t.api.get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe("not_ready");
    expect(ready.body.checks.database).toBe("ok");
    expect(ready.body.checks.storage).toMatchObject({ status: "error" });
  });

  it("answers 503 naming the database when it is closed", async () => {
    const other = await startTestApp();
    await other.services.db.destroy();
    try {
      const ready = await request(other.app).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.checks.database).toMatchObject({ status: "error" });
      expect(ready.body.checks.storage).toBe("ok");
    } finally {
      await rm(other.dataDir, { recursive: true, force: true });
    }
  });

  it("keeps a route outside the access table closed: 401 without a token, 403 with one", async () => {
    const anonymous = await request(t.app).get("/dicomweb/nothing-here");
    expect(anonymous.status).toBe(401);
    const res = await t.api.get("/dicomweb/nothing-here");
    expect(res.status).toBe(403);
    expect(res.headers.warning).toMatch(/^299 trrg-gateway "scope/);
  });
});

describe("openapi.yaml", () => {
  it("describes only operations the app serves", async () => {
    const spec = await readFile(path.join(import.meta.dirname, "..", "openapi.yaml"), "utf8");
    const study = newUid();
    const series = newUid();
    const sop = newUid();
    expect((await storeInstances(t, [makeInstance({ studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop })])).status).toBe(200);
    const [job] = await t.services.jobs.listByStudy(study);
    expect(job).toBeDefined();
    const operations: Array<[string, string]> = [];
    let currentPath = "";
    for (const line of spec.split("\n")) {
      const pathMatch = /^ {2}(\/\S*):\s*$/.exec(line);
      if (pathMatch) currentPath = pathMatch[1]!;
      const methodMatch = /^ {4}(get|post|put|delete|patch|head):\s*$/.exec(line);
      if (methodMatch && currentPath) operations.push([methodMatch[1]!, currentPath]);
    }
    expect(operations.length).toBeGreaterThanOrEqual(16);
    for (const [method, template] of operations) {
      const url = template
        .replace("{StudyInstanceUID}", study)
        .replace("{SeriesInstanceUID}", series)
        .replace("{SOPInstanceUID}", sop)
        .replace("/jobs/{id}", `/jobs/${job!.id}`);
      const res = await t.api[method as "get" | "post"](url);
      expect(res.headers.warning ?? "", `${method.toUpperCase()} ${template}`).not.toMatch(/no such resource/);
      expect(res.status, `${method.toUpperCase()} ${template}`).not.toBe(500);
      if (template.startsWith("/jobs")) expect(res.status, `${method.toUpperCase()} ${template}`).toBe(200);
    }
  });
});
