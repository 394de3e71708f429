// Logs carry operational facts only: no patient names, IDs or UIDs from requests (DESIGN §6, README).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/log.js";
import { closeServices, openServices } from "../src/services.js";
import { makeInstance, makeMultipartRelated, newUid } from "./fixtures/dicomFactory.js";

describe("request logs", () => {
  it("record each request with id, route pattern, status and duration but no patient data", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "trrg-log-"));
    const lines: string[] = [];
    const logger = createLogger("debug", { write: (line: string) => void lines.push(line) });
    const services = await openServices(loadConfig({ TRRG_DATA_DIR: dataDir, TRRG_STORAGE_MIN_FREE: "0" }), logger);
    try {
      const app = createApp(services);
      const study = newUid();
      const sop = newUid();
      const patient = { patientName: "Zyxwick^Hermione", patientID: "MRN-99887766" };
      const { body, contentType } = makeMultipartRelated([
        makeInstance({ ...patient, studyInstanceUID: study, sopInstanceUID: sop }),
        makeInstance({ ...patient, studyInstanceUID: newUid() }),
      ]);
      const stored = await request(app).post(`/dicomweb/studies/${study}`).set("Content-Type", contentType).set("X-Request-ID", "req-42").send(body);
      expect(stored.status).toBe(202);
      expect(stored.headers["x-request-id"]).toBe("req-42");
      await request(app).get(`/dicomweb/studies?PatientName=Zyxwick*&PatientID=MRN-99887766`);
      await request(app).get(`/dicomweb/studies/${study}/metadata`);

      const log = lines.join("");
      for (const secret of ["Zyxwick", "Hermione", "MRN-99887766", study, sop]) expect(log).not.toContain(secret);
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.find((e) => e.requestId === "req-42" && e.msg === "request")).toMatchObject({
        method: "POST",
        route: "/dicomweb/studies/:study",
        status: 202,
      });
      expect(entries.some((e) => e.msg === "STOW-RS instance refused" && e.failureReason === "0xC409")).toBe(true);
    } finally {
      await closeServices(services);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
