import { describe, expect, it } from "vitest";
import { letterboxResize, preprocess, toGreyLevels, type DecodedImage } from "../../src/pipeline/preprocess.js";

function image(rows: number, columns: number, values: number[], extra: Partial<DecodedImage> = {}): DecodedImage {
  return { rows, columns, pixels: Float32Array.from(values), photometricInterpretation: "MONOCHROME2", ...extra };
}

describe("preprocessing for the vision encoder", () => {
  it("maps modality values through the linear VOI window of PS3.3 C.11.2.1.2.1, clamped to [0, 1]", () => {
    // y = (x - (c - 0.5)) / (w - 1) + 0.5, below c - 0.5 - (w - 1) / 2 the minimum, above c - 0.5 + (w - 1) / 2 the maximum
    const grey = toGreyLevels(image(1, 5, [0, 999.5, 1499.5, 1999.5, 4000], { window: { center: 1500, width: 1001 } }), "dicom");
    [0, 0, 0.5, 1, 1].forEach((expected, i) => expect(grey[i]).toBeCloseTo(expected, 6));
  });

  it("inverts MONOCHROME1 so that dense is bright", () => {
    const grey = toGreyLevels(image(1, 2, [0, 1000], { photometricInterpretation: "MONOCHROME1", window: { center: 500.5, width: 1001 } }), "dicom");
    expect(Array.from(grey)).toEqual([1, 0]);
  });

  it("uses the 1st to 99th percentile when the image has no window", () => {
    const values = Array.from({ length: 1000 }, (_, i) => i);
    const grey = toGreyLevels(image(10, 100, values), "dicom");
    expect(grey[0]).toBe(0);
    expect(grey[999]).toBe(1);
    expect(grey[500]).toBeCloseTo(0.5, 1);
  });

  it("averages the area each output pixel covers", () => {
    // 4x4 → 2x2: each output pixel is the mean of a 2x2 block
    const grey = Float32Array.from([0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(letterboxResize(grey, 4, 4, 2))).toEqual([0, 1, 1, 0]);
  });

  it("keeps the aspect ratio, centring the image between black margins", () => {
    // 2 rows x 4 columns of white into 4x4: rows 1 and 2 white, rows 0 and 3 black
    const out = letterboxResize(new Float32Array(8).fill(1), 2, 4, 4);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it("normalises with the manifest's mean and std", () => {
    const out = preprocess(image(2, 2, [0, 0, 1000, 1000], { window: { center: 500.5, width: 1001 } }), { size: 2, windowing: "dicom", mean: 0.5, std: 0.25 });
    expect(Array.from(out)).toEqual([-2, -2, 2, 2]);
  });
});
