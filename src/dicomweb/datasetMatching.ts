// Attribute matching (PS3.4 C.2.2.2) over DICOM JSON datasets held in memory: the UPS-RS Search transaction and
// filtered worklist subscriptions match workitems this way. Query values are parsed by the QIDO-RS rules
// (src/dicomweb/qido.ts), so a key means the same in both; a key may be a sequence path such as
// ScheduledWorkitemCodeSequence.CodeValue (PS3.18 §8.3.4.1), matched item by item (C.2.2.2.6).
import type { DicomJsonDataset, DicomJsonElement, PersonName } from "../dicom/dicomJson.js";
import type { Match } from "../store/dicomQueries.js";
import { badRequest } from "./errors.js";
import { attributeOf, parseMatch, type KeyKind } from "./qido.js";

/** The conditions of one dataset level: keys on its own attributes, and nested ones per sequence. */
export interface MatchTree {
  leaves: Array<{ tag: string; keyword: string; match: Match }>;
  /** Sequence tag → conditions an item of it must meet together (C.2.2.2.6: all keys in the same item). */
  sequences: Map<string, MatchTree>;
}

const KIND_OF_VR: Readonly<Record<string, KeyKind>> = {
  UI: "uid",
  PN: "personName",
  DA: "date",
  TM: "time",
  DT: "dateTime",
  IS: "integer",
  US: "integer",
  UL: "integer",
  SS: "integer",
  SL: "integer",
};

/** VRs that hold text and so take single value and wildcard matching. */
const TEXT_VRS = new Set(["AE", "AS", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT", "DS"]);

export function emptyMatchTree(): MatchTree {
  return { leaves: [], sequences: new Map() };
}

/** Adds one query key (a keyword, tag or dotted sequence path) and its value; an empty value matches everything. */
export function addMatchingKey(tree: MatchTree, path: string, value: string): void {
  const parts = path.split(".");
  let level = tree;
  for (const [index, part] of parts.entries()) {
    const attribute = attributeOf(part, "the query");
    const last = index === parts.length - 1;
    if (!last) {
      if (attribute.vr !== "SQ") throw badRequest(`${attribute.keyword} in ${path} is not a sequence`);
      let next = level.sequences.get(attribute.tag);
      if (!next) level.sequences.set(attribute.tag, (next = emptyMatchTree()));
      level = next;
      continue;
    }
    if (attribute.vr === "SQ") {
      // A sequence given alone is a universal match on it (C.2.2.2.6: zero-length sequence key).
      if (value.trim() !== "") throw badRequest(`${attribute.keyword} is a sequence: match on its attributes, e.g. ${attribute.keyword}.CodeValue`);
      return;
    }
    const kind = KIND_OF_VR[attribute.vr] ?? (TEXT_VRS.has(attribute.vr) ? "text" : undefined);
    if (kind === undefined) throw badRequest(`matching on ${attribute.keyword} (VR ${attribute.vr}) is not supported`);
    const match = parseMatch(attribute.keyword, kind, value);
    if (match) level.leaves.push({ tag: attribute.tag, keyword: attribute.keyword, match });
  }
}

/** True when the dataset meets every condition of the tree. */
export function matchesDataset(dataset: DicomJsonDataset, tree: MatchTree): boolean {
  for (const leaf of tree.leaves) {
    if (!valuesOf(dataset[leaf.tag]).some((value) => matchesValue(value, leaf.match))) return false;
  }
  for (const [tag, nested] of tree.sequences) {
    if (nested.leaves.length === 0 && nested.sequences.size === 0) continue;
    const items = (dataset[tag]?.Value ?? []) as DicomJsonDataset[];
    if (!items.some((item) => matchesDataset(item, nested))) return false;
  }
  return true;
}

function valuesOf(element: DicomJsonElement | undefined): Array<string | number> {
  return (element?.Value ?? []).flatMap((value) => {
    if (typeof value === "string" || typeof value === "number") return [value];
    const alphabetic = (value as PersonName | null)?.Alphabetic;
    return typeof alphabetic === "string" ? [alphabetic] : [];
  });
}

/** The SQL LIKE pattern parseMatch builds, as a regular expression: % any run, _ one character, \ escapes. */
function likeToRegExp(pattern: string, ignoreCase: boolean): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === "\\" && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else if (char === "%") source += "[\\s\\S]*";
    else if (char === "_") source += "[\\s\\S]";
    else source += escapeRegExp(char);
  }
  return new RegExp(`^${source}$`, ignoreCase ? "i" : "");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** DT and DA values compared on their digits, padded as parseMatch pads the bounds. */
function comparable(value: string, length: number): string {
  return value.replace(/[^0-9]/g, "").slice(0, length).padEnd(length, "0");
}

function matchesValue(value: string | number, match: Match): boolean {
  switch (match.kind) {
    case "equals":
      if (typeof match.value === "number") return Number(value) === match.value;
      return match.ignoreCase ? String(value).toLowerCase() === match.value.toLowerCase() : String(value).trim() === match.value;
    case "oneOf":
      return match.values.includes(String(value).trim());
    case "like":
      return likeToRegExp(match.pattern, match.ignoreCase ?? false).test(String(value).trim());
    case "range": {
      const length = (match.from ?? match.to ?? "").length;
      const candidate = comparable(String(value), length);
      return (match.from === undefined || candidate >= match.from) && (match.to === undefined || candidate <= match.to);
    }
    case "timeRange": {
      const candidate = comparable(String(value), 6);
      return candidate >= match.from && candidate <= match.to;
    }
  }
}
