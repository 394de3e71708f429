// The audit trail (issue 3): BALP AuditEvents from access records, the append-only hash-chained store and its
// verification against tampering, search, and GET /fhir/AuditEvent.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import SQLite from "better-sqlite3";
import express from "express";
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AccessKind, AccessRecord } from "../src/audit/accessRecord.js";
import { toAuditEvent, type AuditEvent, type AuditEventEntity } from "../src/audit/auditEvent.js";
import { auditRoutes } from "../src/audit/auditRoutes.js";
import { parseAuditSearch, parseDateRange } from "../src/audit/auditSearchParams.js";
import { AuditStore } from "../src/audit/auditStore.js";
import { canonicalJson, chainHash, GENESIS_HASH } from "../src/audit/hashChain.js";
import { runAuditVerify } from "../src/audit/verifyCommand.js";
import { loadConfig } from "../src/config.js";
import { openDatabase, type Database } from "../src/store/database.js";

const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const SOURCE = { observer: "trrg-gateway", site: "test-site" };

function accessRecord(overrides: Partial<AccessRecord> = {}): AccessRecord {
  return {
    kind: "dicomweb-retrieve",
    requestId: "req-1",
    started: new Date("2026-11-23T10:00:00.000Z"),
    recorded: new Date("2026-11-23T10:00:00.250Z"),
    method: "GET",
    route: "/dicomweb/studies/:study",
    url: "/dicomweb/studies/1.2.3",
    status: 200,
    action: "R",
    outcome: "0",
    agent: { clientId: "pacs-viewer", address: "127.0.0.1" },
    entities: [{ kind: "study", studyInstanceUID: "1.2.3" }, { kind: "patient", patientId: "P1" }],
    ...overrides,
  };
}

function entityWithRole(event: AuditEvent, code: string): AuditEventEntity | undefined {
  return event.entity?.find((e) => e.role?.code === code);
}

