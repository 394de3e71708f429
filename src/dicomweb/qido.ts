// QIDO-RS Search Transaction (PS3.18 §10.6): SearchForStudies, SearchForSeries and SearchForInstances over the
// index. Query parameters (§8.3.4) become conditions by the matching rules of PS3.4 C.2.2.2; results carry the
// attributes of PS3.18 Tables 10.6.3-3, -4 and -5 built from the index, and includefield attributes taken from
// the stored metadata of a representative (first) instance.
import { lookupAttribute, type DicomJsonDataset, type DicomJsonElement } from "../dicom/dicomJson.js";
import { isValidUid } from "../dicom/uid.js";
import type { Database } from "../store/database.js";
import {
  countInstancesBySeries,
  countInstancesByStudy,
  countSeriesByStudy,
  firstInstanceMetadata,
  modalitiesByStudy,
  searchInstances,
  searchSeries,
  searchStudies,
  type ColumnRef,
  type Condition,
  type InstanceRow,
  type Match,
  type SeriesRow,
  type StudyRow,
} from "../store/dicomQueries.js";
import { badRequest } from "./errors.js";
import { instanceURL, seriesURL, studyURL } from "./urls.js";

export type SearchLevel = "study" | "series" | "instance";

const LEVEL_RANK: Record<SearchLevel, number> = { study: 0, series: 1, instance: 2 };

export interface SearchRequest {
  /** UIDs of the target resource from the path, e.g. /studies/{StudyInstanceUID}/series. */
  studyInstanceUID?: string | undefined;
  seriesInstanceUID?: string | undefined;
  /** Only this patient's studies match (the request was granted by a SMART patient/ scope). */
  patientId?: string | undefined;
  /** Query parameters in request order, decoded. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Base of RetrieveURL values, e.g. https://gateway.example.org/dicomweb */
  dicomwebBaseUrl: string;
}

export interface SearchSettings {
  defaultLimit: number;
  maxLimit: number;
}

export interface SearchResult {
  matches: DicomJsonDataset[];
  /** Texts for Warning headers (PS3.18 §8.3.4): ignored keys, unsupported fuzzy matching, more results. */
  warnings: string[];
}

export const SEARCH_MEDIA_TYPES = [{ mediaType: "application/dicom+json" }, { mediaType: "application/json" }] as const;

export const FUZZY_MATCHING_WARNING =
  "The fuzzymatching parameter is not supported. Only literal matching has been performed.";
export const MORE_RESULTS_WARNING = "There are additional results that can be requested.";
export const MAXIMUM_RESULTS_WARNING =
  "The number of results exceeded the maximum supported by the server. Additional results can be requested.";

// ---------------------------------------------------------------------------------------------- matching keys

export type KeyKind = "uid" | "text" | "personName" | "date" | "time" | "dateTime" | "integer" | "modalities";

interface MatchingKey {
  level: SearchLevel;
  kind: KeyKind;
  target: ColumnRef | "modalitiesInStudy";
}

const study = (column: Extract<ColumnRef, { table: "studies" }>["column"]) => ({ table: "studies", column }) as const;
const series = (column: Extract<ColumnRef, { table: "series" }>["column"]) => ({ table: "series", column }) as const;
const instance = (column: Extract<ColumnRef, { table: "instances" }>["column"]) => ({ table: "instances", column }) as const;

