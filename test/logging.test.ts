// Logs carry operational facts only: no patient names, IDs or UIDs from requests (DESIGN §6, README).
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.js";
import { makeInstance, makeMultipartRelated, newUid } from "./fixtures/dicomFactory.js";
import { startTestApp } from "./support/testApp.js";

describe("request logs", () => {
  it("record each request with id, route pattern, status and duration but no patient data", async () => {
    const lines: string[] = [];
    const logger = createLogger("debug", { write: (line: string) => void lines.push(line) });
    const t = await startTestApp({}, { logger });
    try {
      const study = newUid();
      const sop = newUid();
      const patient = { patientName: "Zyxwick^Hermione", patientID: "MRN-99887766" };
      const { body, contentType } = makeMultipartRelated([
        makeInstance({ ...patient, studyInstanceUID: study, sopInstanceUID: sop }),
        makeInstance({ ...patient, studyInstanceUID: newUid() }),
      ]);
      const stored = await t.api.post(`/dicomweb/studies/${study}`).set("Content-Type", contentType).set("X-Request-ID", "req-42").send(body);
      expect(stored.status).toBe(202);
      expect(stored.headers["x-request-id"]).toBe("req-42");
      await t.api.get(`/dicomweb/studies?PatientName=Zyxwick*&PatientID=MRN-99887766`);
      await t.api.get(`/dicomweb/studies/${study}/metadata`);

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
      await t.close();
    }
  });
});
