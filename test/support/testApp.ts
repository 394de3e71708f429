// A real app over a fresh data folder (real SQLite, real files) for tests that go through HTTP.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
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
  /** Closes the services and deletes the data folder. */
  close(): Promise<void>;
}

/** Starts the app on a new temporary data folder; pass `dataDir` in env to reopen an existing one. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = env.TRRG_DATA_DIR ?? (await mkdtemp(path.join(tmpdir(), "trrg-test-")));
  const config = loadConfig({ TRRG_LOG_LEVEL: "silent", TRRG_STORAGE_MIN_FREE: "0", ...env, TRRG_DATA_DIR: dataDir });
  const services = await openServices(config);
  const app = createApp(services);
  return {
    app,
    services,
    dataDir,
    close: async () => {
      await closeServices(services);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Stores instances through the real STOW-RS route and returns the supertest response. */
export function storeInstances(app: Express, buffers: Buffer[], path = "/dicomweb/studies") {
  const { body, contentType } = makeMultipartRelated(buffers);
  return request(app).post(path).set("Content-Type", contentType).set("Accept", "application/dicom+json").send(body);
}
