// What publishing costs a report job, and what searching costs a FHIR client: per report, building its 15
// resources and validating them against our profiles, then saving them with their search index in SQLite; then
// searches over the published reports (by patient identifier, by date range, a page with _include of results).
// Medians of rounds; the peer is validation by @medplum/core's documented per-call route (the profile parsed on
// every call), side by side with ours (parsed once). No issue sets a target: the figures say what FHIR output adds
// to the pipeline's per-study time (bench/pipeline.ts).
//
//   npx tsx bench/fhir.ts               (BENCH_QUICK=1 for a short run)
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_PATIENT_LINKAGE } from "../src/fhir/patientReference.js";
import { validateResource } from "@medplum/core";
import type { StructureDefinition } from "@medplum/fhirtypes";
import { readFileSync } from "node:fs";
import { generatedResourcesDir, profileFor } from "../src/fhir/profileValidation.js";
import { assertValid, publishReport, resourcesOf } from "../src/fhir/publishReport.js";
import { buildReportResources, type ReportedStudy } from "../src/fhir/reportResources.js";
import { searchResources } from "../src/fhir/resourceStore.js";
import { parseResourceSearch } from "../src/fhir/searchRequest.js";
import { openDatabase } from "../src/store/database.js";
import { makePipelineResult } from "../test/fixtures/pipelineResult.js";

const QUICK = process.env.BENCH_QUICK === "1";
const REPORTS = QUICK ? 200 : 1000;
const ROUNDS = QUICK ? 20 : 60;
const SETTINGS = { patientLinkage: DEFAULT_PATIENT_LINKAGE, organizationName: "Radiology" };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function timeEach(rounds: number, work: (i: number) => void | Promise<void>): Promise<number> {
  return (async () => {
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await work(i);
      times.push(performance.now() - start);
    }
    return median(times);
  })();
}

function study(i: number): ReportedStudy {
  const day = new Date(Date.UTC(2026, 0, 1 + (i % 365)));
  return {
    studyInstanceUID: `2.25.${1000 + i}`,
    patientId: `P${i % 50}`,
    issuerOfPatientId: "1.2.3.4",
    studyDate: day.toISOString().slice(0, 10).replaceAll("-", ""),
    studyTime: "101500",
    timezoneOffset: "+0100",
  };
}

async function main(): Promise<void> {
  const result = makePipelineResult(["Cardiomegaly", "Pleural Effusion"]);
  assertValid(buildReportResources(result, study(0), SETTINGS, new Date())); // loads the definitions once
  const validateOurs = await timeEach(ROUNDS, (i) => assertValid(buildReportResources(result, study(i), SETTINGS, new Date())));
  const profiles = new Map<string, StructureDefinition>();
  for (const type of ["DiagnosticReport", "Observation", "Device", "Provenance"]) {
    const file = path.join(generatedResourcesDir(), `StructureDefinition-${profileFor(type)!.split("/").pop()}.json`);
    profiles.set(type, JSON.parse(readFileSync(file, "utf8")) as StructureDefinition);
  }
  const validatePeer = await timeEach(ROUNDS, (i) => {
    for (const resource of resourcesOf(buildReportResources(result, study(i), SETTINGS, new Date()))) {
      validateResource(resource, { profile: profiles.get(resource.resourceType)! });
    }
  });

  const dir = await mkdtemp(path.join(tmpdir(), "trrg-bench-fhir-"));
  try {
    const db = await openDatabase(path.join(dir, "bench.sqlite"));
    const publish = await timeEach(REPORTS, (i) => publishReport(db, SETTINGS, result, study(i)).then(() => undefined));
    const search = (query: string) => () => searchResources(db, parseResourceSearch("DiagnosticReport", new URLSearchParams(query)), { patient: undefined }).then(() => undefined);
    const byPatient = await timeEach(ROUNDS, search("patient:identifier=urn:oid:1.2.3.4|P7"));
    const byDate = await timeEach(ROUNDS, search("date=ge2026-03-01&date=lt2026-04-01"));
    const withResults = await timeEach(ROUNDS, search("_count=50&_offset=100&_include=DiagnosticReport:result"));
    await db.destroy();
    console.log(`FHIR output, ${REPORTS} reports of 15 resources each (medians)\n`);
    console.log("| step | ms |\n| --- | --- |");
    console.log(`| build + validate one report, profiles parsed once (ours) | ${validateOurs.toFixed(1)} |`);
    console.log(`| build + validate one report, validateResource(r, { profile }) per resource (peer) | ${validatePeer.toFixed(1)} |`);
    console.log(`| publish one report (build, validate, save with index, one transaction) | ${publish.toFixed(1)} |`);
    console.log(`| search: one patient's reports by identifier (of ${REPORTS}) | ${byPatient.toFixed(1)} |`);
    console.log(`| search: one month by study date | ${byDate.toFixed(1)} |`);
    console.log(`| search: a page of 50 with _include=DiagnosticReport:result | ${withResults.toFixed(1)} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
