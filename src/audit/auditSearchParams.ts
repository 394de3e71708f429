// FHIR R4 search parameters of GET /fhir/AuditEvent (search.html): date with prefixes and partial dates, agent,
// entity (also entity-identifier), outcome, _count, _offset. Parsed into an AuditSearch for the store.
import type { AuditSearch } from "./auditStore.js";

/** A search the server cannot run as asked: answered 400 with an OperationOutcome. */
export class AuditSearchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuditSearchError";
  }
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;

/** The instants a (partial) date stands for: [start, end), at the precision it was given. */
export interface DateRange {
  start: number;
  end: number;
}

// yyyy[-mm[-dd[Thh:mm[:ss[.fff]][Z|±hh:mm]]]]; a "+" left unencoded in a query string arrives as a space.
const DATE_VALUE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+\- ]\d{2}:\d{2})?)?)?)?$/;

function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day); // unlike Date.UTC, years 0–99 are not taken as 1900–1999
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

function offsetMinutes(zone: string | undefined): number {
  if (zone === undefined || zone === "Z") return 0;
  const sign = zone.startsWith("-") ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
}

/**
 * FHIR R4 search.html "date": a date or dateTime of any precision is an implicit range. Dates without a time
 * zone are taken as UTC (the trail records UTC instants).
 */
export function parseDateRange(text: string): DateRange {
  const match = DATE_VALUE.exec(text);
  if (!match) throw new AuditSearchError(`date: "${text}" is not a FHIR date or dateTime (e.g. 2026, 2026-11, 2026-11-23, 2026-11-23T10:00:00Z)`);
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y);
  const month = mo === undefined ? 0 : Number(mo) - 1;
  const day = d === undefined ? 1 : Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  const ms = fraction === undefined ? 0 : Number(fraction.padEnd(3, "0").slice(0, 3));
  const calendar = new Date(utc(year, month, day));
  if (month > 11 || calendar.getUTCMonth() !== month || calendar.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new AuditSearchError(`date: "${text}" is not a valid date`);
  }
  const zoneShift = offsetMinutes(zone) * 60_000;
  const start = utc(year, month, day, hour, minute, second, ms) - zoneShift;
  if (mo === undefined) return { start, end: utc(year + 1, 0, 1) };
  if (d === undefined) return { start, end: utc(year, month + 1, 1) };
  if (h === undefined) return { start, end: utc(year, month, day + 1) };
  if (s === undefined) return { start, end: start + 60_000 };
  if (fraction === undefined) return { start, end: start + 1000 };
  return { start, end: start + Math.max(1, 10 ** (3 - fraction.length)) };
}

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
      throw new AuditSearchError(`date: prefix "${prefix}" is not supported here (use eq, ge, gt, le or lt)`);
  }
}

// Recorded instants are compared as ISO strings, whose order holds for years 0000–9999 only: bounds are clamped.
const FIRST_INSTANT = utc(0, 0, 1);
const LAST_INSTANT = utc(9999, 11, 31, 23, 59, 59, 999);

function lowerBound(instant: number | undefined): string | undefined {
  if (instant === undefined || instant <= FIRST_INSTANT) return undefined;
  return new Date(Math.min(instant, LAST_INSTANT)).toISOString();
}

function upperBound(instant: number | undefined): string | undefined {
  if (instant === undefined || instant > LAST_INSTANT) return undefined;
  return new Date(Math.max(instant, FIRST_INSTANT)).toISOString();
}

function nonNegativeInteger(name: string, text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new AuditSearchError(`${name}: expected a non-negative integer, got "${text}"`);
  return Number(text);
}

const OUTCOMES = new Set(["0", "4", "8", "12"]);
const JSON_FORMATS = new Set(["json", "application/json", "application/fhir+json"]);
const KNOWN = new Set(["date", "agent", "entity", "entity-identifier", "outcome", "_count", "_offset", "_format"]);

/** Parses the query string's parameters (in order, repeats kept); throws AuditSearchError on anything it cannot honour. */
export function parseAuditSearch(parameters: Iterable<[string, string]>): AuditSearch {
  const seen = new Set<string>();
  const search: AuditSearch = { count: DEFAULT_COUNT, offset: 0 };
  let from: number | undefined;
  let to: number | undefined;
  for (const [name, value] of parameters) {
    if (!KNOWN.has(name)) throw new AuditSearchError(`unknown search parameter "${name}"`);
    if (value === "") throw new AuditSearchError(`${name}: empty value`);
    if (name !== "date" && seen.has(name === "entity-identifier" ? "entity" : name)) {
      throw new AuditSearchError(`${name}: given more than once`);
    }
    seen.add(name === "entity-identifier" ? "entity" : name);
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
        if (!OUTCOMES.has(value)) throw new AuditSearchError(`outcome: expected 0, 4, 8 or 12, got "${value}"`);
        search.outcome = value;
        break;
      case "_count":
        // search.html "_count": the server may return fewer than asked.
        search.count = Math.min(nonNegativeInteger(name, value), MAX_COUNT);
        break;
      case "_offset":
        search.offset = nonNegativeInteger(name, value);
        break;
      case "_format":
        if (!JSON_FORMATS.has(value)) throw new AuditSearchError(`_format: only JSON is supported, got "${value}"`);
        break;
    }
  }
  const dateFrom = lowerBound(from);
  const dateTo = upperBound(to);
  if (dateFrom !== undefined) search.dateFrom = dateFrom;
  if (dateTo !== undefined) search.dateTo = dateTo;
  return search;
}
