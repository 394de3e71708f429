// The hash chain over the audit trail: each record's hash covers the previous hash, its sequence number and its
// canonical JSON, so editing, removing or reordering a stored record breaks the chain from there on.
import { createHash } from "node:crypto";

/** prev_hash of the first record. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted (by UTF-16 code units) and no whitespace: one text per value. Exactly the text of
 * JSON.stringify over a copy of the value whose objects carry only their own enumerable keys, sorted, without
 * undefined values (as stored records were written): written in one pass, without that copy.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  try {
    return writeValue(value);
  } catch (error) {
    if (error !== NEEDS_COPY) throw error;
    return JSON.stringify(sortKeys(value));
  }
}

/** Thrown when an object has its own toJSON function, which JSON.stringify would call on the sorted copy. */
const NEEDS_COPY = Symbol("needs the sorted copy");

/** An array index as JavaScript orders object keys: such keys come first, in numeric order. */
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;
const isArrayIndex = (key: string) => ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1;

/** Keys in the order JSON.stringify writes them for an object built from the keys in code-unit order. */
function keyOrder(a: string, b: string): number {
  const indexA = isArrayIndex(a);
  const indexB = isArrayIndex(b);
  if (indexA !== indexB) return indexA ? -1 : 1;
  if (indexA) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The text of a value, or undefined where JSON.stringify leaves a member out (functions, symbols). */
function writeMember(value: unknown): string | undefined {
  if (value === null) return "null";
  switch (typeof value) {
    case "object":
      return writeValue(value);
    case "function":
    case "symbol":
    case "undefined":
      return undefined;
    default:
      return JSON.stringify(value);
  }
}

function writeValue(value: object): string {
  if (Array.isArray(value)) {
    let text = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ",";
      text += writeMember(value[i]) ?? "null";
    }
    return text + "]";
  }
  const entries = Object.entries(value);
  entries.sort(([a], [b]) => keyOrder(a, b));
  let text = "{";
  let first = true;
  for (const [key, member] of entries) {
    if (key === "toJSON" && typeof member === "function") throw NEEDS_COPY;
    const written = writeMember(member);
    if (written === undefined) continue;
    text += `${first ? "" : ","}${JSON.stringify(key)}:${written}`;
    first = false;
  }
  return text + "}";
}

/** The sorted copy itself, for the rare value that needs it. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

/** sha256 hex of prevHash "\n" seq "\n" json. */
export function chainHash(prevHash: string, seq: number, json: string): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${json}`, "utf8").digest("hex");
}