describe("toAuditEvent (FHIR R4 AuditEvent after IHE BALP)", () => {
  const dicomTypes: Array<[AccessKind, string, string]> = [
    ["dicomweb-store", "110107", "Import"],
    ["dicomweb-retrieve", "110106", "Export"],
    ["dicomweb-search", "110112", "Query"],
  ];
  it.each(dicomTypes)("types a %s access as DCM %s %s with the route as subtype", (kind, code, display) => {
    const event = toAuditEvent(accessRecord({ kind }), SOURCE);
    expect(event.type).toEqual({ system: DCM, code, display });
    expect(event.subtype).toEqual([{ system: "urn:trrg-gateway:route", code: "GET /dicomweb/studies/:study" }]);
  });

  it("types FHIR read and search as rest with the restful-interaction subtype", () => {
    const read = toAuditEvent(accessRecord({ kind: "fhir-read", route: "/fhir/DiagnosticReport/:id", entities: [] }), SOURCE);
    const search = toAuditEvent(accessRecord({ kind: "fhir-search", route: "/fhir/DiagnosticReport", action: "E" }), SOURCE);
    const rest = { system: "http://terminology.hl7.org/CodeSystem/audit-event-type", code: "rest", display: "Restful Operation" };
    expect(read.type).toEqual(rest);
    expect(read.subtype?.[0]).toEqual({ system: "http://hl7.org/fhir/restful-interaction", code: "read", display: "read" });
    expect(search.type).toEqual(rest);
    expect(search.subtype?.[0]).toEqual({ system: "http://hl7.org/fhir/restful-interaction", code: "search-type", display: "search-type" });
    expect(search.subtype?.[1]).toEqual({ system: "urn:trrg-gateway:route", code: "GET /fhir/DiagnosticReport" });
  });

  it("types any other HTTP access as rest with only the route subtype", () => {
    const event = toAuditEvent(accessRecord({ kind: "http", route: "(unmatched)", status: 401, outcome: "4", entities: [] }), SOURCE);
    expect(event.type.code).toBe("rest");
    expect(event.subtype).toEqual([{ system: "urn:trrg-gateway:route", code: "GET (unmatched)" }]);
  });

  it("carries action, period, recorded, outcome and its description", () => {
    const event = toAuditEvent(accessRecord({ status: 403, outcome: "4", outcomeDescription: "insufficient_scope" }), SOURCE);
    expect(event).toMatchObject({
      resourceType: "AuditEvent",
      action: "R",
      period: { start: "2026-11-23T10:00:00.000Z", end: "2026-11-23T10:00:00.250Z" },
      recorded: "2026-11-23T10:00:00.250Z",
      outcome: "4",
      outcomeDesc: "insufficient_scope",
    });
  });

  it("names the client by OAuth client id with its IP address, and the server as the other role (BALP Read)", () => {
    const event = toAuditEvent(accessRecord(), SOURCE);
    expect(event.agent).toEqual([
      {
        type: { coding: [{ system: DCM, code: "110152", display: "Destination Role ID" }] },
        who: { identifier: { system: "urn:trrg-gateway:oauth-client", value: "pacs-viewer" } },
        requestor: true,
        network: { address: "127.0.0.1", type: "2" },
      },
      { type: { coding: [{ system: DCM, code: "110153", display: "Source Role ID" }] }, who: { display: "trrg-gateway" }, requestor: false },
    ]);
  });

  it("makes the client the Source Role ID on a store, and a user named by the token the requestor (BALP Create)", () => {
    const event = toAuditEvent(accessRecord({ kind: "dicomweb-store", action: "C", agent: { clientId: "router", userId: "dr-who" } }), SOURCE);
    expect(event.agent[0]?.type?.coding[0]?.code).toBe("110153");
    expect(event.agent[0]?.requestor).toBe(false);
    expect(event.agent[1]?.type?.coding[0]?.code).toBe("110152");
    expect(event.agent[2]).toEqual({
      type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code: "INF", display: "Informant" }] },
      who: { identifier: { system: "urn:trrg-gateway:oauth-subject", value: "dr-who" } },
      requestor: true,
    });
    expect(event.agent.filter((a) => a.requestor)).toHaveLength(1);
  });

  it("records an unauthenticated client by its address only", () => {
    const event = toAuditEvent(accessRecord({ kind: "http", agent: { address: "::1" } }), SOURCE);
    expect(event.agent[0]).toMatchObject({ who: { display: "unauthenticated client" }, requestor: true, network: { address: "::1", type: "2" } });
  });

  it("names this service as the audit source, an Application Server", () => {
    expect(toAuditEvent(accessRecord(), SOURCE).source).toEqual({
      site: "test-site",
      observer: { display: "trrg-gateway" },
      type: [{ system: "http://terminology.hl7.org/CodeSystem/security-source-type", code: "4", display: "Application Server" }],
    });
  });

  it("identifies the patient as Person/Patient and the study by its UID as System Object/Report", () => {
    const event = toAuditEvent(accessRecord(), SOURCE);
    expect(entityWithRole(event, "1")).toEqual({
      what: { type: "Patient", identifier: { value: "P1" } },
      type: { system: "http://terminology.hl7.org/CodeSystem/audit-entity-type", code: "1", display: "Person" },
      role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "1", display: "Patient" },
    });
    expect(entityWithRole(event, "3")).toEqual({
      what: {
        identifier: {
          type: { coding: [{ system: DCM, code: "110180", display: "Study Instance UID" }] },
          system: "urn:dicom:uid",
          value: "urn:oid:1.2.3",
        },
      },
      type: { system: "http://terminology.hl7.org/CodeSystem/audit-entity-type", code: "2", display: "System Object" },
      role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "3", display: "Report" },
    });
  });

  it("puts a URI issuer of the patient ID in identifier.system and any other issuer in assigner", () => {
    const uri = toAuditEvent(accessRecord({ entities: [{ kind: "patient", patientId: "P1", issuer: "urn:oid:1.2.840.99" }] }), SOURCE);
    const name = toAuditEvent(accessRecord({ entities: [{ kind: "patient", patientId: "P1", issuer: "HOSPITAL_A" }] }), SOURCE);
    expect(entityWithRole(uri, "1")?.what?.identifier).toEqual({ system: "urn:oid:1.2.840.99", value: "P1" });
    expect(entityWithRole(name, "1")?.what?.identifier).toEqual({ value: "P1", assigner: { display: "HOSPITAL_A" } });
  });

  it("references a FHIR resource as a Domain Resource and keeps a query base64-encoded in a Query entity", () => {
    const event = toAuditEvent(
      accessRecord({ kind: "fhir-search", entities: [{ kind: "resource", reference: "DiagnosticReport/7" }, { kind: "query", query: "subject=Patient/1&code=30746-2" }] }),
      SOURCE,
    );
    expect(entityWithRole(event, "4")).toMatchObject({ what: { reference: "DiagnosticReport/7" }, type: { code: "2" } });
    const query = entityWithRole(event, "24");
    expect(query).toMatchObject({ type: { code: "2" }, role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "24", display: "Query" } });
    expect(Buffer.from(query?.query ?? "", "base64").toString("utf8")).toBe("subject=Patient/1&code=30746-2");
  });

  it("adds the request id as a BALP XrequestId entity, last", () => {
    const event = toAuditEvent(accessRecord({ requestId: "abc-123" }), SOURCE);
    expect(event.entity?.at(-1)).toEqual({
      what: { identifier: { value: "abc-123" } },
      type: {
        system: "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
        code: "XrequestId",
        display: "transport specific unique identifier where http X-Request-Id is used",
      },
    });
  });
});