/** The attributes the index can match on (PS3.18 §8.3.4.1), by keyword, with the level each belongs to. */
const MATCHING_KEYS: Readonly<Record<string, MatchingKey>> = {
  StudyInstanceUID: { level: "study", kind: "uid", target: study("study_instance_uid") },
  PatientID: { level: "study", kind: "text", target: study("patient_id") },
  IssuerOfPatientID: { level: "study", kind: "text", target: study("issuer_of_patient_id") },
  PatientName: { level: "study", kind: "personName", target: study("patient_name") },
  PatientBirthDate: { level: "study", kind: "date", target: study("patient_birth_date") },
  PatientSex: { level: "study", kind: "text", target: study("patient_sex") },
  StudyDate: { level: "study", kind: "date", target: study("study_date") },
  StudyTime: { level: "study", kind: "time", target: study("study_time") },
  AccessionNumber: { level: "study", kind: "text", target: study("accession_number") },
  ModalitiesInStudy: { level: "study", kind: "modalities", target: "modalitiesInStudy" },
  ReferringPhysicianName: { level: "study", kind: "personName", target: study("referring_physician_name") },
  StudyDescription: { level: "study", kind: "text", target: study("study_description") },
  StudyID: { level: "study", kind: "text", target: study("study_id") },
  SeriesInstanceUID: { level: "series", kind: "uid", target: series("series_instance_uid") },
  Modality: { level: "series", kind: "text", target: series("modality") },
  SeriesNumber: { level: "series", kind: "integer", target: series("series_number") },
  SeriesDescription: { level: "series", kind: "text", target: series("series_description") },
  BodyPartExamined: { level: "series", kind: "text", target: series("body_part_examined") },
  SOPInstanceUID: { level: "instance", kind: "uid", target: instance("sop_instance_uid") },
  SOPClassUID: { level: "instance", kind: "uid", target: instance("sop_class_uid") },
  InstanceNumber: { level: "instance", kind: "integer", target: instance("instance_number") },
};

/** Wildcard matching (PS3.4 C.2.2.2.4): * any run, ? one character; SQL's own %, _ and \ are taken literally. */
function likePattern(value: string): string {
  return value.replace(/[\\%_]/g, "\\$&").replace(/\*/g, "%").replace(/\?/g, "_");
}

function isValidDate(value: string): boolean {
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(4, 6));
  const day = Number(value.slice(6, 8));
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** The HHMMSS bounds of a TM value given to whole hours, minutes or seconds (PS3.5 §6.2 TM). */
function timeBounds(value: string): { from: string; to: string } | undefined {
  const parts = /^(\d{2})(\d{2})?(?:(\d{2})(\.\d{1,6})?)?$/.exec(value);
  if (!parts) return undefined;
  const [, hours = "", minutes, seconds] = parts;
  if (Number(hours) > 23 || Number(minutes ?? 0) > 59 || Number(seconds ?? 0) > 60) return undefined;
  return { from: hours + (minutes ?? "00") + (seconds ?? "00"), to: hours + (minutes ?? "59") + (seconds ?? "59") };
}

/** Parses one query value by its key's kind; undefined means universal matching (PS3.4 C.2.2.2.3). */
export function parseMatch(keyword: string, kind: KeyKind, raw: string): Match | undefined {
  const value = raw.trim();
  if (value === "") return undefined;
  switch (kind) {
    case "uid": {
      // UID list matching (C.2.2.2.2): PS3.18 §8.3.4.1 allows comma or backslash separators.
      const uids = value.split(/[,\\]/).map((uid) => uid.trim()).filter(Boolean);
      if (!uids.every(isValidUid)) throw badRequest(`${keyword} must be a UID or a list of UIDs`);
      return uids.length === 1 && uids[0] !== undefined ? { kind: "equals", value: uids[0] } : { kind: "oneOf", values: uids };
    }
    case "text":
    case "personName": {
      // Only the first (alphabetic) component group of a PN is indexed.
      const text = kind === "personName" ? (value.split("=")[0] ?? "") : value;
      // A value of only "*" matches everything, empty values included (C.2.2.2.4).
      if (text === "" || /^\*+$/.test(text)) return undefined;
      const ignoreCase = kind === "personName";
      return /[*?]/.test(text) ? { kind: "like", pattern: likePattern(text), ignoreCase } : { kind: "equals", value: text, ignoreCase };
    }
    case "date": {
      // Single value or range matching (C.2.2.2.5): YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD.
      const parts = /^(\d{8})?(-)?(\d{8})?$/.exec(value);
      const [, from, dash, to] = parts ?? [];
      if (!parts || (from === undefined && to === undefined) || (!dash && to !== undefined)) {
        throw badRequest(`${keyword} must be YYYYMMDD or a range of them`);
      }
      if ((from !== undefined && !isValidDate(from)) || (to !== undefined && !isValidDate(to))) {
        throw badRequest(`${keyword} is not a valid date`);
      }
      if (!dash) return { kind: "equals", value: from ?? "" };
      if (from !== undefined && to !== undefined && from > to) throw badRequest(`Invalid ${keyword} range`);
      return { kind: "range", from, to };
    }
    case "time": {
      // Matched on HHMMSS: fractions of a second are not compared.
      const dash = value.indexOf("-");
      const first = dash < 0 ? value : value.slice(0, dash);
      const second = dash < 0 ? value : value.slice(dash + 1);
      const lower = first === "" ? { from: "000000", to: "000000" } : timeBounds(first);
      const upper = second === "" ? { from: "999999", to: "999999" } : timeBounds(second);
      if (!lower || !upper || (first === "" && second === "")) {
        throw badRequest(`${keyword} must be HHMMSS (or leading components) or a range of them`);
      }
      if (lower.from > upper.to) throw badRequest(`Invalid ${keyword} range`);
      return { kind: "timeRange", from: lower.from, to: upper.to };
    }
    case "dateTime":
      return dateTimeMatch(keyword, value);
    case "integer":
      if (!/^[+-]?\d{1,10}$/.test(value)) throw badRequest(`${keyword} must be an integer`);
      return { kind: "equals", value: Number(value) };
    case "modalities": {
      if (/^\*+$/.test(value)) return undefined;
      const codes = value.split(/[,\\]/).map((code) => code.trim()).filter(Boolean);
      if (!codes.every((code) => /^[A-Z0-9_ ]{1,16}$/.test(code))) {
        throw badRequest(`${keyword} must be one or more modality codes`);
      }
      return { kind: "oneOf", values: codes };
    }
  }
}

