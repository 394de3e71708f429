// Canonical JSON is what the audit chain hashes: the one-pass writer must give, byte for byte, the text records
// were stored with (JSON.stringify over a sorted copy), or every stored chain would stop verifying.
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/audit/hashChain.js";
import { toAuditEvent } from "../../src/audit/auditEvent.js";

/** The text as stored records were written: JSON.stringify over a copy with sorted keys and no undefined values. */
function storedForm(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v !== null && typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return Object.fromEntries(entries.map(([k, x]) => [k, sortKeys(x)]));
    }
    return v;
  };
  return JSON.stringify(sortKeys(value));
}

/** Random JSON-ish values, with the awkward cases: index-like keys, unicode, undefined, nested arrays. */
function randomValue(seed: { n: number }, depth = 0): unknown {
  const next = () => (seed.n = (seed.n * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = next();
  if (depth > 4 || pick < 0.3) {
    const leaves = [null, true, false, 0, -1.5, 1e21, 123456789, "", "a\"b\\c\n", "é😀\u2028", undefined, Number.NaN];
    return leaves[Math.floor(next() * leaves.length)];
  }
  if (pick < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(seed, depth + 1));
  const keys = ["b", "a", "10", "9", "0", "01", "-1", "4294967295", "4294967294", "Z", "é", "aa", "__proto__x", "toJSON"];
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) object[keys[Math.floor(next() * keys.length)]!] = randomValue(seed, depth + 1);
  return object;
}

describe("canonicalJson", () => {
  it("writes an AuditEvent exactly as stored records were written", () => {
    const event = toAuditEvent(
      {
        kind: "dicomweb-store",
        requestId: "3b0c8a4e-6d0b-4f3e-9d61-3c9d8c0b9a11",
        started: new Date(0),
        recorded: new Date(1000),
        method: "POST",
        route: "/dicomweb/studies",
        url: "/dicomweb/studies",
        status: 200,
        action: "C",
        outcome: "0",
        outcomeDescription: undefined,
        agent: { clientId: "trrg-cli", userId: undefined, address: "127.0.0.1" },
        entities: [{ kind: "study", studyInstanceUID: "1.2.3" }, { kind: "patient", patientId: "P 1%", issuer: undefined }],
      },
      { observer: "trrg-gateway" },
    );
    expect(canonicalJson(event)).toBe(storedForm(event));
  });

  it("agrees with the stored form on thousands of random values", () => {
    const seed = { n: 42 };
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(seed);
      expect(canonicalJson(value)).toBe(storedForm(value));
    }
  });

  it("agrees on values JSON.stringify treats specially: functions, symbols, dates, an own toJSON, holes", () => {
    const cases: unknown[] = [
      { f: () => 1, s: Symbol("s"), u: undefined, a: [() => 1, Symbol("t"), undefined] },
      { when: new Date(0), list: [new Date(0)] },
      { toJSON: () => "replaced", b: 1 },
      { nested: { toJSON: () => ({ z: 1, a: 2 }) } },
      [1, , 3], // eslint-disable-line no-sparse-arrays
      "text",
      7,
      null,
    ];
    for (const value of cases) expect(canonicalJson(value)).toBe(storedForm(value));
  });
});
