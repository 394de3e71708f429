// Attribute matching over DICOM JSON (src/dicomweb/datasetMatching.ts): the PS3.4 C.2.2.2 rules UPS-RS search and
// filtered subscriptions use.
import { describe, expect, it } from "vitest";
import type { DicomJsonDataset } from "../../src/dicom/dicomJson.js";
import { addMatchingKey, emptyMatchTree, matchesDataset } from "../../src/dicomweb/datasetMatching.js";

const dataset: DicomJsonDataset = {
  "00100010": { vr: "PN", Value: [{ Alphabetic: "Doe^Jane" }] },
  "00100020": { vr: "LO", Value: ["PAT_1%"] },
  "00404005": { vr: "DT", Value: ["20261201120000-0500"] },
  "00741200": { vr: "CS", Value: ["HIGH"] },
  "00404018": {
    vr: "SQ",
    Value: [
      { "00080100": { vr: "SH", Value: ["110005"] }, "00080102": { vr: "SH", Value: ["DCM"] } },
      { "00080100": { vr: "SH", Value: ["CXR-REPORT"] }, "00080102": { vr: "SH", Value: ["99TRRG"] } },
    ],
  },
};

function matches(...keys: Array<[string, string]>): boolean {
  const tree = emptyMatchTree();
  for (const [path, value] of keys) addMatchingKey(tree, path, value);
  return matchesDataset(dataset, tree);
}

describe("matching DICOM JSON datasets (PS3.4 C.2.2.2)", () => {
  it("matches single values exactly, person names without case, and empty keys universally", () => {
    expect(matches(["ScheduledProcedureStepPriority", "HIGH"])).toBe(true);
    expect(matches(["ScheduledProcedureStepPriority", "high"])).toBe(false);
    expect(matches(["PatientName", "doe^jane"])).toBe(true);
    expect(matches(["PatientID", ""], ["00741200", "HIGH"])).toBe(true);
  });

  it("takes * and ? as wildcards and SQL's own % and _ literally", () => {
    expect(matches(["PatientID", "PAT_1%"])).toBe(true);
    expect(matches(["PatientID", "PAT?1*"])).toBe(true);
    expect(matches(["PatientID", "PATX1%"])).toBe(false);
    expect(matches(["PatientName", "Doe*"])).toBe(true);
  });

  it("matches DT values and ranges given to any precision, a time zone offset not read as a range", () => {
    expect(matches(["ScheduledProcedureStepStartDateTime", "20261201"])).toBe(true);
    expect(matches(["ScheduledProcedureStepStartDateTime", "2026120112"])).toBe(true);
    expect(matches(["ScheduledProcedureStepStartDateTime", "20261201120000-0500"])).toBe(true);
    expect(matches(["ScheduledProcedureStepStartDateTime", "20261130-20261201"])).toBe(true);
    expect(matches(["ScheduledProcedureStepStartDateTime", "-20261130"])).toBe(false);
    expect(matches(["ScheduledProcedureStepStartDateTime", "202612011201-"])).toBe(false);
    expect(() => matches(["ScheduledProcedureStepStartDateTime", "20261302"])).toThrow(/DT value/);
    expect(() => matches(["ScheduledProcedureStepStartDateTime", "20261202-20261201"])).toThrow(/Invalid/);
  });

  it("matches the keys of one sequence within one item", () => {
    expect(matches(["ScheduledWorkitemCodeSequence.CodeValue", "CXR-REPORT"])).toBe(true);
    expect(matches(["ScheduledWorkitemCodeSequence.CodeValue", "CXR-REPORT"], ["ScheduledWorkitemCodeSequence.CodingSchemeDesignator", "99TRRG"])).toBe(true);
    expect(matches(["ScheduledWorkitemCodeSequence.CodeValue", "CXR-REPORT"], ["ScheduledWorkitemCodeSequence.CodingSchemeDesignator", "DCM"])).toBe(false);
    expect(matches(["ScheduledWorkitemCodeSequence", ""])).toBe(true);
    expect(matches(["InputInformationSequence.StudyInstanceUID", "1.2.3"])).toBe(false);
  });

  it("refuses keys it cannot match: unknown attributes, a sequence given a value, a path through a non-sequence", () => {
    expect(() => matches(["NoSuchAttribute", "1"])).toThrow(/unknown attribute/);
    expect(() => matches(["ScheduledWorkitemCodeSequence", "110005"])).toThrow(/is a sequence/);
    expect(() => matches(["PatientID.CodeValue", "1"])).toThrow(/not a sequence/);
    expect(() => matches(["PixelData", "1"])).toThrow(/not supported/);
  });
});
