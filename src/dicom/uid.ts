import { createHash } from "node:crypto";

// UID syntax of PS3.5 §9.1: dot-separated numeric components without leading zeros, at most 64 characters.
const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;

export function isValidUid(value: unknown): value is string {
  return typeof value === "string" && value.length <= 64 && UID_PATTERN.test(value);
}

/**
 * A UID under the 2.25 root (PS3.5 §B.2: a UUID as one decimal integer) made from the first 128 bits of the
 * SHA-256 of a name: the same name always gives the same UID, e.g. for reproducible synthetic studies.
 */
export function uidFromName(name: string): string {
  return `2.25.${BigInt(`0x${createHash("sha256").update(name).digest("hex").slice(0, 32)}`).toString(10)}`;
}