/**
 * DT single value or range matching (C.2.2.2.5) on the value's digits: a bound given to the day, hour or minute
 * covers the whole of it. Time zone offsets are not converted (values are compared as written).
 */
function dateTimeMatch(keyword: string, value: string): Match {
  const invalid = () => badRequest(`${keyword} must be a DICOM DT value (YYYYMMDDHHMMSS, or leading components) or a range of them`);
  const bound = (text: string, fill: "0" | "9"): string | undefined => {
    const digits = /^(\d{4,14})(?:\.\d{1,6})?(?:[+-]\d{4})?$/.exec(text)?.[1];
    if (!digits || digits.length % 2 !== 0 || (digits.length >= 8 && !isValidDate(digits.slice(0, 8)))) return undefined;
    return digits.padEnd(14, fill);
  };
  const single = bound(value, "0");
  if (single !== undefined) return { kind: "range", from: single, to: bound(value, "9") };
  // A range: the dash that leaves a valid bound (or nothing) on each side; a time zone offset's sign is not one.
  for (let dash = value.indexOf("-"); dash >= 0; dash = value.indexOf("-", dash + 1)) {
    const first = value.slice(0, dash);
    const second = value.slice(dash + 1);
    const from = first === "" ? undefined : bound(first, "0");
    const to = second === "" ? undefined : bound(second, "9");
    if ((first !== "" && from === undefined) || (second !== "" && to === undefined) || (first === "" && second === "")) continue;
    if (from !== undefined && to !== undefined && from > to) throw badRequest(`Invalid ${keyword} range`);
    return { kind: "range", from, to };
  }
  throw invalid();
}

// ----------------------------------------------------------------------------------------------- query parsing

interface ParsedQuery {
  conditions: Condition[];
  /** Tags of attributes to add to each match (includefield and return keys), with their dictionary VR. */
  includeTags: Map<string, string>;
  includeAll: boolean;
  limit: number | undefined;
  offset: number;
  warnings: string[];
}

const CONTROL_PARAMETERS = new Set(["includefield", "limit", "offset", "fuzzymatching"]);

/** A limit or offset query value (PS3.18 §8.3.4.4): a whole number of at least `minimum`. */
export function parseCount(name: string, value: string, minimum: number): number {
  if (!/^\d{1,9}$/.test(value.trim()) || Number(value) < minimum) {
    throw badRequest(`${name} must be an integer of at least ${minimum}`);
  }
  return Number(value);
}

/** Dictionary VRs that depend on context (dcmjs writes them in lower case), as an empty element states them. */
const CONTEXT_VRS: Readonly<Record<string, string>> = { ox: "OW", xs: "US", up: "UL", lt: "OW" };

export function attributeOf(name: string, where: string): { tag: string; vr: string; keyword: string } {
  const attribute = lookupAttribute(name);
  const vr = attribute && (/^[A-Z]{2}$/.test(attribute.vr) ? attribute.vr : CONTEXT_VRS[attribute.vr]);
  // Item and sequence delimiters ("na") are in the dictionary but are not attributes.
  if (!attribute || !vr) throw badRequest(`unknown attribute "${name}" in ${where}`);
  return { ...attribute, vr };
}

