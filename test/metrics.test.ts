// GET /metrics (issue 9) over the real app: real HTTP, real SQLite. Each scrape is parsed from the Prometheus text
// exposition format and read by metric name and labels.
import { rm } from "node:fs/promises";
import express from "express";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { DeliveryOutbox } from "../src/fhir/deliveryOutbox.js";
import { publishReport } from "../src/fhir/publishReport.js";
import { observePipelineTimings } from "../src/http/metrics.js";
import { metricsHandler } from "../src/http/metricsRoutes.js";
import { startJobRunner } from "../src/jobs/jobRunner.js";
import { makeInstance, makeMultipartRelated, newUid } from "./fixtures/dicomFactory.js";
import { makePipelineResult } from "./fixtures/pipelineResult.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";
import { until } from "./support/until.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (format 0.0.4): `name{label="value",…} value`, comments skipped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  readonly samples: Sample[];
  constructor(readonly text: string) {
    this.samples = parseExposition(text);
  }

  /** The one sample of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const found = this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return found[0]?.value;
  }

  series(name: string): Sample[] {
    return this.samples.filter((s) => s.name === name);
  }
}

const apps: TestApp[] = [];
async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const t = await startTestApp(env);
  apps.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((t) => t.close()));
});

async function scrape(t: TestApp): Promise<Scrape> {
  const res = await request(t.app).get("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Scrape(res.text);
}

async function auditCount(t: TestApp): Promise<number> {
  return (await t.services.audit.search({ count: 1, offset: 0 })).total;
}

describe("STOW-RS metrics", () => {
  it("counts each stored instance and the bytes of the request body", async () => {
    const t = await app();
    const before = await scrape(t);
    const study = newUid();
    const { body, contentType } = makeMultipartRelated([0, 1, 2].map(() => makeInstance({ studyInstanceUID: study })));
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).set("Accept", "application/dicom+json").send(body);
    expect(res.status).toBe(200);
    const after = await scrape(t);
    expect(after.value("trrg_stow_instances_total", { outcome: "stored" })! - (before.value("trrg_stow_instances_total", { outcome: "stored" }) ?? 0)).toBe(3);
    expect(after.value("trrg_stow_instances_total", { outcome: "failed" }) ?? 0).toBe(0);
    const bytes = after.value("trrg_stow_bytes_total")! - before.value("trrg_stow_bytes_total")!;
    // Every byte up to the close delimiter is read; nothing more than the body can be counted.
    expect(bytes).toBeGreaterThan(body.length - 64);
    expect(bytes).toBeLessThanOrEqual(body.length);
  });

  it("counts a refused instance as failed, and labels the request by its route pattern with no UID in the metrics", async () => {
    const t = await app();
    const study = newUid();
    const series = newUid();
    const sop = newUid();
    const pathStudy = newUid();
    const res = await storeInstances(t, [makeInstance({ studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop })], `/dicomweb/studies/${pathStudy}`);
    expect(res.status).toBe(409);
    expect((await t.api.get(`/dicomweb/studies/${pathStudy}/metadata`)).status).toBe(404);
    const after = await scrape(t);
    expect(after.value("trrg_stow_instances_total", { outcome: "failed" })).toBe(1);
    expect(after.value("trrg_stow_instances_total", { outcome: "stored" })).toBe(0);
    const stowCount = { method: "POST", route: "/dicomweb/studies/:study", status_class: "4xx" };
    expect(after.value("trrg_http_request_duration_seconds_count", stowCount)).toBe(1);
    // A 404 thrown from inside the /dicomweb router keeps the router's prefix in its pattern.
    expect(after.value("trrg_http_request_duration_seconds_count", { method: "GET", route: "/dicomweb/studies/:study/metadata", status_class: "4xx" })).toBe(1);
    expect(after.value("trrg_http_request_duration_seconds_bucket", { ...stowCount, le: "+Inf" })).toBe(1);
    for (const uid of [study, series, sop, pathStudy]) expect(after.text).not.toContain(uid);
    for (const sample of after.series("trrg_http_request_duration_seconds_count")) expect(sample.labels.route).not.toMatch(/\d+\.\d+\.\d+/);
  });

  it("keeps the counts of each app apart: a STOW in one is not seen in another in the same process", async () => {
    const [a, b] = await Promise.all([app(), app()]);
    expect((await storeInstances(a, [makeInstance()])).status).toBe(200);
    expect((await scrape(a)).value("trrg_stow_instances_total", { outcome: "stored" })).toBe(1);
    expect((await scrape(b)).value("trrg_stow_instances_total", { outcome: "stored" })).toBe(0);
  });
});

describe("job and delivery metrics", () => {
  it("reports the queued job a STOW made, and none due during the quiet period", async () => {
    const t = await app();
    const before = await scrape(t);
    expect(before.value("trrg_jobs", { state: "queued" })).toBe(0);
    expect((await storeInstances(t, [makeInstance()])).status).toBe(200);
    const after = await scrape(t);
    expect(after.value("trrg_jobs", { state: "queued" })).toBe(1);
    expect(after.value("trrg_jobs", { state: "running" })).toBe(0);
    expect(after.value("trrg_jobs_due")).toBe(0);
  });

  it("counts a due job, then the run that finished it, by outcome", async () => {
    const t = await app({ TRRG_JOB_QUIET_PERIOD: "0" });
    expect((await storeInstances(t, [makeInstance()])).status).toBe(200);
    expect((await scrape(t)).value("trrg_jobs_due")).toBe(1);
    const runner = startJobRunner(t.services, async () => ({ ok: true }), { pollIntervalMs: 20 });
    try {
      await until(async () => ((await scrape(t)).value("trrg_jobs", { state: "succeeded" }) === 1 ? true : undefined));
    } finally {
      await runner.stop(1000);
    }
    const after = await scrape(t);
    expect(after.value("trrg_jobs", { state: "queued" })).toBe(0);
    expect(after.value("trrg_jobs_due")).toBe(0);
    expect(after.value("trrg_job_duration_seconds_count", { outcome: "succeeded" })).toBe(1);
    expect(after.value("trrg_job_duration_seconds_count", { outcome: "failed" })).toBeUndefined();
  });

  it("reports the FHIR delivery outbox by state", async () => {
    const t = await app({ TRRG_FHIR_TARGET_URL: "http://127.0.0.1:9/fhir" });
    expect((await scrape(t)).value("trrg_fhir_deliveries", { state: "pending" })).toBe(0);
    await publishReport(t.services.db, t.services.config.fhir, makePipelineResult(), { studyInstanceUID: newUid(), patientId: "PID-METRICS" });
    const queued = await scrape(t);
    expect(queued.value("trrg_fhir_deliveries", { state: "pending" })).toBe(1);
    expect(queued.value("trrg_fhir_deliveries", { state: "delivered" })).toBe(0);
    const outbox = new DeliveryOutbox(t.services.db, { retryBaseMs: 1000, retryCapMs: 1000, leaseMs: 60_000 });
    const claimed = await outbox.claim("metrics-test");
    await outbox.delivered(claimed!.lease, 200, { entries: [] });
    const delivered = await scrape(t);
    expect(delivered.value("trrg_fhir_deliveries", { state: "pending" })).toBe(0);
    expect(delivered.value("trrg_fhir_deliveries", { state: "delivered" })).toBe(1);
  });

  it("observes each pipeline stage, and the ONNX sessions apart", async () => {
    const t = await app();
    const { timings } = makePipelineResult();
    observePipelineTimings(t.services.metrics, { ...timings, visionMs: 1500, generationMs: 250, labelMs: 4 });
    const after = await scrape(t);
    expect(after.value("trrg_job_stage_duration_seconds_count", { stage: "vision" })).toBe(1);
    expect(after.value("trrg_job_stage_duration_seconds_sum", { stage: "vision" })).toBeCloseTo(1.5);
    expect(after.value("trrg_job_stage_duration_seconds_sum", { stage: "label" })).toBeCloseTo(0.004);
    expect(after.value("trrg_job_stage_duration_seconds_bucket", { stage: "vision", le: "1" })).toBe(0);
    expect(after.value("trrg_job_stage_duration_seconds_bucket", { stage: "vision", le: "2.5" })).toBe(1);
    expect(after.value("trrg_model_inference_seconds_sum", { session: "generation" })).toBeCloseTo(0.25);
    const sessions = new Set(after.series("trrg_model_inference_seconds_count").map((s) => s.labels.session));
    expect(sessions).toEqual(new Set(["vision", "perception", "interaction", "generation"]));
    const stages = new Set(after.series("trrg_job_stage_duration_seconds_count").map((s) => s.labels.stage));
    expect(stages).toEqual(new Set(["decode", "preprocess", "vision", "perception", "interaction", "generation", "label"]));
  });

  it("still answers when the store does not: the store's gauges are left without a reading", async () => {
    const t = await app();
    await t.services.db.destroy();
    const res = await request(t.app).get("/metrics");
    expect(res.status).toBe(200);
    const after = new Scrape(res.text);
    expect(after.series("trrg_jobs")).toEqual([]);
    expect(after.series("trrg_fhir_deliveries")).toEqual([]);
    expect(after.value("trrg_jobs_due")).toBeNaN();
    expect(after.value("trrg_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    // Its database is gone: only its folder is left to remove.
    apps.splice(apps.indexOf(t), 1);
    await rm(t.dataDir, { recursive: true, force: true });
  });
});

describe("GET /metrics", () => {
  it("serves the process metrics with the trrg_ prefix, and leaves no AuditEvent", async () => {
    const t = await app();
    const before = await auditCount(t);
    const first = await scrape(t);
    await scrape(t);
    expect(first.value("trrg_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(first.series("trrg_nodejs_heap_size_used_bytes")).toHaveLength(1);
    expect(await auditCount(t)).toBe(before);
    // The trail does count a protected request, so the scrape's absence is not a trail that records nothing.
    await t.api.get("/jobs");
    expect(await auditCount(t)).toBe(before + 1);
  });

  it("asks for the TRRG_METRICS_BEARER token when one is set: 401 without it or with another, 200 with it", async () => {
    const token = "scrape-token-0123456789abcdef";
    const t = await app({ TRRG_METRICS_BEARER: token });
    const none = await request(t.app).get("/metrics");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="trrg-gateway metrics"');
    expect(none.text).not.toContain("trrg_");
    const wrong = await request(t.app).get("/metrics").set("Authorization", `Bearer ${token}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toMatch(/error="invalid_token"/);
    // A SMART access token is no scrape token.
    expect((await t.api.get("/metrics")).status).toBe(401);
    const right = await request(t.app).get("/metrics").set("Authorization", `Bearer ${token}`);
    expect(right.status).toBe(200);
    expect(new Scrape(right.text).value("trrg_jobs", { state: "queued" })).toBe(0);
  });

  it("is open when no token is set, whatever Authorization a scraper sends", async () => {
    const t = await app();
    expect((await request(t.app).get("/metrics").set("Authorization", "Bearer anything")).status).toBe(200);
  });

  it("can be served by a worker process's own HTTP server, with the same token check", async () => {
    const token = "worker-scrape-token-0123456789";
    const t = await app({ TRRG_METRICS_BEARER: token });
    const probes = express().get("/metrics", metricsHandler(t.services));
    expect((await request(probes).get("/metrics")).status).toBe(401);
    const res = await request(probes).get("/metrics").set("Authorization", `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(new Scrape(res.text).value("trrg_jobs_due")).toBe(0);
  });
});
