import { describe, expect, it } from "vitest";
import { scoreLabels, scoreReports, type StatusMap } from "../../src/findings/efficacy.js";
import { OBSERVATIONS, type ObservationName } from "../../src/findings/observations.js";
import type { LabelStatus } from "../../src/findings/labeler.js";

function labels(set: Partial<Record<ObservationName, LabelStatus>>): StatusMap {
  const out = {} as StatusMap;
  for (const o of OBSERVATIONS) out[o] = set[o] ?? null;
  return out;
}

describe("scoreLabels: positive-only per observation, micro and macro", () => {
  const pairs = [
    // study 1: effusion hit, cardiomegaly missed
    { reference: labels({ "Pleural Effusion": "present", Cardiomegaly: "present" }), generated: labels({ "Pleural Effusion": "present" }) },
    // study 2: effusion false alarm; edema uncertain in the generated report counts as negative
    { reference: labels({ Edema: "present" }), generated: labels({ "Pleural Effusion": "present", Edema: "uncertain" }) },
    // study 3: normal, both agree
    { reference: labels({ "No Finding": "present" }), generated: labels({ "No Finding": "present" }) },
  ];
  const scores = scoreLabels(pairs);

  it("counts per observation and computes precision, recall and F1", () => {
    const effusion = scores.perObservation["Pleural Effusion"];
    expect(effusion).toMatchObject({ tp: 1, fp: 1, fn: 0, tn: 1, support: 1, precision: 0.5, recall: 1 });
    expect(effusion.f1).toBeCloseTo(2 / 3);
    expect(scores.perObservation.Cardiomegaly).toMatchObject({ tp: 0, fn: 1, precision: 0, recall: 0, f1: 0 });
    expect(scores.perObservation.Edema).toMatchObject({ tp: 0, fn: 1 });
    expect(scores.perObservation["No Finding"]).toMatchObject({ tp: 1, precision: 1, recall: 1, f1: 1 });
  });

  it("pools the counts for micro and averages the 14 for macro", () => {
    // pooled: tp 2 (effusion, no finding), fp 1, fn 2 (cardiomegaly, edema)
    expect(scores.micro.precision).toBeCloseTo(2 / 3);
    expect(scores.micro.recall).toBeCloseTo(2 / 4);
    expect(scores.micro.f1).toBeCloseTo((2 * (2 / 3) * 0.5) / (2 / 3 + 0.5));
    expect(scores.macro.f1).toBeCloseTo((2 / 3 + 1) / 14);
    expect(scores.macro.precision).toBeCloseTo((0.5 + 1) / 14);
  });

  it("averages per report, a report with no positives on either side scoring 1", () => {
    // study 1: tp1 fn1 → p 1, r 0.5, f1 2/3; study 2: fp1 fn1 → 0; study 3: tp1 → 1
    expect(scores.perReport.precision).toBeCloseTo((1 + 0 + 1) / 3);
    expect(scores.perReport.recall).toBeCloseTo((0.5 + 0 + 1) / 3);
    expect(scores.perReport.f1).toBeCloseTo((2 / 3 + 0 + 1) / 3);
    const empty = scoreLabels([{ reference: labels({}), generated: labels({}) }]);
    expect(empty.perReport).toEqual({ precision: 1, recall: 1, f1: 1 });
    expect(empty.micro).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  it("counts uncertain as positive when asked", () => {
    const s = scoreLabels(pairs, { uncertainAs: "positive" });
    expect(s.perObservation.Edema).toMatchObject({ tp: 1, fn: 0 });
  });

  it("restricts micro, macro and per-report scores to the observations asked for", () => {
    const only = scoreLabels(pairs, { observations: ["Pleural Effusion", "Edema"] });
    // effusion: tp 1, fp 1; edema: fn 1
    expect(only.macro.f1).toBeCloseTo((2 / 3 + 0) / 2);
    expect(only.micro.precision).toBeCloseTo(1 / 2);
    expect(only.micro.recall).toBeCloseTo(1 / 2);
    // per observation counts still cover all 14
    expect(only.perObservation.Cardiomegaly).toMatchObject({ fn: 1 });
  });

  it("scores no studies as zeros", () => {
    expect(scoreLabels([]).perReport).toEqual({ precision: 0, recall: 0, f1: 0 });
  });
});

describe("scoreReports: labels the text first", () => {
  it("scores a generated report that misses a negation as a false positive", () => {
    const s = scoreReports([
      { reference: "No pleural effusion. Mild cardiomegaly.", generated: "Small left pleural effusion. The heart is mildly enlarged." },
    ]);
    expect(s.perObservation.Cardiomegaly).toMatchObject({ tp: 1 });
    expect(s.perObservation["Pleural Effusion"]).toMatchObject({ fp: 1 });
    expect(s.studies).toBe(1);
  });
  it("gives perfect scores to identical reports", () => {
    const text = "Right lower lobe pneumonia. No pneumothorax.";
    const s = scoreReports([{ reference: text, generated: text }]);
    expect(s.micro.f1).toBe(1);
    expect(s.perReport.f1).toBe(1);
  });
});