function parseQuery(query: SearchRequest["query"], level: SearchLevel): ParsedQuery {
  const parsed: ParsedQuery = {
    conditions: [],
    includeTags: new Map(),
    includeAll: false,
    limit: undefined,
    offset: 0,
    warnings: [],
  };
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (CONTROL_PARAMETERS.has(name)) {
      parseControlParameter(parsed, name, value);
      continue;
    }
    if (name.includes(".")) {
      // A sequence path (PS3.18 §8.3.4.1): check it names real attributes, then ignore it.
      name.split(".").forEach((part) => attributeOf(part, "the query"));
      parsed.warnings.push(`matching on sequence attributes is not supported; ${name} was ignored`);
      continue;
    }
    const attribute = attributeOf(name, "the query");
    if (seen.has(attribute.keyword)) throw badRequest(`${attribute.keyword} is given more than once`);
    seen.add(attribute.keyword);
    // Every key named in the query is also returned, as in C-FIND.
    parsed.includeTags.set(attribute.tag, attribute.vr);
    if (value.trim() === "") continue; // universal matching: return the attribute, match everything
    const key = MATCHING_KEYS[attribute.keyword];
    if (!key) {
      parsed.warnings.push(`matching on ${attribute.keyword} is not supported; it was ignored`);
    } else if (LEVEL_RANK[key.level] > LEVEL_RANK[level]) {
      parsed.warnings.push(`${attribute.keyword} is not a matching key of a ${level} search; it was ignored`);
    } else {
      const match = parseMatch(attribute.keyword, key.kind, value);
      if (match) parsed.conditions.push(conditionOf(key, match));
    }
  }
  return parsed;
}

function conditionOf(key: MatchingKey, match: Match): Condition {
  if (key.target !== "modalitiesInStudy") return { target: key.target, match };
  if (match.kind !== "oneOf") throw new Error("ModalitiesInStudy matches a list of codes");
  return { target: "modalitiesInStudy", match };
}

function parseControlParameter(parsed: ParsedQuery, name: string, value: string): void {
  switch (name) {
    case "includefield":
      // Repeatable and comma-separated (PS3.18 §8.3.4.3).
      for (const field of value.split(",").map((f) => f.trim()).filter(Boolean)) {
        if (field === "all") {
          parsed.includeAll = true;
        } else {
          const attribute = attributeOf(field, "includefield");
          parsed.includeTags.set(attribute.tag, attribute.vr);
        }
      }
      return;
    case "limit":
      parsed.limit = parseCount("limit", value, 1);
      return;
    case "offset":
      parsed.offset = parseCount("offset", value, 0);
      return;
    case "fuzzymatching":
      if (!/^(true|false)$/i.test(value)) throw badRequest("fuzzymatching must be true or false");
      // PS3.18 §8.3.4.2: without fuzzy matching support, say that only literal matching was done.
      if (value.toLowerCase() === "true" && !parsed.warnings.includes(FUZZY_MATCHING_WARNING)) {
        parsed.warnings.push(FUZZY_MATCHING_WARNING);
      }
      return;
  }
}

function pathConditions(request: SearchRequest): Condition[] {
  const conditions: Condition[] = [];
  if (request.studyInstanceUID !== undefined) {
    if (!isValidUid(request.studyInstanceUID)) throw badRequest("StudyInstanceUID in the path is not a valid UID");
    conditions.push({ target: study("study_instance_uid"), match: { kind: "equals", value: request.studyInstanceUID } });
  }
  if (request.seriesInstanceUID !== undefined) {
    if (!isValidUid(request.seriesInstanceUID)) throw badRequest("SeriesInstanceUID in the path is not a valid UID");
    conditions.push({ target: series("series_instance_uid"), match: { kind: "equals", value: request.seriesInstanceUID } });
  }
  if (request.patientId !== undefined) {
    conditions.push({ target: study("patient_id"), match: { kind: "equals", value: request.patientId } });
  }
  return conditions;
}

// --------------------------------------------------------------------------------------------- result datasets

type AttributeValue = string | number | readonly string[] | null | undefined;

