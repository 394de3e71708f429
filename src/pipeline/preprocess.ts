// Image preprocessing for the vision encoder, driven by the model manifest: grey levels through the VOI window
// (PS3.3 §C.11.2.1.2), MONOCHROME1 inverted so that dense is bright, letterboxed to a square, area-averaged down to
// the model's input size, then normalised. Training data is made by this same function, so the model sees at run
// time exactly what it was trained on.

import type { DecodedImage } from "../dicom/pixelData.js";

/** Pixel values after the Modality LUT, as src/dicom/pixelData.ts decodes them; re-exported for the pipeline. */
export type { DecodedImage };

export interface PreprocessSpec {
  /** Side of the square input, in pixels. */
  size: number;
  /** "dicom": the image's own window (percentiles when it has none); "percentile": always the 1st-99th. */
  windowing: "dicom" | "percentile";
  mean: number;
  std: number;
}

/** A [1, 1, size, size] float tensor's data. */
export type ModelInput = Float32Array;

/** PS3.3 §C.11.2.1.2.1 linear window, as a function from a modality value to [0, 1]. */
function linearWindow(center: number, width: number): (value: number) => number {
  const low = center - 0.5 - (width - 1) / 2;
  const span = Math.max(width - 1, 1);
  return (value) => Math.min(1, Math.max(0, (value - low) / span));
}

function percentileWindow(pixels: Float32Array): (value: number) => number {
  const sample = new Float32Array(Math.min(pixels.length, 65536));
  const step = pixels.length / sample.length;
  for (let i = 0; i < sample.length; i++) sample[i] = pixels[Math.floor(i * step)] as number;
  sample.sort();
  const low = sample[Math.floor(sample.length * 0.01)] as number;
  const high = sample[Math.floor(sample.length * 0.99)] as number;
  const span = Math.max(high - low, 1e-6);
  return (value) => Math.min(1, Math.max(0, (value - low) / span));
}

/** Grey levels in [0, 1], bright = dense. */
export function toGreyLevels(image: DecodedImage, windowing: PreprocessSpec["windowing"]): Float32Array {
  const map =
    windowing === "dicom" && image.window && image.window.width >= 1
      ? linearWindow(image.window.center, image.window.width)
      : percentileWindow(image.pixels);
  const invert = image.photometricInterpretation === "MONOCHROME1";
  const out = new Float32Array(image.pixels.length);
  for (let i = 0; i < out.length; i++) {
    const grey = map(image.pixels[i] as number);
    out[i] = invert ? 1 - grey : grey;
  }
  return out;
}

/**
 * Area-averaging resize of a rows × columns image into a size × size square, the image centred and the margins
 * black (letterbox), so that the aspect ratio is kept. Each output pixel averages the input area it covers.
 */
export function letterboxResize(grey: Float32Array, rows: number, columns: number, size: number): Float32Array {
  const scale = size / Math.max(rows, columns);
  const outRows = rows * scale;
  const outColumns = columns * scale;
  const top = (size - outRows) / 2;
  const left = (size - outColumns) / 2;
  const xSpans = coverage(columns, left, scale, size);
  const ySpans = coverage(rows, top, scale, size);
  const out = new Float32Array(size * size);
  for (let oy = 0; oy < size; oy++) {
    for (const [iy, wy] of ySpans[oy] as [number, number][]) {
      const rowOffset = iy * columns;
      for (let ox = 0; ox < size; ox++) {
        let sum = 0;
        for (const [ix, wx] of xSpans[ox] as [number, number][]) sum += (grey[rowOffset + ix] as number) * wx;
        out[oy * size + ox] = (out[oy * size + ox] as number) + sum * wy;
      }
    }
  }
  return out;
}

/** For each output index along one axis, the input indices it covers and their weights (fraction of the output pixel). */
function coverage(inputLength: number, offset: number, scale: number, size: number): [number, number][][] {
  const spans: [number, number][][] = [];
  for (let o = 0; o < size; o++) {
    const start = (o - offset) / scale;
    const end = (o + 1 - offset) / scale;
    const span: [number, number][] = [];
    for (let i = Math.max(0, Math.floor(start)); i < Math.min(inputLength, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 0) span.push([i, overlap * scale]);
    }
    spans.push(span);
  }
  return spans;
}

/** The whole chain; the result is the vision encoder's `pixel_values` for one image. */
export function preprocess(image: DecodedImage, spec: PreprocessSpec): ModelInput {
  const grey = letterboxResize(toGreyLevels(image, spec.windowing), image.rows, image.columns, spec.size);
  for (let i = 0; i < grey.length; i++) grey[i] = ((grey[i] as number) - spec.mean) / spec.std;
  return grey;
}
