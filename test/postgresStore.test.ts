// The store on PostgreSQL (TRRG_DATABASE_URL): the same app and query code as on SQLite, over a real PostgreSQL
// server from Debian (test/support/postgres.ts). A first slice of the whole-suite run on PostgreSQL (issue 9).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applicationActivityEvent, AUDIT_OBSERVER } from "../src/audit/auditEvent.js";
import { AuditStore } from "../src/audit/auditStore.js";
import type { DicomJsonDataset } from "../src/dicom/dicomJson.js";
import { TAG } from "../src/dicomweb/upsWorkitem.js";
import { publishReport } from "../src/fhir/publishReport.js";
import { openPostgresDatabase } from "../src/store/database.js";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { makePipelineResult } from "./fixtures/pipelineResult.js";
import { startPostgres, type RunningPostgres } from "./support/postgres.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";
import { inputStudy, scheduledWorkitem } from "./support/workitems.js";

let postgres: RunningPostgres;
let t: TestApp;

beforeAll(async () => {
  postgres = await startPostgres();
  t = await startTestApp({ TRRG_DATABASE_URL: postgres.url });
}, 180_000);

afterAll(async () => {
  await t?.close();
  await postgres?.stop();
});

describe("the store on PostgreSQL", () => {
  it("runs the migrations and keeps audit events append-only", async () => {
    const { rows } = await import("kysely").then(({ sql }) => sql<{ count: string }>`select count(*) as count from audit_events`.execute(t.services.db));
    expect(Number(rows[0]!.count)).toBeGreaterThan(0);
    await expect(import("kysely").then(({ sql }) => sql`delete from audit_events`.execute(t.services.db))).rejects.toThrow(/append-only/);
  });

  it("stores over STOW-RS, finds by QIDO-RS, serves the metadata and queues one job per study", async () => {
    const study = newUid();
    const res = await storeInstances(t, [makeInstance({ studyInstanceUID: study, patientID: "PG-PATIENT", patientName: "Pg^Test" })]);
    expect(res.status).toBe(200);
    const found = await t.api.get("/dicomweb/studies?PatientName=pg*&includefield=StudyDescription").expect(200);
    expect((found.body as DicomJsonDataset[]).map((d) => d["0020000D"]?.Value?.[0])).toContain(study);
    await t.api.get(`/dicomweb/studies/${study}/metadata`).expect(200);
    const again = await storeInstances(t, [makeInstance({ studyInstanceUID: study, patientID: "PG-PATIENT" })]);
    expect(again.status).toBe(200);
    expect(await t.services.jobs.listByStudy(study)).toHaveLength(1);
    // A UPS request makes the waiting job due at once; one worker claims it (FOR UPDATE SKIP LOCKED on PostgreSQL).
    const job = await t.services.studyTrigger.studyRequested(study, "ups");
    const [first, second] = await Promise.all([t.services.jobs.claim("pg-worker-1"), t.services.jobs.claim("pg-worker-2")]);
    expect([first?.id, second?.id].filter(Boolean)).toEqual([job.id]);
  });

  it("publishes a report and searches it through the FHIR API", async () => {
    const study = newUid();
    await publishReport(t.services.db, t.services.config.fhir, makePipelineResult(), { studyInstanceUID: study, patientId: "PG-FHIR" });
    const res = await t.api.get(`/fhir/DiagnosticReport?study-instance-uid=${study}&_include=DiagnosticReport:result`).expect(200);
    expect(res.body.total).toBe(1);
  });

  it("publishes reports of several studies at once, all sharing one Device, each saved whole at the first try", async () => {
    const studies = Array.from({ length: 6 }, () => newUid());
    // Fresh Device content: the concurrent saves all find it absent, the race an insert-then-lock must survive.
    const base = makePipelineResult();
    const result = { ...base, model: { ...base.model, manifestSha256: randomBytes(32).toString("hex") } };
    await Promise.all(studies.map((study) => publishReport(t.services.db, t.services.config.fhir, result, { studyInstanceUID: study, patientId: "PG-RACE" })));
    for (const study of studies) {
      const res = await t.api.get(`/fhir/DiagnosticReport?study-instance-uid=${study}&_include=DiagnosticReport:result`).expect(200);
      expect(res.body.total).toBe(1);
    }
  });

  it("runs the UPS-RS worklist: create, search, a claim raced by six clients", async () => {
    const dataset = scheduledWorkitem({ [TAG.PatientID]: { vr: "LO", Value: ["PG-UPS"] }, [TAG.InputInformationSequence]: { vr: "SQ", Value: [inputStudy(newUid())] } });
    const created = await t.api.post("/dicomweb/workitems").set("Content-Type", "application/dicom+json").send(JSON.stringify(dataset)).expect(201);
    const uid = String(created.headers.location).split("/").pop()!;
    const found = await t.api.get("/dicomweb/workitems?PatientID=PG-UPS").expect(200);
    expect(found.body).toHaveLength(1);
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.api
          .put(`/dicomweb/workitems/${uid}/state`)
          .set("Content-Type", "application/dicom+json")
          .send(JSON.stringify({ [TAG.ProcedureStepState]: { vr: "CS", Value: ["IN PROGRESS"] }, [TAG.TransactionUID]: { vr: "UI", Value: [`2.25.77${i}`] } })),
      ),
    );
    expect(claims.map((c) => c.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
  });

  it("gives a workitem claimed through two replicas at once to exactly one of them", async () => {
    // A second replica: its own process state and connection pool, the same PostgreSQL.
    const replica = await startTestApp({ TRRG_DATABASE_URL: postgres.url });
    try {
      for (let round = 0; round < 5; round++) {
        const dataset = scheduledWorkitem({ [TAG.InputInformationSequence]: { vr: "SQ", Value: [inputStudy(newUid())] } });
        const created = await t.api.post("/dicomweb/workitems").set("Content-Type", "application/dicom+json").send(JSON.stringify(dataset)).expect(201);
        const uid = String(created.headers.location).split("/").pop()!;
        const claims = await Promise.all(
          [t, replica, t, replica].map((app, i) =>
            app.api
              .put(`/dicomweb/workitems/${uid}/state`)
              .set("Content-Type", "application/dicom+json")
              .send(JSON.stringify({ [TAG.ProcedureStepState]: { vr: "CS", Value: ["IN PROGRESS"] }, [TAG.TransactionUID]: { vr: "UI", Value: [`2.25.88${round}${i}`] } })),
          ),
        );
        expect(claims.map((c) => c.status).sort()).toEqual([200, 409, 409, 409]);
      }
    } finally {
      await replica.close();
    }
  });

  it("chains audit events appended by several processes' stores at once without losing one", async () => {
    const others = await Promise.all([1, 2, 3].map(() => openPostgresDatabase(t.services.config.database.postgresUrl!)));
    try {
      const stores = [t.services.audit, ...others.map((db) => new AuditStore(db))];
      const before = await t.services.audit.verify();
      const event = applicationActivityEvent("start", { observer: AUDIT_OBSERVER });
      const heads = [];
      for (let round = 0; round < 10; round++) heads.push(...(await Promise.all(stores.map((store) => store.append(event)))));
      expect(new Set(heads.map((h) => h.seq)).size).toBe(40);
      const after = await t.services.audit.verify();
      expect(after.ok).toBe(true);
      expect(after.checked - before.checked).toBeGreaterThanOrEqual(40);
    } finally {
      await Promise.all(others.map((db) => db.destroy()));
    }
  });

  it("keeps the audit trail's hash chain whole", async () => {
    const result = await t.services.audit.verify();
    expect(result.ok).toBe(true);
  });
});
