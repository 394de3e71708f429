// The search parameters of the FHIR API (R4 searchparameter-registry names, plus our study-instance-uid) and the
// values each resource is indexed under. One table drives both the index and the CapabilityStatement.
import type { Coding, Identifier, Reference, Resource } from "@medplum/fhirtypes";
import { parseDateRange } from "./searchValues.js";

export type SearchParamType = "token" | "reference" | "date" | "string";

export interface SearchParameterDefinition {
  type: SearchParamType;
  /** For references: the resource type a bare id names (patient=123 means Patient/123). */
  target?: string;
  documentation: string;
  /** The values of a resource for this parameter. */
  values: (resource: Resource) => IndexValue[];
}

/** A token or reference (system "" when none), or a date range (ISO instants, end exclusive). */
export type IndexValue =
  | { kind: "token"; system: string; value: string }
  | { kind: "date"; start: string; end: string };

export const SUPPORTED_RESOURCE_TYPES = ["DiagnosticReport", "Observation", "Device", "Provenance"] as const;
export type SupportedResourceType = (typeof SUPPORTED_RESOURCE_TYPES)[number];

type AnyResource = Resource & Record<string, unknown>;

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function tokens(codings: readonly (Coding | undefined)[]): IndexValue[] {
  return codings.filter((c): c is Coding => !!c?.code).map((c) => ({ kind: "token", system: c.system ?? "", value: c.code as string }));
}

function codeValue(code: unknown): IndexValue[] {
  return typeof code === "string" ? [{ kind: "token", system: "", value: code }] : [];
}

function identifiers(values: readonly (Identifier | undefined)[]): IndexValue[] {
  return values.filter((i): i is Identifier => !!i?.value).map((i) => ({ kind: "token", system: i.system ?? "", value: i.value as string }));
}

function references(values: readonly (Reference | undefined)[]): IndexValue[] {
  return values.filter((r): r is Reference => !!r?.reference).map((r) => ({ kind: "token", system: "", value: r.reference as string }));
}

/** The :identifier modifier of a reference parameter (search.html#modifiers) searches Reference.identifier. */
function referenceIdentifiers(values: readonly (Reference | undefined)[]): IndexValue[] {
  return identifiers(values.map((r) => r?.identifier));
}

function dates(values: readonly unknown[]): IndexValue[] {
  return values
    .filter((v): v is string => typeof v === "string")
    .map((v) => {
      const range = parseDateRange(v);
      return { kind: "date", start: new Date(range.start).toISOString(), end: new Date(range.end).toISOString() };
    });
}

const COMMON: Record<string, SearchParameterDefinition> = {
  _id: { type: "token", documentation: "Logical id", values: (r) => codeValue(r.id) },
  _lastUpdated: { type: "date", documentation: "When the resource last changed here", values: (r) => dates([r.meta?.lastUpdated]) },
  _tag: { type: "token", documentation: "meta.tag", values: (r) => tokens(r.meta?.tag ?? []) },
  _security: { type: "token", documentation: "meta.security (AIAST on AI-asserted content)", values: (r) => tokens(r.meta?.security ?? []) },
  _profile: { type: "token", documentation: "meta.profile", values: (r) => (r.meta?.profile ?? []).map((p) => ({ kind: "token", system: "", value: p })) },
};

function subjectParameters(): Record<string, SearchParameterDefinition> {
  const subject = (r: Resource) => [(r as AnyResource).subject as Reference | undefined];
  const patientSubject = (r: Resource) => subject(r).filter((s) => s?.type === "Patient" || s?.reference?.startsWith("Patient/"));
  return {
    subject: { type: "reference", target: "Patient", documentation: "The subject (also subject:identifier)", values: (r) => references(subject(r)) },
    "subject:identifier": { type: "token", documentation: "The subject's identifier", values: (r) => referenceIdentifiers(subject(r)) },
    patient: { type: "reference", target: "Patient", documentation: "The subject, when a Patient (also patient:identifier)", values: (r) => references(patientSubject(r)) },
    "patient:identifier": { type: "token", documentation: "The patient's identifier", values: (r) => referenceIdentifiers(patientSubject(r)) },
  };
}

const codeableConcepts = (value: unknown) => asArray(value as { coding?: Coding[] } | { coding?: Coding[] }[] | undefined).flatMap((c) => c.coding ?? []);

