// Shared test setup: the real app over a fresh data folder, and storing instances through the real STOW-RS route.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Express } from "express";
import request from "supertest";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { closeServices, openServices, type Services } from "../../src/services.js";
import { makeMultipartRelated } from "../fixtures/dicomFactory.js";

export interface TestApp {
  app: Express;
  services: Services;
  dataDir: string;
  close(): Promise<void>;
}

/** Starts the app on a temporary data folder; `env` adds or overrides TRRG_* settings. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "trrg-test-"));
  const config = loadConfig({ TRRG_DATA_DIR: dataDir, TRRG_LOG_LEVEL: "silent", ...env });
  const services = await openServices(config);
  const app = createApp(services);
  return {
    app,
    services,
    dataDir,
    async close() {
      await closeServices(services);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** POSTs the Part 10 files as one STOW-RS request (default target: All Studies) and returns the response. */
export function storeInstances(app: Express, buffers: Buffer[], path = "/dicomweb/studies"): Promise<request.Response> {
  const { body, contentType } = makeMultipartRelated(buffers);
  return request(app).post(path).set("Content-Type", contentType).send(body).then((response) => response);
}
