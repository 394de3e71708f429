// The FHIR profiles of docs/fhir.md as compiled into fhir-profiles/fsh-generated/, and src/fhir/profileValidation.ts.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Device, DiagnosticReport, Observation, Provenance, Resource, StructureDefinition } from "@medplum/fhirtypes";
import { describe, expect, it } from "vitest";
import {
  CODE_BINDINGS,
  PROFILES,
  generatedResourcesDir,
  profileFor,
  structureIssuesBothWays,
  validateProfiled,
  type ValidationIssue,
} from "../src/fhir/profileValidation.js";

const GENERATED = generatedResourcesDir();
const TRRG = "https://trrg-gateway.org/fhir/CodeSystem";

function readGenerated(file: string): Resource {
  return JSON.parse(readFileSync(path.join(GENERATED, file), "utf8")) as Resource;
}

/** A fresh copy of the generated example of a resource type, to change in one respect. */
function example<T extends Resource>(resourceType: T["resourceType"]): T {
  const file = readdirSync(GENERATED).find((f) => f.startsWith(`${resourceType}-example-`));
  if (!file) throw new Error(`no generated ${resourceType} example`);
  return readGenerated(file) as T;
}

function validate(resource: Resource): ValidationIssue[] {
  const profile = profileFor(resource.resourceType);
  if (!profile) throw new Error(`no profile for ${resource.resourceType}`);
  // Every case also checks that the profile parsed once judges as @medplum/core's documented per-call route does.
  const { parsedOnce, parsedPerCall } = structureIssuesBothWays(resource, profile);
  expect(parsedOnce).toEqual(parsedPerCall);
  return validateProfiled(resource, profile);
}

/** The resource fails with exactly one error issue, of this code, at this path, saying this. */
function expectOneError(resource: Resource, expected: { code: string; expression: string; diagnostics: RegExp }): void {
  const issues = validate(resource);
  expect(issues).toHaveLength(1);
  expect(issues[0]).toMatchObject({ severity: "error", code: expected.code, expression: [expected.expression] });
  expect(issues[0]?.diagnostics).toMatch(expected.diagnostics);
}

describe("the generated examples", () => {
  it.each(["DiagnosticReport", "Observation", "Device", "Provenance"] as const)(
    "the %s example conforms to its profile with no issue at all",
    (resourceType) => {
      const resource = example(resourceType);
      expect(resource.meta?.profile).toEqual([profileFor(resourceType)]);
      expect(validate(resource)).toEqual([]);
    },
  );

  it("every profile is generated with a snapshot", () => {
    for (const url of Object.values(PROFILES)) {
      const sd = readGenerated(`StructureDefinition-${url.split("/").pop()}.json`) as StructureDefinition;
      expect(sd.snapshot?.element.length, url).toBeGreaterThan(sd.differential?.element.length ?? 0);
    }
  });
});

describe("profileFor", () => {
  it("picks our profile for the four resource types we emit, and none for others", () => {
    expect(profileFor("DiagnosticReport")).toBe(PROFILES.report);
    expect(profileFor("Observation")).toBe(PROFILES.finding);
    expect(profileFor("Device")).toBe(PROFILES.device);
    expect(profileFor("Provenance")).toBe(PROFILES.provenance);
    expect(profileFor("Patient")).toBeUndefined();
  });

  it("a resource of another type than the profile's does not conform to it", () => {
    const issues = validateProfiled(example<Device>("Device"), PROFILES.report);
    expect(issues).toMatchObject([{ severity: "error", code: "invalid" }]);
  });
});