export const SEARCH_PARAMETERS: Record<SupportedResourceType, Record<string, SearchParameterDefinition>> = {
  DiagnosticReport: {
    ...COMMON,
    ...subjectParameters(),
    identifier: { type: "token", documentation: "The report identifier", values: (r) => identifiers(asArray((r as AnyResource).identifier as Identifier[])) },
    status: { type: "token", documentation: "preliminary until a person signs", values: (r) => codeValue((r as AnyResource).status) },
    category: { type: "token", documentation: "LP29684-5 Radiology", values: (r) => tokens(codeableConcepts((r as AnyResource).category)) },
    code: { type: "token", documentation: "The LOINC report code", values: (r) => tokens(codeableConcepts((r as AnyResource).code)) },
    date: { type: "date", documentation: "effectiveDateTime: the study date", values: (r) => dates([(r as AnyResource).effectiveDateTime]) },
    issued: { type: "date", documentation: "When the report was made", values: (r) => dates([(r as AnyResource).issued]) },
    result: { type: "reference", target: "Observation", documentation: "The finding Observations", values: (r) => references(asArray((r as AnyResource).result as Reference[])) },
    "study-instance-uid": {
      type: "token",
      documentation: "The Study Instance UID (urn:dicom:uid|urn:oid:1.2.3, or the bare UID); SearchParameter DiagnosticReport-study-instance-uid",
      values: (r) => referenceIdentifiers(asArray((r as AnyResource).imagingStudy as Reference[])),
    },
  },
  Observation: {
    ...COMMON,
    ...subjectParameters(),
    identifier: { type: "token", documentation: "The finding identifier", values: (r) => identifiers(asArray((r as AnyResource).identifier as Identifier[])) },
    status: { type: "token", documentation: "preliminary", values: (r) => codeValue((r as AnyResource).status) },
    category: { type: "token", documentation: "imaging", values: (r) => tokens(codeableConcepts((r as AnyResource).category)) },
    code: { type: "token", documentation: "The finding (trrg-finding, SNOMED CT, RadLex)", values: (r) => tokens(codeableConcepts((r as AnyResource).code)) },
    "value-concept": { type: "token", documentation: "present, absent or uncertain", values: (r) => tokens(codeableConcepts((r as AnyResource).valueCodeableConcept)) },
    date: { type: "date", documentation: "effectiveDateTime: the study date", values: (r) => dates([(r as AnyResource).effectiveDateTime]) },
    device: { type: "reference", target: "Device", documentation: "The model Device", values: (r) => references([(r as AnyResource).device as Reference]) },
  },
  Device: {
    ...COMMON,
    identifier: { type: "token", documentation: "The model manifest SHA-256", values: (r) => identifiers(asArray((r as AnyResource).identifier as Identifier[])) },
    "device-name": {
      type: "string",
      documentation: "The model name",
      values: (r) => asArray((r as AnyResource).deviceName as { name?: string }[]).flatMap((n) => (n.name ? [{ kind: "token", system: "", value: n.name }] : [])),
    },
    status: { type: "token", documentation: "active", values: (r) => codeValue((r as AnyResource).status) },
  },
  Provenance: {
    ...COMMON,
    target: { type: "reference", target: "DiagnosticReport", documentation: "The report and findings it covers", values: (r) => references(asArray((r as AnyResource).target as Reference[])) },
    agent: {
      type: "reference",
      target: "Device",
      documentation: "The model Device",
      values: (r) => references(asArray((r as AnyResource).agent as { who?: Reference }[]).map((a) => a.who)),
    },
    recorded: { type: "date", documentation: "When the report was made", values: (r) => dates([(r as AnyResource).recorded]) },
  },
};

export interface IndexRow {
  param: string;
  system: string;
  value: string;
  date_start: string | null;
  date_end: string | null;
}

/** Strings are matched case-insensitively (search.html#string): they are indexed lower-cased. */
export function normaliseString(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

export function indexRows(resource: Resource): IndexRow[] {
  const parameters = SEARCH_PARAMETERS[resource.resourceType as SupportedResourceType];
  return Object.entries(parameters).flatMap(([param, definition]) =>
    definition.values(resource).map((v) =>
      v.kind === "date"
        ? { param, system: "", value: "", date_start: v.start, date_end: v.end }
        : { param, system: v.system, value: definition.type === "string" ? normaliseString(v.value) : v.value, date_start: null, date_end: null },
    ),
  );
}
