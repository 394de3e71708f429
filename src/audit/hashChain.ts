// The hash chain over the audit trail: each record's hash covers the previous hash, its sequence number and its
// canonical JSON, so editing, removing or reordering a stored record breaks the chain from there on.
import { createHash } from "node:crypto";

/** prev_hash of the first record. */
export const GENESIS_HASH = "0".repeat(64);

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

/** JSON with object keys sorted (by UTF-16 code units) and no whitespace: one text per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** sha256 hex of prevHash "\n" seq "\n" json. */
export function chainHash(prevHash: string, seq: number, json: string): string {
  return createHash("sha256").update(`${prevHash}\n${seq}\n${json}`, "utf8").digest("hex");
}