describe("trrg-chest-xray-report", () => {
  it("requires status (R4 DiagnosticReport.status 1..1)", () => {
    const report = example<DiagnosticReport>("DiagnosticReport");
    delete (report as Partial<DiagnosticReport>).status;
    expectOneError(report, { code: "structure", expression: "DiagnosticReport.status", diagnostics: /Missing required property/ });
  });

  it("requires the radiology category LOINC LP29684-5 (US Core DiagnosticReport Note)", () => {
    const report = example<DiagnosticReport>("DiagnosticReport");
    report.category = [{ coding: [{ system: "http://loinc.org", code: "LP7839-6", display: "Pathology" }] }];
    expectOneError(report, { code: "structure", expression: "DiagnosticReport.category", diagnostics: /slice 'radiology'/ });
  });

  it("takes its code from ValueSet trrg-chest-xray-report-code only", () => {
    const report = example<DiagnosticReport>("DiagnosticReport");
    report.code = { coding: [{ system: "http://loinc.org", code: "24627-2", display: "Chest CT" }] };
    expectOneError(report, { code: "code-invalid", expression: "DiagnosticReport.code", diagnostics: /trrg-chest-xray-report-code/ });
  });

  it("requires the AIAST security label (AI Transparency on FHIR)", () => {
    const report = example<DiagnosticReport>("DiagnosticReport");
    report.meta = { ...report.meta, security: [{ system: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", code: "N" }] };
    expectOneError(report, { code: "structure", expression: "DiagnosticReport.meta.security", diagnostics: /slice 'aiast'/ });
  });

  it("accepts the other two chest X-ray codes of the value set", () => {
    for (const code of ["36643-5", "30746-2"]) {
      const report = example<DiagnosticReport>("DiagnosticReport");
      report.code = { coding: [{ system: "http://loinc.org", code }] };
      expect(validate(report)).toEqual([]);
    }
  });
});

describe("trrg-finding-observation", () => {
  it("rejects a finding code that CodeSystem trrg-finding does not define", () => {
    const observation = example<Observation>("Observation");
    observation.code.coding = [{ system: `${TRRG}/trrg-finding`, code: "not-a-finding" }];
    const issues = validate(observation);
    expect(issues).toContainEqual(
      expect.objectContaining({ code: "code-invalid", expression: ["Observation.code.coding[0]"], diagnostics: expect.stringMatching(/"not-a-finding" is not in CodeSystem/) }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ code: "code-invalid", expression: ["Observation.code"] }));
  });

  it("requires a trrg-finding coding beside SNOMED CT and RadLex ones", () => {
    const observation = example<Observation>("Observation");
    observation.code.coding = observation.code.coding?.filter((c) => c.system !== `${TRRG}/trrg-finding`);
    const issues = validate(observation);
    expect(issues).toContainEqual(expect.objectContaining({ code: "structure", diagnostics: expect.stringMatching(/slice 'finding'/) }));
  });

  it("rejects a presence value that CodeSystem trrg-finding-presence does not define", () => {
    const observation = example<Observation>("Observation");
    observation.valueCodeableConcept = { coding: [{ system: `${TRRG}/trrg-finding-presence`, code: "probable" }] };
    const issues = validate(observation);
    expect(issues).toContainEqual(
      expect.objectContaining({ code: "code-invalid", expression: ["Observation.valueCodeableConcept.coding[0]"] }),
    );
    expect(issues).toContainEqual(
      expect.objectContaining({ code: "code-invalid", expression: ["Observation.value.ofType(CodeableConcept)"] }),
    );
  });

  it("takes laterality from the three SNOMED CT qualifiers only", () => {
    const observation = example<Observation>("Observation");
    observation.bodySite = { coding: [{ system: "http://snomed.info/sct", code: "39607008", display: "Lung structure" }] };
    expectOneError(observation, { code: "code-invalid", expression: "Observation.bodySite", diagnostics: /trrg-laterality/ });
  });

  it("keeps the probability in [0, 1] (invariant trrg-probability-range)", () => {
    const observation = example<Observation>("Observation");
    const probability = observation.component?.find((c) => c.code.coding?.[0]?.code === "probability");
    if (probability?.valueQuantity) probability.valueQuantity.value = 1.2;
    expectOneError(observation, { code: "invariant", expression: "Observation", diagnostics: /trrg-probability-range/ });
  });

  it("requires a value in UCUM unit 1 on each model-output component (invariant trrg-model-output-quantity)", () => {
    const observation = example<Observation>("Observation");
    delete observation.component?.[1]?.valueQuantity;
    expectOneError(observation, { code: "invariant", expression: "Observation", diagnostics: /trrg-model-output-quantity/ });
  });

  it("allows only trrg-model-output#needs-review as interpretation", () => {
    const observation = example<Observation>("Observation");
    observation.interpretation = [{ coding: [{ system: `${TRRG}/trrg-model-output`, code: "needs-review" }] }];
    expect(validate(observation)).toEqual([]);
    observation.interpretation = [{ coding: [{ system: `${TRRG}/trrg-model-output`, code: "probability" }] }];
    expectOneError(observation, { code: "structure", expression: "Observation.interpretation.coding.code", diagnostics: /pattern/ });
  });
});

describe("trrg-model-device", () => {
  it("requires the model-manifest-sha256 identifier", () => {
    const device = example<Device>("Device");
    device.identifier = [{ system: "urn:ietf:rfc:3986", value: "urn:uuid:00000000-0000-4000-8000-000000000000" }];
    expectOneError(device, { code: "structure", expression: "Device.identifier", diagnostics: /slice 'manifest'/ });
  });

  it("requires the manifest identifier to be a lower-case hex SHA-256 (invariant trrg-manifest-sha256)", () => {
    const device = example<Device>("Device");
    device.identifier = [{ system: "https://trrg-gateway.org/fhir/sid/model-manifest-sha256", value: "ABC123" }];
    expectOneError(device, { code: "invariant", expression: "Device", diagnostics: /trrg-manifest-sha256/ });
  });
});

describe("trrg-ai-provenance", () => {
  it("requires the model agent, an author (AI Transparency on FHIR)", () => {
    const provenance = example<Provenance>("Provenance");
    provenance.agent = [
      {
        type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/provenance-participant-type", code: "performer" }] },
        who: { display: "trrg-gateway" },
      },
    ];
    expectOneError(provenance, { code: "structure", expression: "Provenance.agent", diagnostics: /slice 'model'/ });
  });

  it("requires the report tag delivery matches on", () => {
    const provenance = example<Provenance>("Provenance");
    provenance.meta = { ...provenance.meta, tag: [{ system: "http://example.org/tags", code: "x" }] };
    expectOneError(provenance, { code: "structure", expression: "Provenance.meta.tag", diagnostics: /slice 'report'/ });
  });

  it("requires the study as source entity", () => {
    const provenance = example<Provenance>("Provenance");
    provenance.entity = provenance.entity?.map((e) => ({ ...e, role: "derivation" }));
    expectOneError(provenance, { code: "structure", expression: "Provenance.entity", diagnostics: /slice 'study'/ });
  });
});

describe("code bindings", () => {
  it("checks every required binding of our profiles to our own ValueSets", () => {
    const bound = new Set<string>();
    for (const url of Object.values(PROFILES)) {
      const sd = readGenerated(`StructureDefinition-${url.split("/").pop()}.json`) as StructureDefinition;
      for (const element of sd.differential?.element ?? []) {
        const valueSet = element.binding?.valueSet;
        if (element.binding?.strength === "required" && valueSet?.startsWith("https://trrg-gateway.org/fhir/")) {
          bound.add(`${url} ${valueSet}`);
        }
      }
    }
    expect(new Set(CODE_BINDINGS.map((b) => `${b.profile} ${b.valueSet}`))).toEqual(bound);
  });
});

const execFileAsync = promisify(execFile);

async function readJsonTree(dir: string): Promise<Record<string, unknown>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Object.fromEntries(await Promise.all(files.map(async (f) => [f, JSON.parse(await readFile(path.join(dir, f), "utf8"))])));
}

describe("fhir-profiles/fsh-generated", () => {
  it(
    "is what the FSH sources compile to (rebuild with npm run build:profiles)",
    async () => {
      const out = await mkdtemp(path.join(tmpdir(), "trrg-profiles-"));
      try {
        await execFileAsync("bash", ["fhir-profiles/build.sh", out], { cwd: path.resolve(GENERATED, "../../..") });
        const rebuilt = await readJsonTree(path.join(out, "fsh-generated", "resources"));
        expect(rebuilt).toEqual(await readJsonTree(GENERATED));
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
