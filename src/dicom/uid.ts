// UID syntax of PS3.5 §9.1: dot-separated numeric components without leading zeros, at most 64 characters.
const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;

export function isValidUid(value: unknown): value is string {
  return typeof value === "string" && value.length <= 64 && UID_PATTERN.test(value);
}
