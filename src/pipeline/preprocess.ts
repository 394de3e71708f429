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

/** A linear map of modality values onto [0, 1]: grey = (value − low) / span, clamped. */
interface GreyMap {
  low: number;
  span: number;
}

/** PS3.3 §C.11.2.1.2.1 linear window. */
function linearWindow(center: number, width: number): GreyMap {
  return { low: center - 0.5 - (width - 1) / 2, span: Math.max(width - 1, 1) };
}

function percentileWindow(pixels: Float32Array): GreyMap {
  const sample = new Float32Array(Math.min(pixels.length, 65536));
  const step = pixels.length / sample.length;
  for (let i = 0; i < sample.length; i++) sample[i] = pixels[Math.floor(i * step)] as number;
  sample.sort();
  const low = sample[Math.floor(sample.length * 0.01)] as number;
  const high = sample[Math.floor(sample.length * 0.99)] as number;
  return { low, span: Math.max(high - low, 1e-6) };
}

/** Grey levels in [0, 1], bright = dense. */
export function toGreyLevels(image: DecodedImage, windowing: PreprocessSpec["windowing"]): Float32Array {
  const { low, span } =
    windowing === "dicom" && image.window && image.window.width >= 1
      ? linearWindow(image.window.center, image.window.width)
      : percentileWindow(image.pixels);
  const invert = image.photometricInterpretation === "MONOCHROME1";
  const pixels = image.pixels;
  const out = new Float32Array(pixels.length);
  // One tight loop per case: this runs over every pixel of the image (about a million for a chest X-ray).
  for (let i = 0; i < out.length; i++) {
    const grey = Math.min(1, Math.max(0, ((pixels[i] as number) - low) / span));
    out[i] = invert ? 1 - grey : grey;
  }
  return out;
}

/** For each output index along one axis, the input indices it covers and their weights, as flat arrays. */
interface Spans {
  /** Output o reads inputs index[start[o]] … index[start[o + 1] − 1]. */
  start: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

/**
 * Area-averaging resize of a rows × columns image into a size × size square, the image centred and the margins
 * black (letterbox), so that the aspect ratio is kept. Each output pixel averages the input area it covers. The
 * average is separable: rows are first reduced to the output width, then columns to the output height.
 */
export function letterboxResize(grey: Float32Array, rows: number, columns: number, size: number): Float32Array {
  const scale = size / Math.max(rows, columns);
  const x = coverage(columns, (size - columns * scale) / 2, scale, size);
  const y = coverage(rows, (size - rows * scale) / 2, scale, size);
  const narrow = new Float64Array(rows * size);
  for (let iy = 0; iy < rows; iy++) {
    const row = iy * columns;
    for (let ox = 0; ox < size; ox++) {
      let sum = 0;
      for (let k = x.start[ox] as number; k < (x.start[ox + 1] as number); k++) sum += (grey[row + (x.index[k] as number)] as number) * (x.weight[k] as number);
      narrow[iy * size + ox] = sum;
    }
  }
  const out = new Float32Array(size * size);
  for (let oy = 0; oy < size; oy++) {
    for (let k = y.start[oy] as number; k < (y.start[oy + 1] as number); k++) {
      const from = (y.index[k] as number) * size;
      const w = y.weight[k] as number;
      for (let ox = 0; ox < size; ox++) out[oy * size + ox] = (out[oy * size + ox] as number) + (narrow[from + ox] as number) * w;
    }
  }
  return out;
}

function coverage(inputLength: number, offset: number, scale: number, size: number): Spans {
  const start = new Int32Array(size + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let o = 0; o < size; o++) {
    start[o] = index.length;
    const from = (o - offset) / scale;
    const to = (o + 1 - offset) / scale;
    for (let i = Math.max(0, Math.floor(from)); i < Math.min(inputLength, Math.ceil(to)); i++) {
      const overlap = Math.min(to, i + 1) - Math.max(from, i);
      if (overlap > 0) {
        index.push(i);
        weight.push(overlap * scale);
      }
    }
  }
  start[size] = index.length;
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

/** The whole chain; the result is the vision encoder's `pixel_values` for one image. */
export function preprocess(image: DecodedImage, spec: PreprocessSpec): ModelInput {
  const grey = letterboxResize(toGreyLevels(image, spec.windowing), image.rows, image.columns, spec.size);
  for (let i = 0; i < grey.length; i++) grey[i] = ((grey[i] as number) - spec.mean) / spec.std;
  return grey;
}
