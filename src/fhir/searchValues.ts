// Pieces of FHIR R4 search (search.html) shared by every /fhir search: the error a search cannot run with, date
// values as ranges, integer parameters, and the bounds of ISO instant comparisons.
/** A search the server cannot run as asked: answered 400 with an OperationOutcome. */
export class FhirSearchError extends Error {
  override name = "FhirSearchError";
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

export function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
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
 * zone are taken as UTC (the service records UTC instants).
 */
export function parseDateRange(text: string): DateRange {
  const match = DATE_VALUE.exec(text);
  if (!match) throw new FhirSearchError(`date: "${text}" is not a FHIR date or dateTime (e.g. 2026, 2026-11, 2026-11-23, 2026-11-23T10:00:00Z)`);
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
    throw new FhirSearchError(`date: "${text}" is not a valid date`);
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

// Instants are compared as ISO strings, whose order holds for years 0000–9999 only: bounds are clamped.
const FIRST_INSTANT = utc(0, 0, 1);
const LAST_INSTANT = utc(9999, 11, 31, 23, 59, 59, 999);

export function lowerBound(instant: number | undefined): string | undefined {
  if (instant === undefined || instant <= FIRST_INSTANT) return undefined;
  return new Date(Math.min(instant, LAST_INSTANT)).toISOString();
}

export function upperBound(instant: number | undefined): string | undefined {
  if (instant === undefined || instant > LAST_INSTANT) return undefined;
  return new Date(Math.max(instant, FIRST_INSTANT)).toISOString();
}

export function nonNegativeInteger(name: string, text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new FhirSearchError(`${name}: expected a non-negative integer, got "${text}"`);
  return Number(text);
}


export const JSON_FORMATS: ReadonlySet<string> = new Set(["json", "application/json", "application/fhir+json"]);

/** _count, _offset and _format, as every search takes them: applies one to the page; false for any other name. */
export function applyPagingParameter(name: string, value: string, page: { count: number; offset: number }): boolean {
  switch (name) {
    case "_count":
      // search.html "_count": the server may return fewer than asked.
      page.count = Math.min(nonNegativeInteger(name, value), MAX_COUNT);
      return true;
    case "_offset":
      page.offset = nonNegativeInteger(name, value);
      return true;
    case "_format":
      if (!JSON_FORMATS.has(value)) throw new FhirSearchError(`_format: only JSON is supported, got "${value}"`);
      return true;
    default:
      return false;
  }
}
