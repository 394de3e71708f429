// When the audit trail cannot be written (the database refuses the insert), no request is answered with its data:
// the client gets 503 with a standard error body, DICOM JSON on DICOMweb routes and an OperationOutcome on FHIR
// routes, and may retry. The failure is real: a trigger in the test database refuses every audit insert.
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPostgres } from "../src/store/database.js";
import { makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  // Tokens first: the token request itself is audited.
  await t.api.get("/dicomweb/studies").expect(200);
  if (isPostgres(t.services.db)) {
    await sql`create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit volume unavailable'; end $$`.execute(t.services.db);
    await sql`create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()`.execute(t.services.db);
  } else {
    await sql`create trigger refuse_audit before insert on audit_events begin select raise(abort, 'audit volume unavailable'); end`.execute(t.services.db);
  }
});
afterAll(async () => {
  await t?.close();
});

describe("with the audit trail unwritable", () => {
  it("answers a DICOMweb search 503 with a DICOM JSON error, a Warning and Retry-After, and none of the data", async () => {
    const res = await t.api.get("/dicomweb/studies").expect(503);
    expect(res.headers["content-type"]).toMatch(/^application\/dicom\+json/);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.headers.warning).toMatch(/^299 .*audit trail cannot be written/);
    expect(res.body["00000902"].Value[0]).toMatch(/audit trail/);
  });

  it("answers a STOW-RS request 503, without the store response", async () => {
    const res = await storeInstances(t, [makeInstance({ studyInstanceUID: newUid() })]);
    expect(res.status).toBe(503);
    expect(res.body["00081199"]).toBeUndefined();
    expect(res.body["00000902"].Value[0]).toMatch(/audit trail/);
  });

  it("answers a FHIR read 503 with an OperationOutcome", async () => {
    const res = await t.api.get("/fhir/DiagnosticReport").expect(503);
    expect(res.body).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "transient" }] });
  });
});