const NUMERIC_VRS = new Set(["IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"]);

/** A DICOM JSON element (PS3.18 §F.2) of the keyword's dictionary VR: PN as {Alphabetic}, IS and binary numbers as numbers. */
function element(keyword: string, value: AttributeValue): [string, DicomJsonElement] {
  const attribute = lookupAttribute(keyword);
  if (!attribute) throw new Error(`${keyword} is not in the data dictionary`);
  const { tag, vr } = attribute;
  const values = value === null || value === undefined ? [] : typeof value === "object" ? [...value] : [value];
  if (values.length === 0) return [tag, { vr }];
  if (vr === "PN") return [tag, { vr, Value: values.map((name) => ({ Alphabetic: String(name) })) }];
  if (NUMERIC_VRS.has(vr)) return [tag, { vr, Value: values.map(Number) }];
  return [tag, { vr, Value: values.map(String) }];
}

function attributes(entries: Record<string, AttributeValue>): DicomJsonDataset {
  return Object.fromEntries(Object.entries(entries).map(([keyword, value]) => element(keyword, value)));
}

/** An element copied from stored metadata, or empty when the instance lacks it. */
function stored(metadata: DicomJsonDataset | undefined, keyword: string): DicomJsonDataset {
  const [tag, empty] = element(keyword, null);
  return { [tag]: metadata?.[tag] ?? empty };
}

interface StudyCounts {
  modalities: Map<string, string[]>;
  series: Map<string, number>;
  instances: Map<string, number>;
}

/** Study result attributes, PS3.18 Table 10.6.3-3. Strings in DICOM JSON are Unicode, hence ISO_IR 192. */
function studyAttributes(row: StudyRow, counts: StudyCounts, baseUrl: string): DicomJsonDataset {
  const uid = row.study_instance_uid;
  return attributes({
    SpecificCharacterSet: "ISO_IR 192",
    StudyDate: row.study_date,
    StudyTime: row.study_time,
    AccessionNumber: row.accession_number,
    ModalitiesInStudy: counts.modalities.get(uid) ?? [],
    ReferringPhysicianName: row.referring_physician_name,
    RetrieveURL: studyURL(baseUrl, uid),
    PatientName: row.patient_name,
    PatientID: row.patient_id,
    PatientBirthDate: row.patient_birth_date,
    PatientSex: row.patient_sex,
    StudyInstanceUID: uid,
    StudyID: row.study_id,
    StudyDescription: row.study_description,
    NumberOfStudyRelatedSeries: counts.series.get(uid) ?? 0,
    NumberOfStudyRelatedInstances: counts.instances.get(uid) ?? 0,
  });
}

/** Series result attributes, PS3.18 Table 10.6.3-4. */
function seriesAttributes(row: SeriesRow, instances: Map<string, number>, baseUrl: string): DicomJsonDataset {
  return attributes({
    Modality: row.modality,
    SeriesDescription: row.series_description,
    SeriesNumber: row.series_number,
    SeriesInstanceUID: row.series_instance_uid,
    NumberOfSeriesRelatedInstances: instances.get(row.series_instance_uid) ?? 0,
    RetrieveURL: seriesURL(baseUrl, row.study_instance_uid, row.series_instance_uid),
  });
}

/** Instance result attributes, PS3.18 Table 10.6.3-5; image attributes come from the stored metadata. */
function instanceAttributes(row: InstanceRow, metadata: DicomJsonDataset, baseUrl: string): DicomJsonDataset {
  return {
    ...attributes({
      SOPClassUID: row.sop_class_uid,
      SOPInstanceUID: row.sop_instance_uid,
      InstanceNumber: row.instance_number,
      // Instances are served as stored (no transcoding), so this is the one syntax they are available in.
      AvailableTransferSyntaxUID: row.transfer_syntax_uid,
      RetrieveURL: instanceURL(baseUrl, row.study_instance_uid, row.series_instance_uid, row.sop_instance_uid),
    }),
    ...stored(metadata, "Rows"),
    ...stored(metadata, "Columns"),
    ...stored(metadata, "BitsAllocated"),
    ...stored(metadata, "NumberOfFrames"),
  };
}

const tagsOf = (keywords: readonly string[]) =>
  new Set(keywords.map((keyword) => element(keyword, null)[0]));

