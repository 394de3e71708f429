import { describe, expect, it } from "vitest";
import { DICOM_DCM, FINDING_CODES, RADLEX, SNOMED_CT, codingsFor } from "../../src/findings/codes.js";
import { OBSERVATIONS } from "../../src/findings/observations.js";

// Verhoeff check digit (used by SNOMED CT identifiers).
const D: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
  [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
  [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
  [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
  [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
  [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
  [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
  [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
  [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** True when the whole number (check digit included) passes Verhoeff's check. */
function verhoeffValid(digits: string): boolean {
  let c = 0;
  const reversed = [...digits].reverse();
  reversed.forEach((ch, i) => {
    const row = D[c];
    const perm = P[i % 8];
    if (row === undefined || perm === undefined) throw new Error("table index out of range");
    const p = perm[Number(ch)];
    if (p === undefined) throw new Error(`not a digit: ${ch}`);
    const next = row[p];
    if (next === undefined) throw new Error("table index out of range");
    c = next;
  });
  return c === 0;
}

describe("verhoeffValid", () => {
  it("accepts known-good numbers and rejects a single-digit change", () => {
    expect(verhoeffValid("2363")).toBe(true); // classic textbook example: 236 + check digit 3
    expect(verhoeffValid("138875005")).toBe(true); // SNOMED CT root concept
    expect(verhoeffValid("404684003")).toBe(true); // Clinical finding (finding)
    expect(verhoeffValid("2364")).toBe(false);
    expect(verhoeffValid("138875006")).toBe(false);
  });
});

describe("FINDING_CODES", () => {
  it("has an entry for every observation and nothing else", () => {
    expect(Object.keys(FINDING_CODES).sort()).toEqual([...OBSERVATIONS].sort());
  });

  it("gives every SNOMED CT code a valid Verhoeff check digit and a concept partition", () => {
    for (const name of OBSERVATIONS) {
      const snomed = FINDING_CODES[name].snomed;
      if (snomed === undefined) continue;
      expect(snomed.code, name).toMatch(/^[1-9]\d{5,17}$/);
      expect(verhoeffValid(snomed.code), `${name} ${snomed.code}`).toBe(true);
      const partition = snomed.code.slice(-3, -1);
      expect(["00", "10"], `${name} ${snomed.code}`).toContain(partition);
      expect(snomed.display.length, name).toBeGreaterThan(0);
    }
  });

  it("gives every RadLex code the RID form", () => {
    for (const name of OBSERVATIONS) {
      const radlex = FINDING_CODES[name].radlex;
      if (radlex === undefined) continue;
      expect(radlex.code, name).toMatch(/^RID\d+$/);
      expect(radlex.display.length, name).toBeGreaterThan(0);
    }
  });

  it("gives every DICOM code the DCM form", () => {
    for (const name of OBSERVATIONS) {
      const dicom = FINDING_CODES[name].dicom;
      if (dicom === undefined) continue;
      expect(dicom.code, name).toMatch(/^1\d{5}$/);
      expect(dicom.display.length, name).toBeGreaterThan(0);
    }
  });

  it("explains every missing code with a note", () => {
    for (const name of OBSERVATIONS) {
      const entry = FINDING_CODES[name];
      if (entry.snomed === undefined || entry.radlex === undefined) {
        expect(entry.note, name).toBeTruthy();
      }
    }
  });

  it("does not share a SNOMED CT code between observations", () => {
    const codes = OBSERVATIONS.flatMap((name) => {
      const snomed = FINDING_CODES[name].snomed;
      return snomed === undefined ? [] : [snomed.code];
    });
    expect(new Set(codes).size).toBe(codes.length);
  });
});

describe("codingsFor", () => {
  it("uses the SNOMED CT, RadLex and DICOM system URIs", () => {
    expect(SNOMED_CT).toBe("http://snomed.info/sct");
    expect(RADLEX).toBe("http://radlex.org");
    // The URI FHIR R4 lists for DICOM Controlled Terminology (terminologies-systems.html).
    expect(DICOM_DCM).toBe("http://dicom.nema.org/resources/ontology/DCM");
  });

  it("returns one coding per code present, with the right system", () => {
    for (const name of OBSERVATIONS) {
      const entry = FINDING_CODES[name];
      const codings = codingsFor(name);
      const expected = [
        ...(entry.snomed === undefined ? [] : [{ system: SNOMED_CT, ...entry.snomed }]),
        ...(entry.radlex === undefined ? [] : [{ system: RADLEX, ...entry.radlex }]),
        ...(entry.dicom === undefined ? [] : [{ system: DICOM_DCM, ...entry.dicom }]),
      ];
      expect(codings, name).toEqual(expected);
      for (const coding of codings) expect([SNOMED_CT, RADLEX, DICOM_DCM]).toContain(coding.system);
    }
  });

  it("codes Pneumothorax in SNOMED CT and RadLex, Lung Opacity in DICOM, and nothing for Support Devices", () => {
    expect(codingsFor("Pneumothorax")).toEqual([
      { system: SNOMED_CT, code: "36118008", display: "Pneumothorax (disorder)" },
      { system: RADLEX, code: "RID5352", display: "pneumothorax" },
    ]);
    expect(codingsFor("Lung Opacity")).toEqual([{ system: DICOM_DCM, code: "112001", display: "Opacity" }]);
    expect(codingsFor("Support Devices")).toEqual([]);
  });
});
