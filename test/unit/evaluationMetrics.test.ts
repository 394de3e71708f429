import { describe, expect, it } from "vitest";
import { auroc, corpusBleu4, meanRougeL, words } from "../../models/training/evaluationMetrics.js";

describe("model card metrics", () => {
  it("splits text into lower-case words, keeping decimals and hyphenated words whole", () => {
    expect(words("A 2.5 cm well-defined Nodule.")).toEqual(["a", "2.5", "cm", "well-defined", "nodule"]);
  });

  it("BLEU-4 is 1 for identical text and 0 without a shared 4-gram", () => {
    const text = "there is a small left pleural effusion";
    expect(corpusBleu4([{ reference: text, candidate: text }])).toBeCloseTo(1);
    expect(corpusBleu4([{ reference: text, candidate: "no acute cardiopulmonary process is seen" }])).toBe(0);
  });

  it("BLEU-4 applies the brevity penalty to a short candidate", () => {
    const reference = "the heart is normal in size and the lungs are clear";
    const candidate = "the heart is normal in size";
    // every n-gram of the candidate matches: BLEU = BP = exp(1 - 11/6)
    expect(corpusBleu4([{ reference, candidate }])).toBeCloseTo(Math.exp(1 - 11 / 6), 6);
  });

  it("ROUGE-L is the longest-common-subsequence F-measure with beta 1.2", () => {
    // LCS 3 of reference 4 and candidate 3: P = 1, R = 0.75
    const p = 1;
    const r = 0.75;
    const expected = ((1 + 1.44) * p * r) / (r + 1.44 * p);
    expect(meanRougeL([{ reference: "no pleural effusion seen", candidate: "no pleural effusion" }])).toBeCloseTo(expected, 10);
  });

  it("AUROC counts the pairs ranked right, ties as half", () => {
    expect(auroc([0.1, 0.2, 0.8, 0.9], [false, false, true, true])).toBe(1);
    expect(auroc([0.9, 0.8, 0.2, 0.1], [false, false, true, true])).toBe(0);
    expect(auroc([0.5, 0.5, 0.5, 0.5], [false, true, false, true])).toBe(0.5);
    expect(auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBe(0.75);
    expect(auroc([0.1, 0.2], [true, true])).toBeNaN();
  });
});