describe("hash chain", () => {
  it("writes canonical JSON: keys sorted at every depth, no whitespace, undefined left out", () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined, b: "x" }] })).toBe('{"a":[{"b":"x","d":2}],"b":1}');
  });

  it("hashes prev_hash, seq and the JSON with sha256", () => {
    expect(chainHash(GENESIS_HASH, 1, "{}")).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(GENESIS_HASH, 1, "{}")).not.toBe(chainHash(GENESIS_HASH, 2, "{}"));
  });
});

let dir: string;
let dbPath: string;
let db: Database;
let store: AuditStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-audit-"));
  dbPath = path.join(dir, "audit.sqlite");
  db = await openDatabase(dbPath);
  store = new AuditStore(db);
});
afterEach(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

function eventNumber(i: number, overrides: Partial<AccessRecord> = {}): AuditEvent {
  return toAuditEvent(accessRecord({ requestId: `req-${i}`, recorded: new Date(Date.UTC(2026, 10, 1, 0, i)), ...overrides }), SOURCE);
}

async function appendEvents(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) await store.append(eventNumber(i));
}

/** Opens the database file as an attacker with file access would: triggers dropped, then anything goes. */
function tamper(change: (file: SQLite.Database) => void): void {
  const file = new SQLite(dbPath);
  try {
    file.exec("DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;");
    change(file);
  } finally {
    file.close();
  }
}

function eventJson(file: SQLite.Database, seq: number): string {
  return (file.prepare("SELECT event FROM audit_events WHERE seq = ?").get(seq) as { event: string }).event;
}

