// `trrg-gateway report`: the pipeline without a server, run as an operator runs it.
import type { Bundle, DiagnosticReport, Resource } from "@medplum/fhirtypes";
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { profileFor, validateProfiled } from "../src/fhir/profileValidation.js";
import { runPhantomCommand } from "../src/phantom/phantomCommand.js";
import { cli } from "./support/cli.js";

describe("trrg-gateway report", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "trrg-report-"));
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    await runPhantomCommand({ count: 2, seed: 2_000_501, out: path.join(dir, "studies"), size: 256 }, sink);
    await mkdir(path.join(dir, "junk"));
    await writeFile(path.join(dir, "junk", "notes.txt"), "not DICOM");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints a report per study of a folder, a progress line each, and writes the results as JSON", async () => {
    const out = path.join(dir, "results.json");
    const result = await cli(["report", path.join(dir, "studies"), "--out", out]);
    expect(result.code).toBe(0);
    expect(result.stdout.match(/^FINDINGS: /gm)).toHaveLength(2);
    expect(result.stdout).toMatch(/IMPRESSION: /);
    expect(result.stderr).toMatch(/\[1\/2\] .* ms/);
    expect(result.stderr).toMatch(/skipped .*ground-truth\.jsonl/);
    const results = JSON.parse(await readFile(out, "utf8")) as { studyInstanceUID: string; findings: unknown[] }[];
    expect(results).toHaveLength(2);
    for (const r of results) expect(r.findings).toHaveLength(12);
  });

  it("prints the FHIR transaction Bundle of a study with --fhir: conditional creates that validate against our profiles", async () => {
    const studies = await readdir(path.join(dir, "studies"), { withFileTypes: true });
    const first = studies.find((e) => e.isDirectory())!;
    const result = await cli(["report", path.join(dir, "studies", first.name), "--fhir"]);
    expect(result.code, result.stderr).toBe(0);
    const bundle = JSON.parse(result.stdout) as Bundle;
    expect(bundle).toMatchObject({ resourceType: "Bundle", type: "transaction" });
    const types = bundle.entry!.map((e) => e.resource!.resourceType);
    expect(types).toEqual(["Device", ...Array(12).fill("Observation"), "DiagnosticReport", "Provenance"]);
    const fullUrls = new Set(bundle.entry!.map((e) => e.fullUrl));
    for (const entry of bundle.entry!) {
      expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
      expect(entry.request).toMatchObject({ method: "POST", url: entry.resource!.resourceType, ifNoneExist: expect.stringMatching(/^(identifier|_tag)=/) });
      expect(issuesInBundle(entry.resource!), entry.resource!.resourceType).toEqual([]);
    }
    // References between the entries are their full URLs, so the server resolves them to what it created.
    const report = bundle.entry!.find((e) => e.resource!.resourceType === "DiagnosticReport")!.resource as DiagnosticReport;
    for (const r of report.result!) expect(fullUrls.has(r.reference)).toBe(true);
  });

  it("fails with status 1 when no file is a readable DICOM image", async () => {
    const result = await cli(["report", path.join(dir, "junk")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no readable DICOM image/);
  });

  it("asks for files with status 2", async () => {
    const result = await cli(["report"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/give one or more DICOM files or folders/);
  });
});

/** Issues of a resource inside a transaction Bundle: a urn:uuid reference cannot be type-checked (a warning). */
function issuesInBundle(resource: Resource) {
  return validateProfiled(resource, profileFor(resource.resourceType)!).filter((i) => !(i.severity === "warning" && /got "urn:uuid:/.test(i.diagnostics ?? "")));
}
