// DICOM JSON Model (PS3.18 Annex F): datasets keyed by 8-hex-digit tags, each element { vr, Value | InlineBinary
// | BulkDataURI }, and helpers to read common values out of them.
import dcmjs from "dcmjs";

export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

export type DicomJsonDataset = Record<string, DicomJsonElement>;

export interface PersonName {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

const BINARY_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "UN"]);

/** Binary values up to this size are kept inline (F.2.7); larger ones are left out of stored metadata. */
const MAX_INLINE_BINARY_BYTES = 4096;

/**
 * Converts a dataset as dcmjs reads it into DICOM JSON: drops dcmjs' private fields and empty values, inlines
 * small binary values as Base64 and leaves out Pixel Data and other large binary values.
 */
export function toDicomJson(dataset: Record<string, unknown>): DicomJsonDataset {
  const result: DicomJsonDataset = {};
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag] as { vr?: string; Value?: unknown };
    const vr = element?.vr;
    if (typeof vr !== "string" || !/^[0-9A-F]{8}$/.test(tag) || tag === "7FE00010") continue;
    const values = Array.isArray(element.Value) ? element.Value : [];
    if (BINARY_VRS.has(vr)) {
      const bytes = binaryValue(values);
      if (bytes === undefined) result[tag] = { vr };
      else if (bytes.length <= MAX_INLINE_BINARY_BYTES) result[tag] = { vr, InlineBinary: bytes.toString("base64") };
      continue;
    }
    if (vr === "SQ") {
      result[tag] = values.length
        ? { vr, Value: values.map((item) => toDicomJson(item as Record<string, unknown>)) }
        : { vr };
      continue;
    }
    const present = values.filter((value) => value !== undefined && value !== null);
    result[tag] = present.length ? { vr, Value: present } : { vr };
  }
  return result;
}

function binaryValue(values: unknown[]): Buffer | undefined {
  const buffers = values
    .filter((value): value is ArrayBuffer | ArrayBufferView => value instanceof ArrayBuffer || ArrayBuffer.isView(value))
    .map((value) =>
      value instanceof ArrayBuffer ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
    );
  return buffers.length ? Buffer.concat(buffers) : undefined;
}

export function stringValue(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  if (typeof value === "string") return value.trim() || undefined;
  if (typeof value === "number") return String(value);
  return undefined;
}

export function integerValue(dataset: DicomJsonDataset, tag: string): number | undefined {
  const value = dataset[tag]?.Value?.[0];
  const number = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
  return Number.isInteger(number) ? number : undefined;
}

/** The Alphabetic component group of a PN value, e.g. "Doe^Jane". */
export function personNameValue(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0] as PersonName | string | undefined;
  if (typeof value === "string") return value.trim() || undefined;
  return value?.Alphabetic?.trim() || undefined;
}

/** Keyword of a tag from the data dictionary (PS3.6), e.g. "00100010" → "PatientName". */
export function keywordOf(tag: string): string | undefined {
  return dcmjs.data.DicomMetaDictionary.dictionary[dcmjs.data.DicomMetaDictionary.punctuateTag(tag)]?.name;
}

/** Tag and VR of a keyword or of an 8-hex-digit tag, or undefined when neither is in the data dictionary. */
export function lookupAttribute(keywordOrTag: string): { tag: string; vr: string; keyword: string } | undefined {
  const { nameMap, dictionary, punctuateTag, unpunctuateTag } = dcmjs.data.DicomMetaDictionary;
  const entry = /^[0-9A-Fa-f]{8}$/.test(keywordOrTag)
    ? dictionary[punctuateTag(keywordOrTag.toUpperCase())]
    : nameMap[keywordOrTag];
  if (!entry) return undefined;
  return { tag: unpunctuateTag(entry.tag), vr: entry.vr, keyword: entry.name };
}