describe("AuditStore append and verify", () => {
  it("chains many concurrent appends as seq 1..N without gaps, and verifies", async () => {
    const heads = await Promise.all(Array.from({ length: 300 }, (_, i) => store.append(eventNumber(i))));
    expect(heads.map((h) => h.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const result = await store.verify();
    expect(result).toMatchObject({ ok: true, checked: 300, headSeq: 300, problems: [] });
    expect(result.headHash).toBe(heads.find((h) => h.seq === 300)?.hash);
  });

  it("starts the chain at 64 zeros and stores the event as canonical JSON without an id", async () => {
    await store.append({ ...eventNumber(1), id: "ignored" });
    const row = await db.selectFrom("audit_events").selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ seq: 1, prev_hash: GENESIS_HASH, outcome: "0", agent_client_id: "pacs-viewer" });
    expect(row.entity_refs).toBe("study:1.2.3 Patient?identifier=P1 req:req-1");
    expect(row.event).toBe(canonicalJson(eventNumber(1)));
    expect(row.hash).toBe(chainHash(GENESIS_HASH, 1, row.event));
  });

  it("verifies an empty trail with the zero head", async () => {
    expect(await store.verify()).toEqual({ ok: true, checked: 0, headSeq: 0, headHash: GENESIS_HASH, problems: [] });
  });

  it("refuses UPDATE and DELETE through the service's own connection and through the file (triggers)", async () => {
    await appendEvents(2);
    await expect(db.updateTable("audit_events").set({ outcome: "8" }).where("seq", "=", 1).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom("audit_events").where("seq", "=", 2).execute()).rejects.toThrow(/append-only/);
    const file = new SQLite(dbPath);
    try {
      expect(() => file.prepare("UPDATE audit_events SET event = '{}' WHERE seq = 1").run()).toThrow(/append-only/);
      expect(() => file.prepare("DELETE FROM audit_events").run()).toThrow(/append-only/);
    } finally {
      file.close();
    }
    expect((await store.verify()).ok).toBe(true);
  });

  it("finds an edited record: hash mismatch at its seq only", async () => {
    await appendEvents(10);
    tamper((file) => {
      const edited = eventJson(file, 5).replace('"action":"R"', '"action":"C"');
      file.prepare("UPDATE audit_events SET event = ? WHERE seq = 5").run(edited);
    });
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([{ seq: 5, problem: "hash-mismatch" }]);
  });

  it("finds a record deleted from the middle: a gap at its seq and a broken link after it", async () => {
    await appendEvents(10);
    tamper((file) => file.prepare("DELETE FROM audit_events WHERE seq = 5").run());
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.checked).toBe(9);
    expect(result.problems).toEqual([
      { seq: 5, problem: "sequence-gap" },
      { seq: 6, problem: "broken-link" },
    ]);
  });

  it("finds two records whose event JSON was swapped", async () => {
    await appendEvents(10);
    tamper((file) => {
      const four = eventJson(file, 4);
      const seven = eventJson(file, 7);
      file.prepare("UPDATE audit_events SET event = ? WHERE seq = 4").run(seven);
      file.prepare("UPDATE audit_events SET event = ? WHERE seq = 7").run(four);
    });
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual({ seq: 4, problem: "hash-mismatch" });
    expect(result.problems).toContainEqual({ seq: 7, problem: "hash-mismatch" });
    expect(new Set(result.problems.map((p) => p.seq))).toEqual(new Set([4, 7]));
  });

  it("finds two records whose seq was swapped", async () => {
    await appendEvents(10);
    tamper((file) => {
      file.prepare("UPDATE audit_events SET seq = -1 WHERE seq = 3").run();
      file.prepare("UPDATE audit_events SET seq = 3 WHERE seq = 4").run();
      file.prepare("UPDATE audit_events SET seq = 4 WHERE seq = -1").run();
    });
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual({ seq: 3, problem: "broken-link" });
    expect(result.problems).toContainEqual({ seq: 3, problem: "hash-mismatch" });
    expect(result.problems).toContainEqual({ seq: 4, problem: "hash-mismatch" });
    // The record after the pair no longer links to the one before it either.
    expect(result.problems).toContainEqual({ seq: 5, problem: "broken-link" });
    expect(new Set(result.problems.map((p) => p.seq))).toEqual(new Set([3, 4, 5]));
  });

  it("finds a search column changed to hide a record from search", async () => {
    await appendEvents(3);
    tamper((file) => file.prepare("UPDATE audit_events SET agent_client_id = 'someone-else' WHERE seq = 2").run());
    expect((await store.verify()).problems).toEqual([{ seq: 2, problem: "index-mismatch" }]);
  });

  it("finds removal of the newest records only against a head kept outside", async () => {
    await appendEvents(6);
    const before = await store.verify();
    tamper((file) => file.prepare("DELETE FROM audit_events WHERE seq > 4").run());
    expect((await store.verify()).ok).toBe(true); // a shorter chain is still a valid chain
    const against = await store.verify({ seq: before.headSeq, hash: before.headHash });
    expect(against.problems).toEqual([{ seq: 5, problem: "sequence-gap" }]);
  });

  it("finds a chain rewritten from some record on against a head kept outside", async () => {
    await appendEvents(4);
    const before = await store.verify();
    tamper((file) => {
      // Rewrite record 4 and recompute its hash: the chain is self-consistent again.
      const row = file.prepare("SELECT prev_hash, event FROM audit_events WHERE seq = 4").get() as { prev_hash: string; event: string };
      const event = row.event.replace('"action":"R"', '"action":"D"');
      file.prepare("UPDATE audit_events SET event = ?, hash = ? WHERE seq = 4").run(event, chainHash(row.prev_hash, 4, event));
    });
    expect((await store.verify()).ok).toBe(true);
    expect((await store.verify({ seq: 4, hash: before.headHash })).problems).toEqual([{ seq: 4, problem: "head-mismatch" }]);
  });

  it("continues the chain after reopening the database", async () => {
    await appendEvents(3);
    await db.destroy();
    db = await openDatabase(dbPath);
    store = new AuditStore(db);
    expect((await store.append(eventNumber(4))).seq).toBe(4);
    expect(await store.verify()).toMatchObject({ ok: true, checked: 4 });
  });
});

