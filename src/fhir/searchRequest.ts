// Parses a FHIR R4 search (search.html) against the parameters of searchIndex.ts into a ResourceSearch for the
// store. Strict handling (search.html#errors): a parameter or modifier we do not support is a 400, never silently
// ignored, so a client never mistakes an unfiltered result for a filtered one.
import { applyPagingParameter, DEFAULT_COUNT, FhirSearchError, parseDateRange } from "./searchValues.js";
import { SEARCH_PARAMETERS, normaliseString, type SupportedResourceType } from "./searchIndex.js";

export type DatePrefix = "eq" | "ne" | "lt" | "gt" | "le" | "ge" | "sa" | "eb";

/** One alternative of a parameter (comma-separated values are ORed). */
export type Alternative =
  | { kind: "token"; system: string | undefined; value: string | undefined }
  | { kind: "date"; prefix: DatePrefix; start: string; end: string }
  | { kind: "string"; value: string; exact: boolean };

/** Parameters are ANDed; the alternatives of one are ORed. */
export interface Criterion {
  param: string;
  alternatives: Alternative[];
}

export interface Inclusion {
  /** The resource type whose reference parameter is followed. */
  sourceType: SupportedResourceType;
  param: string;
  /** _revinclude: resources that point at the matches, rather than resources the matches point at. */
  reverse: boolean;
}

export type SortKey = { param: "date" | "issued" | "recorded" | "_lastUpdated"; descending: boolean };

export interface ResourceSearch {
  resourceType: SupportedResourceType;
  criteria: Criterion[];
  includes: Inclusion[];
  sort: SortKey | undefined;
  count: number;
  offset: number;
  summaryCount: boolean;
}

const CONTROL = new Set(["_count", "_offset", "_include", "_revinclude", "_sort", "_summary", "_total", "_format"]);
const DATE_PREFIXES = new Set<DatePrefix>(["eq", "ne", "lt", "gt", "le", "ge", "sa", "eb"]);

/** Splits on commas not escaped with a backslash (search.html#escaping), and unescapes. */
function splitAlternatives(value: string): string[] {
  return value.split(/(?<!\\),/).map((part) => part.replace(/\\([,$|\\])/g, "$1"));
}

function tokenAlternative(param: string, text: string): Alternative {
  const bar = text.search(/(?<!\\)\|/);
  if (bar < 0) return { kind: "token", system: undefined, value: withUidPrefix(param, text) };
  const system = text.slice(0, bar);
  const value = text.slice(bar + 1);
  return { kind: "token", system, value: value === "" ? undefined : withUidPrefix(param, value) };
}

/** study-instance-uid takes the bare UID as well as its urn:oid: form. */
function withUidPrefix(param: string, value: string): string {
  return param === "study-instance-uid" && /^[0-9.]+$/.test(value) ? `urn:oid:${value}` : value;
}

function dateAlternative(param: string, text: string): Alternative {
  const prefixed = /^([a-z]{2})(\d.*)$/.exec(text);
  const prefix = (prefixed?.[1] ?? "eq") as DatePrefix;
  if (!DATE_PREFIXES.has(prefix)) throw new FhirSearchError(`${param}: prefix "${prefix}" is not a FHIR date prefix`);
  const range = parseDateRange(prefixed?.[2] ?? text);
  return { kind: "date", prefix, start: new Date(range.start).toISOString(), end: new Date(range.end).toISOString() };
}

function referenceAlternative(param: string, text: string, target: string): Alternative {
  if (text.includes("://")) throw new FhirSearchError(`${param}: absolute references are not supported; use Type/id or id`);
  return { kind: "token", system: "", value: text.includes("/") ? text : `${target}/${text}` };
}

function criterion(resourceType: SupportedResourceType, name: string, value: string): Criterion {
  const parameters = SEARCH_PARAMETERS[resourceType];
  const [base, modifier] = name.split(":", 2) as [string, string | undefined];
  const indexed = modifier === "identifier" ? `${base}:identifier` : base;
  const definition = parameters[indexed];
  if (!definition) throw new FhirSearchError(`unknown search parameter "${name}" for ${resourceType}`);
  if (modifier !== undefined && modifier !== "identifier" && !(definition.type === "string" && modifier === "exact")) {
    throw new FhirSearchError(`${name}: the modifier ":${modifier}" is not supported`);
  }
  if (value === "") throw new FhirSearchError(`${name}: empty value`);
  const alternatives = splitAlternatives(value).map((text): Alternative => {
    switch (definition.type) {
      case "token":
        return tokenAlternative(base, text);
      case "date":
        return dateAlternative(name, text);
      case "reference":
        return referenceAlternative(name, text, definition.target ?? "");
      case "string":
        return { kind: "string", value: modifier === "exact" ? text : normaliseString(text), exact: modifier === "exact" };
    }
  });
  return { param: indexed, alternatives };
}

function inclusion(resourceType: SupportedResourceType, name: string, value: string): Inclusion {
  const reverse = name === "_revinclude";
  const [sourceType, param] = value.split(":", 3) as [string, string | undefined];
  const definition = SEARCH_PARAMETERS[sourceType as SupportedResourceType]?.[param ?? ""];
  if (!definition || definition.type !== "reference") {
    throw new FhirSearchError(`${name}: "${value}" is not a reference parameter of a resource type this server holds`);
  }
  if (!reverse && sourceType !== resourceType) throw new FhirSearchError(`_include: "${value}" does not start with ${resourceType}`);
  return { sourceType: sourceType as SupportedResourceType, param: param as string, reverse };
}

function sortKey(resourceType: SupportedResourceType, value: string): SortKey {
  const descending = value.startsWith("-");
  const param = descending ? value.slice(1) : value;
  const sortable = ["date", "issued", "recorded", "_lastUpdated"];
  if (!sortable.includes(param) || SEARCH_PARAMETERS[resourceType][param]?.type !== "date") {
    throw new FhirSearchError(`_sort: ${resourceType} can be sorted by ${sortable.filter((p) => SEARCH_PARAMETERS[resourceType][p]).join(", ")}`);
  }
  return { param: param as SortKey["param"], descending };
}

export function parseResourceSearch(resourceType: SupportedResourceType, parameters: Iterable<[string, string]>): ResourceSearch {
  const search: ResourceSearch = { resourceType, criteria: [], includes: [], sort: undefined, count: DEFAULT_COUNT, offset: 0, summaryCount: false };
  for (const [name, value] of parameters) {
    if (!CONTROL.has(name)) {
      search.criteria.push(criterion(resourceType, name, value));
      continue;
    }
    if (applyPagingParameter(name, value, search)) continue;
    switch (name) {
      case "_include":
      case "_revinclude":
        search.includes.push(...value.split(",").map((v) => inclusion(resourceType, name, v)));
        break;
      case "_sort":
        if (value.includes(",")) throw new FhirSearchError("_sort: one sort key is supported");
        search.sort = sortKey(resourceType, value);
        break;
      case "_summary":
        if (value !== "count" && value !== "false") throw new FhirSearchError(`_summary: only "count" is supported, got "${value}"`);
        search.summaryCount = value === "count";
        break;
      case "_total":
        if (!["none", "estimate", "accurate"].includes(value)) throw new FhirSearchError(`_total: expected none, estimate or accurate`);
        break; // the total is always counted exactly
    }
  }
  return search;
}
