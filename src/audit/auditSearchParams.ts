// FHIR R4 search parameters of GET /fhir/AuditEvent (search.html): date with prefixes and partial dates, agent,
// entity (also entity-identifier), outcome, _count, _offset. Parsed into an AuditSearch for the store.
import { applyPagingParameter, DEFAULT_COUNT, FhirSearchError, lowerBound, parseDateRange, upperBound } from "../fhir/searchValues.js";
import type { AuditSearch } from "./auditStore.js";

/** A search the server cannot run as asked: answered 400 with an OperationOutcome. */
export const AuditSearchError = FhirSearchError;
export { parseDateRange };

type Bound = { from?: number; to?: number };

/** search.html "Prefixes" for a point in time (AuditEvent.recorded) against the parameter's range. */
function dateBound(parameter: string): Bound {
  const prefixed = /^([a-z]{2})(.*)$/.exec(parameter);
  const prefix = prefixed?.[1] ?? "eq";
  const range = parseDateRange(prefixed?.[2] ?? parameter);
  switch (prefix) {
    case "eq":
      return { from: range.start, to: range.end };
    case "ge":
      return { from: range.start };
    case "gt":
      return { from: range.end };
    case "le":
      return { to: range.end };
    case "lt":
      return { to: range.start };
    default:
      throw new FhirSearchError(`date: prefix "${prefix}" is not supported here (use eq, ge, gt, le or lt)`);
  }
}

const OUTCOMES = new Set(["0", "4", "8", "12"]);
const KNOWN = new Set(["date", "agent", "entity", "entity-identifier", "outcome", "_count", "_offset", "_format"]);

/** Parses the query string's parameters (in order, repeats kept); throws AuditSearchError on anything it cannot honour. */
export function parseAuditSearch(parameters: Iterable<[string, string]>): AuditSearch {
  const seen = new Set<string>();
  const search: AuditSearch = { count: DEFAULT_COUNT, offset: 0 };
  let from: number | undefined;
  let to: number | undefined;
  for (const [name, value] of parameters) {
    if (!KNOWN.has(name)) throw new FhirSearchError(`unknown search parameter "${name}"`);
    if (value === "") throw new FhirSearchError(`${name}: empty value`);
    if (name !== "date" && seen.has(name === "entity-identifier" ? "entity" : name)) {
      throw new FhirSearchError(`${name}: given more than once`);
    }
    seen.add(name === "entity-identifier" ? "entity" : name);
    if (applyPagingParameter(name, value, search)) continue;
    switch (name) {
      case "date": {
        // Repeated date parameters are ANDed: the narrowest range wins.
        const bound = dateBound(value);
        if (bound.from !== undefined) from = from === undefined ? bound.from : Math.max(from, bound.from);
        if (bound.to !== undefined) to = to === undefined ? bound.to : Math.min(to, bound.to);
        break;
      }
      case "agent":
        search.agent = value;
        break;
      case "entity":
      case "entity-identifier":
        search.entity = value;
        break;
      case "outcome":
        if (!OUTCOMES.has(value)) throw new FhirSearchError(`outcome: expected 0, 4, 8 or 12, got "${value}"`);
        search.outcome = value;
        break;
    }
  }
  const dateFrom = lowerBound(from);
  const dateTo = upperBound(to);
  if (dateFrom !== undefined) search.dateFrom = dateFrom;
  if (dateTo !== undefined) search.dateTo = dateTo;
  return search;
}