describe("AuditStore search", () => {
  // Six events, one a day from 2026-11-20, alternating clients and studies; the last two refused.
  beforeEach(async () => {
    for (let day = 0; day < 6; day++) {
      await store.append(
        toAuditEvent(
          accessRecord({
            requestId: `req-${day}`,
            recorded: new Date(Date.UTC(2026, 10, 20 + day, 12)),
            agent: { clientId: day % 2 === 0 ? "viewer" : "router", address: "127.0.0.1" },
            outcome: day >= 4 ? "4" : "0",
            entities: [
              { kind: "study", studyInstanceUID: day % 2 === 0 ? "1.2.840.1" : "1.2.840.2" },
              { kind: "patient", patientId: day < 3 ? "P 1" : "P2", issuer: "HOSP" },
            ],
          }),
          SOURCE,
        ),
      );
    }
  });

  const days = (events: AuditEvent[]) => events.map((e) => e.recorded.slice(0, 10));

  it("returns all events newest first with their seq as id", async () => {
    const { total, events } = await store.search({ count: 50, offset: 0 });
    expect(total).toBe(6);
    expect(events.map((e) => e.id)).toEqual(["6", "5", "4", "3", "2", "1"]);
    expect(events[0]?.resourceType).toBe("AuditEvent");
  });

  it("filters by date from (inclusive) and to (exclusive)", async () => {
    const { total, events } = await store.search({ dateFrom: "2026-11-21T00:00:00.000Z", dateTo: "2026-11-23T12:00:00.000Z", count: 50, offset: 0 });
    expect(total).toBe(2);
    expect(days(events)).toEqual(["2026-11-22", "2026-11-21"]);
  });

  it("filters by client id, outcome and both", async () => {
    expect((await store.search({ agent: "router", count: 50, offset: 0 })).total).toBe(3);
    expect((await store.search({ outcome: "4", count: 50, offset: 0 })).total).toBe(2);
    const both = await store.search({ agent: "viewer", outcome: "4", count: 50, offset: 0 });
    expect(days(both.events)).toEqual(["2026-11-24"]);
  });

  it("filters by entity: a study UID (with or without urn:oid:), a patient id, a whole token, a request id", async () => {
    expect((await store.search({ entity: "1.2.840.2", count: 50, offset: 0 })).total).toBe(3);
    expect((await store.search({ entity: "urn:oid:1.2.840.2", count: 50, offset: 0 })).total).toBe(3);
    expect((await store.search({ entity: "study:1.2.840.1", count: 50, offset: 0 })).total).toBe(3);
    expect((await store.search({ entity: "P 1", count: 50, offset: 0 })).total).toBe(3);
    expect((await store.search({ entity: "Patient?identifier=HOSP|P2", count: 50, offset: 0 })).total).toBe(3);
    expect(days((await store.search({ entity: "req-4", count: 50, offset: 0 })).events)).toEqual(["2026-11-24"]);
  });

  it("matches entity tokens whole: no prefix matches and no LIKE wildcards", async () => {
    for (const entity of ["1.2.840", "1.2.840._", "%", "P", "study:1.2.840"]) {
      expect((await store.search({ entity, count: 50, offset: 0 })).total, entity).toBe(0);
    }
  });

  it("pages with count and offset, total counting every match", async () => {
    const first = await store.search({ count: 4, offset: 0 });
    const second = await store.search({ count: 4, offset: 4 });
    expect([first.total, second.total]).toEqual([6, 6]);
    expect(first.events.map((e) => e.id)).toEqual(["6", "5", "4", "3"]);
    expect(second.events.map((e) => e.id)).toEqual(["2", "1"]);
    expect(await store.search({ count: 0, offset: 0 })).toEqual({ total: 6, events: [] });
  });

  it("reads one event by its seq", async () => {
    expect((await store.read(2))?.recorded).toBe("2026-11-21T12:00:00.000Z");
    expect(await store.read(99)).toBeUndefined();
  });
});