/** Study-level attributes beyond the Patient group (0010,xxxx), for includefield=all (PS3.3 C.7.2.1, C.7.2.2). */
const STUDY_LEVEL_TAGS = tagsOf([
  "StudyDate", "StudyTime", "AccessionNumber", "IssuerOfAccessionNumberSequence", "ReferringPhysicianName",
  "ReferringPhysicianIdentificationSequence", "StudyDescription", "ProcedureCodeSequence", "PhysiciansOfRecord",
  "NameOfPhysiciansReadingStudy", "AdmittingDiagnosesDescription", "ReferencedStudySequence", "StudyInstanceUID",
  "StudyID", "TimezoneOffsetFromUTC", "RequestingPhysician", "RequestingService", "RequestedProcedureDescription",
]);

/** Series-level attributes (General Series, General Equipment; PS3.3 C.7.3.1, C.7.5.1), for includefield=all. */
const SERIES_LEVEL_TAGS = tagsOf([
  "SeriesDate", "SeriesTime", "Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber", "Laterality",
  "BodyPartExamined", "ProtocolName", "PatientPosition", "PerformingPhysicianName", "OperatorsName",
  "ReferencedPerformedProcedureStepSequence", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
  "PerformedProcedureStepID", "PerformedProcedureStepDescription", "RequestAttributesSequence", "FrameOfReferenceUID",
  "Manufacturer", "InstitutionName", "InstitutionAddress", "StationName", "InstitutionalDepartmentName",
  "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions",
]);

function atLevel(tag: string, level: SearchLevel): boolean {
  if (level === "instance") return true;
  if (tag.startsWith("0010") || STUDY_LEVEL_TAGS.has(tag)) return true;
  return level === "series" && SERIES_LEVEL_TAGS.has(tag);
}

const [SPECIFIC_CHARACTER_SET_TAG, UNICODE] = element("SpecificCharacterSet", "ISO_IR 192");

/** Adds includefield attributes from a representative instance's metadata; attributes already set win. */
function withIncludedFields(
  result: DicomJsonDataset,
  metadata: DicomJsonDataset | undefined,
  parsed: ParsedQuery,
  level: SearchLevel,
): DicomJsonDataset {
  const merged: DicomJsonDataset = {};
  const add = (tag: string, value: DicomJsonElement) => {
    // Stored strings were decoded to Unicode, whatever character set the file used.
    merged[tag] = tag === SPECIFIC_CHARACTER_SET_TAG ? UNICODE : value;
  };
  if (parsed.includeAll && metadata) {
    for (const [tag, value] of Object.entries(metadata)) if (atLevel(tag, level)) add(tag, value);
  }
  for (const [tag, vr] of parsed.includeTags) {
    const value = metadata?.[tag];
    add(tag, value ?? { vr });
  }
  Object.assign(merged, result);
  return Object.fromEntries(Object.keys(merged).sort().map((tag) => [tag, merged[tag] as DicomJsonElement]));
}

function needsMetadata(parsed: ParsedQuery, defaults: DicomJsonDataset): boolean {
  return parsed.includeAll || [...parsed.includeTags.keys()].some((tag) => !(tag in defaults));
}

const parseMetadata = (text: string | undefined) => (text === undefined ? undefined : (JSON.parse(text) as DicomJsonDataset));

async function studyCounts(db: Database, studyUIDs: string[]): Promise<StudyCounts> {
  const [modalities, seriesCounts, instances] = await Promise.all([
    modalitiesByStudy(db, studyUIDs),
    countSeriesByStudy(db, studyUIDs),
    countInstancesByStudy(db, studyUIDs),
  ]);
  return { modalities, series: seriesCounts, instances };
}

// ----------------------------------------------------------------------------------------------- transactions

interface Prepared {
  parsed: ParsedQuery;
  conditions: Condition[];
  page: { limit: number; offset: number };
  finish<T>(rows: T[]): { rows: T[]; warnings: string[] };
}

