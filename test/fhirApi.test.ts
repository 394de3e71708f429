// The FHIR read API over published reports: reads, every search parameter, paging over 210 reports, _include and
// _revinclude, patient/ scopes, and OperationOutcome errors. The reports are real pipeline results of phantom
// studies, published under many study identities (patients, dates, UIDs) through the same code a job uses.
import type { Bundle, DiagnosticReport, Observation, Resource } from "@medplum/fhirtypes";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUid } from "./fixtures/dicomFactory.js";
import { profileFor, validateProfiled } from "../src/fhir/profileValidation.js";
import { publishReport } from "../src/fhir/publishReport.js";
import type { ReportedStudy } from "../src/fhir/reportResources.js";
import { loadModelSet } from "../src/inference/manifest.js";
import { BUNDLED_MODEL_DIR } from "../src/inference/modelLocation.js";
import { closeModel, openModel } from "../src/inference/sessions.js";
import { loadTokenizer } from "../src/inference/tokenizer.js";
import { makePhantomStudy } from "../src/phantom/study.js";
import { reportStudy, type PipelineResult } from "../src/pipeline/reportStudy.js";
import { studyImageFromPart10 } from "../src/pipeline/studyImages.js";
import { startTestApp, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

const REPORTS = 210;
const PATIENTS = 7;
const ISSUER_SYSTEM = "urn:oid:1.2.826.0.1.3680043.10.1234";
const OTHER_PATIENT = TEST_CLIENTS.patient.patient;

let t: TestApp;
const results: PipelineResult[] = [];
const published: { study: ReportedStudy; report: DiagnosticReport }[] = [];

const issuedAt = (i: number) => new Date(Date.UTC(2026, 5, 1, 0, 0, i));

function studyOf(i: number): ReportedStudy {
  const day = new Date(Date.UTC(2026, 0, 1 + i));
  return {
    studyInstanceUID: newUid(),
    // Every tenth report belongs to the patient of the patient/ test client.
    patientId: i % 10 === 9 ? OTHER_PATIENT : `P${i % PATIENTS}`,
    issuerOfPatientId: "HOSP",
    studyDate: day.toISOString().slice(0, 10).replaceAll("-", ""),
    studyTime: "101500",
    timezoneOffset: "+0100",
  };
}

beforeAll(async () => {
  t = await startTestApp({ TRRG_FHIR_PATIENT_ID_SYSTEMS: JSON.stringify({ HOSP: ISSUER_SYSTEM }), TRRG_FHIR_ORGANIZATION: "Radiology, General Hospital" });
  const set = await loadModelSet(BUNDLED_MODEL_DIR);
  const model = await openModel(set, { executionProviders: ["cpu"], intraOpThreads: 1 });
  const tokenizer = await loadTokenizer(set);
  try {
    for (const seed of [2_000_011, 2_000_012, 2_000_013]) {
      const phantom = makePhantomStudy(seed, { rows: 256, columns: 256, pixelSpacingMm: 1.4 });
      results.push(await reportStudy(model, tokenizer, phantom.images.map((i) => studyImageFromPart10(i.part10))));
    }
  } finally {
    await closeModel(model);
  }
  for (let i = 0; i < REPORTS; i++) {
    const study = studyOf(i);
    const resources = await publishReport(t.services.db, t.services.config.fhir, results[i % results.length]!, study, issuedAt(i));
    published.push({ study, report: resources.report });
  }
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const fhir = (path: string) => t.api.get(`/fhir/${path}`);

async function searchAll(path: string): Promise<{ resources: Resource[]; pages: number; total: number }> {
  const resources: Resource[] = [];
  let url: string | undefined = `/fhir/${path}`;
  let pages = 0;
  let total = -1;
  while (url) {
    const res = await t.api.get(url.replace("http://127.0.0.1:8080", ""));
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    total = bundle.total ?? -1;
    resources.push(...(bundle.entry ?? []).filter((e) => e.search?.mode === "match").map((e) => e.resource as Resource));
    url = bundle.link?.find((l) => l.relation === "next")?.url;
    pages++;
  }
  return { resources, pages, total };
}

const reportsWhere = (test: (p: (typeof published)[number]) => boolean) => published.filter(test).map((p) => p.report.id).sort();
const ids = (resources: Resource[]) => resources.map((r) => r.id).sort();

describe("reading published reports", () => {
  it("serves the report as application/fhir+json with its version, and it validates against its profile", async () => {
    const { report } = published[0]!;
    const res = await fhir(`DiagnosticReport/${report.id}`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/fhir\+json/);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.body).toMatchObject({ resourceType: "DiagnosticReport", id: report.id, status: "preliminary", meta: { versionId: "1" } });
    expect(validateProfiled(res.body as Resource, profileFor("DiagnosticReport")!)).toEqual([]);
  });

  it("links the report to its findings, model Device and Provenance, each valid against its profile", async () => {
    const { report } = published[1]!;
    const bundle = (await fhir(`DiagnosticReport?_id=${report.id}&_include=DiagnosticReport:result&_revinclude=Provenance:target`)).body as Bundle;
    const included = (bundle.entry ?? []).filter((e) => e.search?.mode === "include").map((e) => e.resource as Resource);
    const observations = included.filter((r): r is Observation => r.resourceType === "Observation");
    expect(observations).toHaveLength(report.result!.length);
    const provenance = included.filter((r) => r.resourceType === "Provenance");
    expect(provenance).toHaveLength(1);
    const device = (await fhir(observations[0]!.device!.reference!)).body as Resource;
    expect(device.resourceType).toBe("Device");
    for (const resource of [...included, device]) expect(validateProfiled(resource, profileFor(resource.resourceType)!), resource.resourceType).toEqual([]);
  });

  it("answers an unknown id with 404 and an OperationOutcome", async () => {
    const res = await fhir("DiagnosticReport/00000000-0000-5000-8000-000000000000");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found" }] });
  });

  it("refuses XML with 406", async () => {
    const res = await fhir("DiagnosticReport").set("Accept", "application/fhir+xml");
    expect(res.status).toBe(406);
    expect(res.body.resourceType).toBe("OperationOutcome");
  });

});

describe("searching reports", () => {
  it("pages through all 210 reports, 50 at a time, each exactly once", async () => {
    const { resources, pages, total } = await searchAll("DiagnosticReport?_count=50");
    expect(total).toBe(REPORTS);
    expect(pages).toBe(5);
    expect(ids(resources)).toEqual(published.map((p) => p.report.id).sort());
  });

  it("gives next and previous links that repeat the search", async () => {
    const bundle = (await fhir("DiagnosticReport?status=preliminary&_count=20&_offset=20")).body as Bundle;
    expect(bundle.entry).toHaveLength(20);
    const next = bundle.link?.find((l) => l.relation === "next")?.url;
    const previous = bundle.link?.find((l) => l.relation === "previous")?.url;
    expect(next).toMatch(/status=preliminary.*_count=20&_offset=40/);
    expect(previous).toMatch(/_offset=0/);
  });

  it("finds a patient's reports by the identifier of the logical subject reference", async () => {
    const expected = reportsWhere((p) => p.study.patientId === "P3");
    for (const query of [`patient:identifier=${ISSUER_SYSTEM}|P3`, `subject:identifier=${ISSUER_SYSTEM}|P3`, "patient:identifier=P3"]) {
      const { resources, total } = await searchAll(`DiagnosticReport?${query}`);
      expect(total, query).toBe(expected.length);
      expect(ids(resources), query).toEqual(expected);
    }
    expect((await fhir("DiagnosticReport?patient:identifier=urn:oid:9.9|P3")).body.total).toBe(0);
  });

  it("matches status, category and code tokens, with and without their system", async () => {
    expect((await fhir("DiagnosticReport?status=preliminary&_summary=count")).body.total).toBe(REPORTS);
    expect((await fhir("DiagnosticReport?status=final&_summary=count")).body.total).toBe(0);
    expect((await fhir("DiagnosticReport?category=http://loinc.org|LP29684-5&_summary=count")).body.total).toBe(REPORTS);
    expect((await fhir("DiagnosticReport?code=36554-4&_summary=count")).body.total).toBe(REPORTS);
    expect((await fhir("DiagnosticReport?code=http://snomed.info/sct|36554-4&_summary=count")).body.total).toBe(0);
  });

  it("searches the study date with FHIR prefixes over its range", async () => {
    // Report i has study date 2026-01-01 + i days.
    const inJanuary = reportsWhere((p) => p.study.studyDate!.startsWith("202601"));
    expect(ids((await searchAll("DiagnosticReport?date=2026-01&_count=100")).resources)).toEqual(inJanuary);
    const between = reportsWhere((p) => p.study.studyDate! >= "20260201" && p.study.studyDate! < "20260301");
    expect(ids((await searchAll("DiagnosticReport?date=ge2026-02-01&date=lt2026-03-01")).resources)).toEqual(between);
    expect((await fhir("DiagnosticReport?date=sa2027-01-01&_summary=count")).body.total).toBe(0);
  });

  it("finds the report of a study by its Study Instance UID, bare or as urn:oid", async () => {
    const { study, report } = published[42]!;
    for (const query of [study.studyInstanceUID, `urn:oid:${study.studyInstanceUID}`, `urn:dicom:uid|urn:oid:${study.studyInstanceUID}`]) {
      const bundle = (await fhir(`DiagnosticReport?study-instance-uid=${query}`)).body as Bundle;
      expect(bundle.entry?.map((e) => e.resource?.id), query).toEqual([report.id]);
    }
  });

  it("sorts by study date, newest first", async () => {
    const bundle = (await fhir("DiagnosticReport?_sort=-date&_count=3")).body as Bundle;
    const dates = bundle.entry!.map((e) => (e.resource as DiagnosticReport).effectiveDateTime);
    expect(dates).toEqual([...dates].sort().reverse());
    expect(dates[0]).toBe(published.at(-1)!.report.effectiveDateTime);
  });

  it("searches with POST _search and a form body as with GET", async () => {
    const res = await t.api.post("/fhir/DiagnosticReport/_search").type("form").send({ "patient:identifier": "P2", _summary: "count" });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(reportsWhere((p) => p.study.patientId === "P2").length);
  });

  it("finds findings by code and by presence", async () => {
    const present = (await fhir("Observation?code=https://trrg-gateway.org/fhir/CodeSystem/trrg-finding|cardiomegaly&_count=500")).body as Bundle;
    expect(present.total).toBe(REPORTS);
    const expected = (present.entry ?? []).filter((e) => (e.resource as Observation).valueCodeableConcept?.coding?.[0]?.code === "present").length;
    const said = await fhir("Observation?code=cardiomegaly&value-concept=present&_summary=count");
    expect(said.body.total).toBe(expected);
  });

  it("finds the model Device by name and its Provenance by agent", async () => {
    const devices = (await fhir("Device?device-name=TRRG")).body as Bundle;
    expect(devices.total).toBe(1);
    const device = devices.entry![0]!.resource!;
    expect((await fhir(`Provenance?agent=Device/${device.id}&_summary=count`)).body.total).toBe(REPORTS);
  });
});

describe("bad searches", () => {
  it.each([
    ["DiagnosticReport?colour=blue", /unknown search parameter "colour"/],
    ["DiagnosticReport?date=2026-13-01", /not a valid date/],
    ["DiagnosticReport?date=xx2026", /not a FHIR date/],
    ["DiagnosticReport?status:not=final", /modifier ":not" is not supported/],
    ["DiagnosticReport?_include=Observation:device", /does not start with DiagnosticReport/],
    ["DiagnosticReport?_sort=status", /can be sorted by/],
    ["DiagnosticReport?_count=many", /non-negative integer/],
  ])("%s is refused with 400 and the reason", async (query, reason) => {
    const res = await fhir(query);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid" }] });
    expect(res.body.issue[0].diagnostics).toMatch(reason);
  });
});

describe("patient/ scopes", () => {
  it("limits searches and reads to the launch patient's reports", async () => {
    const token = await t.token(TEST_CLIENTS.patient);
    const asPatient = (path: string) => request(t.app).get(`/fhir/${path}`).set("Authorization", `Bearer ${token}`);
    const own = reportsWhere((p) => p.study.patientId === OTHER_PATIENT);
    const bundle = (await asPatient("DiagnosticReport?_count=100")).body as Bundle;
    expect(ids(bundle.entry!.map((e) => e.resource as Resource))).toEqual(own);
    expect((await asPatient(`DiagnosticReport/${own[0]}`)).status).toBe(200);
    const someoneElse = published.find((p) => p.study.patientId === "P1")!.report.id;
    expect((await asPatient(`DiagnosticReport/${someoneElse}`)).status).toBe(404);
    expect((await asPatient("Observation?_summary=count")).body.total).toBe(own.length * published[0]!.report.result!.length);
    expect((await asPatient("Provenance?_summary=count")).body.total).toBe(own.length);
  });
});

describe("CapabilityStatement", () => {
  it("is public and lists each resource with its profile and the search parameters the server honours", async () => {
    const res = await request(t.app).get("/fhir/metadata");
    expect(res.status).toBe(200);
    const rest = res.body.rest[0];
    const types = rest.resource.map((r: { type: string }) => r.type);
    expect(types).toEqual(["DiagnosticReport", "Observation", "Device", "Provenance", "AuditEvent"]);
    const report = rest.resource[0];
    expect(report.profile).toBe("https://trrg-gateway.org/fhir/StructureDefinition/trrg-chest-xray-report");
    const names = report.searchParam.map((p: { name: string }) => p.name);
    for (const name of ["patient", "subject", "status", "date", "study-instance-uid", "identifier"]) expect(names).toContain(name);
    for (const name of names) expect((await fhir(`DiagnosticReport?${name}=x`)).body.issue?.[0]?.diagnostics ?? "").not.toMatch(/unknown search parameter/);
  });
});

describe("publishing again", () => {
  it("keeps the version of an unchanged report, and counts one up when it changed", async () => {
    const { study, report } = published[2]!;
    const version = async () => ((await fhir(`DiagnosticReport/${report.id}`)).body as DiagnosticReport).meta?.versionId;
    await publishReport(t.services.db, t.services.config.fhir, results[2]!, study, issuedAt(2));
    expect(await version()).toBe("1");
    await publishReport(t.services.db, t.services.config.fhir, results[2]!, study, new Date(Date.UTC(2026, 6, 1)));
    expect(await version()).toBe("2");
    expect((await fhir(`DiagnosticReport?study-instance-uid=${study.studyInstanceUID}&_summary=count`)).body.total).toBe(1);
  });
});