describe("AuditEvent search parameters (FHIR R4 search)", () => {
  it("turns a partial date into its whole range", () => {
    const range = (text: string) => {
      const { start, end } = parseDateRange(text);
      return [new Date(start).toISOString(), new Date(end).toISOString()];
    };
    expect(range("2026")).toEqual(["2026-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
    expect(range("2026-12")).toEqual(["2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
    expect(range("2026-02-28")).toEqual(["2026-02-28T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]);
    expect(range("2026-11-23T10:15+01:00")).toEqual(["2026-11-23T09:15:00.000Z", "2026-11-23T09:16:00.000Z"]);
    expect(range("2026-11-23T10:15:30Z")).toEqual(["2026-11-23T10:15:30.000Z", "2026-11-23T10:15:31.000Z"]);
    expect(range("2026-11-23T10:15:30 02:00")).toEqual(["2026-11-23T08:15:30.000Z", "2026-11-23T08:15:31.000Z"]);
  });

  it("maps the prefixes eq, ge, gt, le and lt onto from/to bounds, and ANDs repeats", () => {
    const bounds = (...dates: string[]) => {
      const { dateFrom, dateTo } = parseAuditSearch(dates.map((d) => ["date", d] as [string, string]));
      return [dateFrom, dateTo];
    };
    expect(bounds("2026-11")).toEqual(["2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"]);
    expect(bounds("eq2026-11-23")).toEqual(["2026-11-23T00:00:00.000Z", "2026-11-24T00:00:00.000Z"]);
    expect(bounds("ge2026-11-23")).toEqual(["2026-11-23T00:00:00.000Z", undefined]);
    expect(bounds("gt2026-11-23")).toEqual(["2026-11-24T00:00:00.000Z", undefined]);
    expect(bounds("le2026-11-23")).toEqual([undefined, "2026-11-24T00:00:00.000Z"]);
    expect(bounds("lt2026-11-23")).toEqual([undefined, "2026-11-23T00:00:00.000Z"]);
    expect(bounds("ge2026-11", "lt2026-11-15", "ge2026-11-10")).toEqual(["2026-11-10T00:00:00.000Z", "2026-11-15T00:00:00.000Z"]);
  });

  it.each([
    [[["date", "2026-13"]], /not a valid date/],
    [[["date", "2026-02-30"]], /not a valid date/],
    [[["date", "23/11/2026"]], /not a FHIR date/],
    [[["date", "ne2026-11"]], /prefix "ne"/],
    [[["patient", "P1"]], /unknown search parameter "patient"/],
    [[["agent:missing", "true"]], /unknown search parameter/],
    [[["outcome", "1"]], /outcome/],
    [[["_count", "-1"]], /_count/],
    [[["agent", "a"], ["agent", "b"]], /more than once/],
    [[["entity", "a"], ["entity-identifier", "b"]], /more than once/],
  ] as Array<[[string, string][], RegExp]>)("refuses %j", (parameters, message) => {
    expect(() => parseAuditSearch(parameters)).toThrow(message);
  });

  it("defaults _count to 50 and caps it at 500", () => {
    expect(parseAuditSearch([])).toEqual({ count: 50, offset: 0 });
    expect(parseAuditSearch([["_count", "5000"], ["_offset", "10"]])).toEqual({ count: 500, offset: 10 });
    expect(parseAuditSearch([["entity-identifier", "1.2.3"]]).entity).toBe("1.2.3");
  });
});

describe("GET /fhir/AuditEvent", () => {
  const app = () => {
    const server = express();
    server.use("/fhir", auditRoutes(store, () => "http://gateway.test"));
    return server;
  };

  beforeEach(async () => {
    for (let i = 1; i <= 5; i++) {
      await store.append(eventNumber(i, { agent: { clientId: i <= 3 ? "viewer" : "router" }, entities: [{ kind: "study", studyInstanceUID: `1.2.${i}` }] }));
    }
  });

  it("answers a searchset Bundle with total, entries by seq and paging links", async () => {
    const res = await request(app()).get("/fhir/AuditEvent?agent=viewer&_count=2").expect(200);
    expect(res.headers["content-type"]).toMatch(/^application\/fhir\+json/);
    const bundle = JSON.parse(res.text) as {
      resourceType: string; type: string; total: number;
      link: Array<{ relation: string; url: string }>;
      entry: Array<{ fullUrl: string; resource: AuditEvent; search: { mode: string } }>;
    };
    expect(bundle).toMatchObject({ resourceType: "Bundle", type: "searchset", total: 3 });
    expect(bundle.entry.map((e) => e.fullUrl)).toEqual(["http://gateway.test/fhir/AuditEvent/3", "http://gateway.test/fhir/AuditEvent/2"]);
    expect(bundle.entry[0]?.resource).toMatchObject({ resourceType: "AuditEvent", id: "3" });
    expect(bundle.entry[0]?.search).toEqual({ mode: "match" });
    expect(bundle.link).toEqual([
      { relation: "self", url: "http://gateway.test/fhir/AuditEvent?agent=viewer&_count=2" },
      { relation: "next", url: "http://gateway.test/fhir/AuditEvent?agent=viewer&_count=2&_offset=2" },
    ]);
    const next = JSON.parse((await request(app()).get("/fhir/AuditEvent?agent=viewer&_count=2&_offset=2").expect(200)).text) as typeof bundle;
    expect(next.entry.map((e) => e.resource.id)).toEqual(["1"]);
    expect(next.link.map((l) => l.relation)).toEqual(["self", "previous"]);
  });

  it("searches by date and entity", async () => {
    const res = await request(app()).get("/fhir/AuditEvent").query({ date: ["ge2026-11-01T00:02:00Z", "lt2026-11-01T00:05Z"], entity: "1.2.3" }).expect(200);
    const bundle = JSON.parse(res.text) as { total: number; entry: Array<{ resource: AuditEvent }> };
    expect(bundle.total).toBe(1);
    expect(bundle.entry[0]?.resource.id).toBe("3");
  });

  it("answers 400 with an OperationOutcome for a bad date or an unknown parameter", async () => {
    for (const query of ["date=2026-13-01", "date=yesterday", "foo=bar"]) {
      const res = await request(app()).get(`/fhir/AuditEvent?${query}`).expect(400);
      expect(res.headers["content-type"]).toMatch(/^application\/fhir\+json/);
      expect(JSON.parse(res.text)).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid" }] });
    }
  });

  it("reads an AuditEvent by id, and answers 404 with an OperationOutcome for an unknown one", async () => {
    const res = await request(app()).get("/fhir/AuditEvent/4").expect(200);
    const event = JSON.parse(res.text) as AuditEvent;
    expect(event).toMatchObject({ resourceType: "AuditEvent", id: "4" });
    expect(event.agent[0]?.who?.identifier?.value).toBe("router");
    for (const id of ["99", "0", "abc"]) {
      const missing = await request(app()).get(`/fhir/AuditEvent/${id}`).expect(404);
      expect(JSON.parse(missing.text)).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found" }] });
    }
  });
});

describe("audit verify command", () => {
  it("prints a summary with the head and exits 0, or one line per problem and exits 1", async () => {
    await appendEvents(3);
    const config = loadConfig({ TRRG_DATA_DIR: dir, TRRG_SQLITE_PATH: "audit.sqlite" });
    const output = () => {
      let text = "";
      const out = { write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WritableStream;
      return { out, text: () => text };
    };
    const good = output();
    expect(await runAuditVerify(config, good.out)).toBe(0);
    expect(good.text()).toMatch(/^audit verify: ok; checked 3 event\(s\); head 3:[0-9a-f]{64}\n$/);
    tamper((file) => file.prepare("DELETE FROM audit_events WHERE seq = 2").run());
    const bad = output();
    expect(await runAuditVerify(config, bad.out)).toBe(1);
    expect(bad.text()).toContain("audit verify: seq 2: sequence-gap\n");
    expect(bad.text()).toContain("audit verify: seq 3: broken-link\n");
    expect(bad.text()).toContain("2 problem(s); checked 2 event(s)");
  });
});