/** Parses the request and fixes the page: one row beyond the limit tells whether more results exist (§8.3.4.4). */
function prepare(request: SearchRequest, level: SearchLevel, settings: SearchSettings): Prepared {
  const conditions = pathConditions(request);
  const parsed = parseQuery(request.query, level);
  const limit = Math.min(parsed.limit ?? settings.defaultLimit, settings.maxLimit);
  const capped = parsed.limit !== undefined && parsed.limit > settings.maxLimit;
  return {
    parsed,
    conditions: [...conditions, ...parsed.conditions],
    page: { limit: limit + 1, offset: parsed.offset },
    finish: (rows) => {
      const warnings = [...parsed.warnings];
      if (rows.length > limit) warnings.push(capped ? MAXIMUM_RESULTS_WARNING : MORE_RESULTS_WARNING);
      return { rows: rows.slice(0, limit), warnings };
    },
  };
}

/** Adds the includefield attributes to study or series results, from each one's first instance's metadata. */
async function withIncludedFieldsOf(
  db: Database,
  parsed: ParsedQuery,
  level: "study" | "series",
  results: DicomJsonDataset[],
  uids: readonly string[],
): Promise<DicomJsonDataset[]> {
  const metadata = results[0] && needsMetadata(parsed, results[0]) ? await firstInstanceMetadata(db, level, uids) : undefined;
  return results.map((result, i) => withIncludedFields(result, parseMetadata(metadata?.get(uids[i] ?? "")), parsed, level));
}

/** SearchForStudies (PS3.18 §10.6.1): GET /studies. */
export async function searchForStudies(db: Database, request: SearchRequest, settings: SearchSettings): Promise<SearchResult> {
  const search = prepare(request, "study", settings);
  const { rows, warnings } = search.finish(await searchStudies(db, search.conditions, search.page));
  const uids = rows.map((row) => row.study_instance_uid);
  const counts = await studyCounts(db, uids);
  const results = rows.map((row) => studyAttributes(row, counts, request.dicomwebBaseUrl));
  return { matches: await withIncludedFieldsOf(db, search.parsed, "study", results, uids), warnings };
}

/** SearchForSeries (PS3.18 §10.6.1): GET /series and /studies/{study}/series; study attributes only across studies. */
export async function searchForSeries(db: Database, request: SearchRequest, settings: SearchSettings): Promise<SearchResult> {
  const search = prepare(request, "series", settings);
  const { rows, warnings } = search.finish(await searchSeries(db, search.conditions, search.page));
  const uids = rows.map((row) => row.series_instance_uid);
  const withStudy = request.studyInstanceUID === undefined;
  const [instanceCounts, counts] = await Promise.all([
    countInstancesBySeries(db, uids),
    withStudy ? studyCounts(db, rows.map((row) => row.study_instance_uid)) : undefined,
  ]);
  const results = rows.map((row) => ({
    ...(counts ? studyAttributes(row, counts, request.dicomwebBaseUrl) : {}),
    ...seriesAttributes(row, instanceCounts, request.dicomwebBaseUrl),
  }));
  return { matches: await withIncludedFieldsOf(db, search.parsed, "series", results, uids), warnings };
}

/**
 * SearchForInstances (PS3.18 §10.6.1): GET /instances, /studies/{study}/instances and
 * /studies/{study}/series/{series}/instances; series and study attributes only where the search spans them.
 */
export async function searchForInstances(db: Database, request: SearchRequest, settings: SearchSettings): Promise<SearchResult> {
  const search = prepare(request, "instance", settings);
  const { rows, warnings } = search.finish(await searchInstances(db, search.conditions, search.page));
  const withStudy = request.studyInstanceUID === undefined;
  const withSeries = request.seriesInstanceUID === undefined;
  const [instanceCounts, counts] = await Promise.all([
    withSeries ? countInstancesBySeries(db, rows.map((row) => row.series_instance_uid)) : undefined,
    withStudy ? studyCounts(db, rows.map((row) => row.study_instance_uid)) : undefined,
  ]);
  const matches = rows.map((row) => {
    const metadata = JSON.parse(row.metadata) as DicomJsonDataset;
    const result = {
      ...(counts ? studyAttributes(row, counts, request.dicomwebBaseUrl) : {}),
      ...(instanceCounts ? seriesAttributes(row, instanceCounts, request.dicomwebBaseUrl) : {}),
      // The instance's own RetrieveURL wins over its series' and study's.
      ...instanceAttributes(row, metadata, request.dicomwebBaseUrl),
    };
    return withIncludedFields(result, metadata, search.parsed, "instance");
  });
  return { matches, warnings };
}
