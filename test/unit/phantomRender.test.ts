import { crc32, inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { sampleCase, type PhantomCase, type PhantomFinding } from "../../src/phantom/groundTruth.js";
import { encodeGrayPng, windowToBytes } from "../../src/phantom/png.js";
import { renderFrontal, renderLateral, type RenderedImage, type RenderOptions } from "../../src/phantom/render.js";

const TRAINING: RenderOptions = { rows: 512, columns: 512, pixelSpacingMm: 0.7, bitsStored: 12 };
const SEEDS = [11, 12, 13];

function withFindings(seed: number, findings: PhantomFinding[]): PhantomCase {
  return { ...sampleCase(seed), findings };
}

interface Region {
  /** Fractions of the image width and height: [from, to). */
  x: [number, number];
  y: [number, number];
}

function stats(img: RenderedImage, r: Region): { mean: number; variance: number } {
  const j0 = Math.floor(r.x[0] * img.columns);
  const j1 = Math.floor(r.x[1] * img.columns);
  const i0 = Math.floor(r.y[0] * img.rows);
  const i1 = Math.floor(r.y[1] * img.rows);
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      const v = img.pixels[i * img.columns + j] as number;
      sum += v;
      sum2 += v * v;
      n++;
    }
  }
  const mean = sum / n;
  return { mean, variance: sum2 / n - mean * mean };
}

function meanOf(img: RenderedImage, r: Region): number {
  return stats(img, r).mean;
}

/** Where two renders differ by more than the threshold: count and centroid in image fractions. */
function difference(a: RenderedImage, b: RenderedImage, threshold: number): { count: number; x: number; y: number; spread: number } {
  let count = 0;
  let sx = 0;
  let sy = 0;
  const points: [number, number][] = [];
  for (let k = 0; k < a.pixels.length; k++) {
    if (Math.abs((a.pixels[k] as number) - (b.pixels[k] as number)) <= threshold) continue;
    const x = (k % a.columns) / a.columns;
    const y = Math.floor(k / a.columns) / a.rows;
    count++;
    sx += x;
    sy += y;
    points.push([x, y]);
  }
  const cx = sx / count;
  const cy = sy / count;
  const spread = Math.sqrt(points.reduce((s, [x, y]) => s + (x - cx) ** 2 + (y - cy) ** 2, 0) / Math.max(1, count));
  return { count, x: cx, y: cy, spread };
}

/** Pixels that changed by more than delta (negative: got darker by more than -delta). */
function changedPixels(a: RenderedImage, b: RenderedImage, delta: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < a.pixels.length; k++) {
    const d = (b.pixels[k] as number) - (a.pixels[k] as number);
    if (delta < 0 ? d < delta : d > delta) out.push(k);
  }
  return out;
}

/**
 * Mean squared difference to the pixel 2 mm to the right, inside the set only: fine texture, not the broad
 * shading nor the edges of the set.
 */
function roughness(img: RenderedImage, at: readonly number[]): number {
  const step = Math.round(2 / img.pixelSpacingMm);
  const margin = Math.round(6 / img.pixelSpacingMm);
  const inside = new Set(at);
  const pairs = at.filter((k) => [margin, -margin, margin * img.columns, -margin * img.columns].every((o) => inside.has(k + o)));
  return pairs.reduce((s, k) => s + ((img.pixels[k] as number) - (img.pixels[k + step] as number)) ** 2, 0) / pairs.length;
}

function brightCount(img: RenderedImage, r: Region, threshold: number): number {
  let n = 0;
  for (let i = Math.floor(r.y[0] * img.rows); i < Math.floor(r.y[1] * img.rows); i++) {
    for (let j = Math.floor(r.x[0] * img.columns); j < Math.floor(r.x[1] * img.columns); j++) {
      if ((img.pixels[i * img.columns + j] as number) > threshold) n++;
    }
  }
  return n;
}

function downsample(img: RenderedImage, factor: number): RenderedImage {
  const rows = img.rows / factor;
  const columns = img.columns / factor;
  const pixels = new Uint16Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      let s = 0;
      for (let a = 0; a < factor; a++) for (let b = 0; b < factor; b++) s += img.pixels[(i * factor + a) * img.columns + j * factor + b] as number;
      pixels[i * columns + j] = Math.round(s / (factor * factor));
    }
  }
  return { ...img, rows, columns, pixelSpacingMm: img.pixelSpacingMm * factor, pixels };
}

const RIGHT_LOWER: Region = { x: [0.12, 0.4], y: [0.62, 0.78] };
const LEFT_LOWER: Region = { x: [0.6, 0.88], y: [0.62, 0.78] };

describe("phantom renderer", () => {
  it("renders the same pixels for the same case and different pixels for another seed", () => {
    const c = sampleCase(5);
    const a = renderFrontal(c, TRAINING);
    const b = renderFrontal(structuredClone(c), TRAINING);
    expect(Buffer.from(a.pixels.buffer).equals(Buffer.from(b.pixels.buffer))).toBe(true);
    const other = renderFrontal({ ...c, seed: 6 }, TRAINING);
    expect(Buffer.from(a.pixels.buffer).equals(Buffer.from(other.pixels.buffer))).toBe(false);
  });

  it.each([12, 14, 16] as const)("keeps stored values within %i bits and a window inside that range", (bitsStored) => {
    const img = renderFrontal(sampleCase(21), { ...TRAINING, bitsStored });
    const max = 2 ** bitsStored - 1;
    let lo = max;
    let hi = 0;
    for (const v of img.pixels) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(hi).toBeLessThanOrEqual(max);
    expect(lo).toBeGreaterThan(0.02 * max);
    expect(hi).toBeGreaterThan(0.6 * max);
    expect(img.windowWidth).toBeGreaterThan(0.3 * max);
    expect(img.windowCenter - img.windowWidth / 2).toBeGreaterThan(0);
    expect(img.windowCenter + img.windowWidth / 2).toBeLessThan(1.1 * max);
  });

  it("draws the lungs darker than the heart and the abdomen", () => {
    const img = renderFrontal(withFindings(31, []), TRAINING);
    const lungs = (meanOf(img, { x: [0.15, 0.3], y: [0.3, 0.45] }) + meanOf(img, { x: [0.7, 0.85], y: [0.3, 0.45] })) / 2;
    expect(meanOf(img, { x: [0.45, 0.6], y: [0.6, 0.7] })).toBeGreaterThan(lungs + 500);
    expect(meanOf(img, { x: [0.3, 0.7], y: [0.92, 0.98] })).toBeGreaterThan(lungs + 500);
  });

  it("looks the same at 1024 x 0.35 mm as at 512 x 0.7 mm apart from noise and sharpness", () => {
    const c = sampleCase(41);
    const small = renderFrontal(c, TRAINING);
    const large = downsample(renderFrontal(c, { rows: 1024, columns: 1024, pixelSpacingMm: 0.35, bitsStored: 12 }), 2);
    const a = downsample(small, 16);
    const b = downsample(large, 16);
    let total = 0;
    let worst = 0;
    for (let k = 0; k < a.pixels.length; k++) {
      const d = Math.abs((a.pixels[k] as number) - (b.pixels[k] as number));
      total += d;
      worst = Math.max(worst, d);
    }
    expect(total / a.pixels.length).toBeLessThan(12);
    expect(worst).toBeLessThan(80);
    expect(Math.abs(stats(small, { x: [0, 1], y: [0, 1] }).mean - stats(large, { x: [0, 1], y: [0, 1] }).mean)).toBeLessThan(5);
  });

  it.each(SEEDS)("cardiomegaly adds bright pixels in the central lower chest (seed %i)", (seed) => {
    const normal = renderFrontal(withFindings(seed, []), TRAINING);
    const big = renderFrontal(withFindings(seed, [{ observation: "Cardiomegaly", severity: "severe", cardiothoracicRatio: 0.68 }]), TRAINING);
    const region: Region = { x: [0.2, 0.85], y: [0.45, 0.75] };
    const threshold = normal.windowCenter + normal.windowWidth * 0.15;
    expect(brightCount(big, region, threshold)).toBeGreaterThan(brightCount(normal, region, threshold) * 1.3);
  });

  it("an enlarged cardiomediastinum widens the bright upper mediastinum", () => {
    const normal = renderFrontal(withFindings(12, []), TRAINING);
    const wide = renderFrontal(withFindings(12, [{ observation: "Enlarged Cardiomediastinum", mediastinalWidening: 1.7 }]), TRAINING);
    const region: Region = { x: [0.3, 0.7], y: [0.18, 0.35] };
    expect(meanOf(wide, region)).toBeGreaterThan(meanOf(normal, region) + 100);
  });

  it.each(SEEDS)("a left pleural effusion brightens the image-right lower zone only (seed %i)", (seed) => {
    const normal = renderFrontal(withFindings(seed, []), TRAINING);
    const effusion = renderFrontal(withFindings(seed, [{ observation: "Pleural Effusion", laterality: "left", severity: "moderate" }]), TRAINING);
    expect(meanOf(effusion, LEFT_LOWER)).toBeGreaterThan(meanOf(normal, LEFT_LOWER) + 150);
    expect(Math.abs(meanOf(effusion, RIGHT_LOWER) - meanOf(normal, RIGHT_LOWER))).toBeLessThan(5);
  });

  it("a bilateral effusion brightens both lower zones, more when large", () => {
    const normal = renderFrontal(withFindings(13, []), TRAINING);
    const small = renderFrontal(withFindings(13, [{ observation: "Pleural Effusion", laterality: "bilateral", severity: "small" }]), TRAINING);
    const large = renderFrontal(withFindings(13, [{ observation: "Pleural Effusion", laterality: "bilateral", severity: "large" }]), TRAINING);
    for (const region of [LEFT_LOWER, RIGHT_LOWER]) {
      expect(meanOf(small, region)).toBeGreaterThan(meanOf(normal, region));
      expect(meanOf(large, region)).toBeGreaterThan(meanOf(small, region) + 150);
    }
  });

  it.each(SEEDS)("a right pneumothorax darkens the image-left upper lateral zone and loses its fine texture (seed %i)", (seed) => {
    const normal = renderFrontal(withFindings(seed, []), TRAINING);
    const ptx = renderFrontal(withFindings(seed, [{ observation: "Pneumothorax", laterality: "right", severity: "large" }]), TRAINING);
    const darkened = changedPixels(normal, ptx, -40);
    expect(darkened.length).toBeGreaterThan(3000);
    const d = difference(normal, ptx, 40);
    expect(d.x).toBeLessThan(0.4);
    expect(d.y).toBeLessThan(0.5);
    expect(roughness(ptx, darkened)).toBeLessThan(roughness(normal, darkened) * 0.85);
    const mirrored: Region = { x: [0.6, 0.9], y: [0.2, 0.5] };
    expect(Math.abs(meanOf(ptx, mirrored) - meanOf(normal, mirrored))).toBeLessThan(5);
  });

  it.each(SEEDS)("a rib fracture changes pixels only near that rib on that side (seed %i)", (seed) => {
    const normal = renderFrontal(withFindings(seed, []), TRAINING);
    const upper = renderFrontal(withFindings(seed, [{ observation: "Fracture", laterality: "left", rib: 4 }]), TRAINING);
    const lower = renderFrontal(withFindings(seed, [{ observation: "Fracture", laterality: "left", rib: 8 }]), TRAINING);
    const right = renderFrontal(withFindings(seed, [{ observation: "Fracture", laterality: "right", rib: 6 }]), TRAINING);
    const d4 = difference(normal, upper, 40);
    const d8 = difference(normal, lower, 40);
    const dr = difference(normal, right, 40);
    expect(d4.count).toBeGreaterThan(150);
    expect(d4.x).toBeGreaterThan(0.6);
    expect(dr.x).toBeLessThan(0.4);
    expect(d8.y).toBeGreaterThan(d4.y + 0.1);
    for (const d of [d4, d8, dr]) expect(d.spread).toBeLessThan(0.05);
  });

  it.each(SEEDS)("a rib fracture's callus is spindle-shaped along the rib, a nodule round (seed %i)", (seed) => {
    const normal = renderFrontal(withFindings(seed, []), TRAINING);
    const fracture = renderFrontal(withFindings(seed, [{ observation: "Fracture", laterality: "left", rib: 6 }]), TRAINING);
    const nodule = renderFrontal(withFindings(seed, [{ observation: "Lung Lesion", laterality: "left", zone: "middle", kind: "nodule", diameterMm: 20 }]), TRAINING);
    // Spread of the clearly brightened pixels along x and along y.
    const elongation = (changed: number[]) => {
      const xs = changed.map((k) => k % TRAINING.columns);
      const ys = changed.map((k) => Math.floor(k / TRAINING.columns));
      const sd = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + (x - v.reduce((a, b) => a + b, 0) / v.length) ** 2, 0) / v.length);
      return sd(xs) / sd(ys);
    };
    expect(elongation(changedPixels(normal, fracture, 80))).toBeGreaterThan(1.3);
    const round = elongation(changedPixels(normal, nodule, 80));
    expect(round).toBeGreaterThan(0.7);
    expect(round).toBeLessThan(1.4);
  });

  it("consolidation in the right lower zone brightens the image-left lower zone", () => {
    const normal = renderFrontal(withFindings(11, []), TRAINING);
    const cons = renderFrontal(withFindings(11, [{ observation: "Consolidation", laterality: "right", zone: "lower", airBronchograms: true }]), TRAINING);
    const d = difference(normal, cons, 40);
    expect(d.x).toBeLessThan(0.45);
    expect(d.y).toBeGreaterThan(0.5);
    expect(meanOf(cons, RIGHT_LOWER)).toBeGreaterThan(meanOf(normal, RIGHT_LOWER) + 20);
  });

  it("a left upper lung opacity is fainter than a consolidation in the same place", () => {
    const normal = renderFrontal(withFindings(12, []), TRAINING);
    const opacity = renderFrontal(withFindings(12, [{ observation: "Lung Opacity", laterality: "left", zone: "upper", severity: "mild" }]), TRAINING);
    const cons = renderFrontal(withFindings(12, [{ observation: "Consolidation", laterality: "left", zone: "upper", airBronchograms: false }]), TRAINING);
    const region: Region = { x: [0.55, 0.9], y: [0.15, 0.45] };
    const base = meanOf(normal, region);
    expect(meanOf(opacity, region)).toBeGreaterThan(base + 10);
    expect(meanOf(cons, region) - base).toBeGreaterThan((meanOf(opacity, region) - base) * 1.3);
    expect(difference(normal, opacity, 40).x).toBeGreaterThan(0.5);
  });

  it("edema brightens both perihilar regions, more when severe", () => {
    const normal = renderFrontal(withFindings(13, []), TRAINING);
    const mild = renderFrontal(withFindings(13, [{ observation: "Edema", severity: "mild" }]), TRAINING);
    const severe = renderFrontal(withFindings(13, [{ observation: "Edema", severity: "severe" }]), TRAINING);
    for (const region of [{ x: [0.25, 0.4], y: [0.35, 0.55] }, { x: [0.6, 0.75], y: [0.35, 0.55] }] satisfies Region[]) {
      expect(meanOf(mild, region)).toBeGreaterThan(meanOf(normal, region) + 20);
      expect(meanOf(severe, region)).toBeGreaterThan(meanOf(mild, region) + 40);
    }
  });

  it("left atelectasis adds density at the image-right base", () => {
    const normal = renderFrontal(withFindings(11, []), TRAINING);
    const atel = renderFrontal(withFindings(11, [{ observation: "Atelectasis", laterality: "left", severity: "moderate" }]), TRAINING);
    const d = difference(normal, atel, 40);
    expect(d.x).toBeGreaterThan(0.55);
    expect(d.y).toBeGreaterThan(0.5);
  });

  it.each([
    ["right", "upper"],
    ["left", "lower"],
  ] as const)("a %s %s lung nodule appears on that side and zone", (side, zone) => {
    const normal = renderFrontal(withFindings(12, []), TRAINING);
    const nodule = renderFrontal(withFindings(12, [{ observation: "Lung Lesion", laterality: side, zone, kind: "nodule", diameterMm: 20 }]), TRAINING);
    const d = difference(normal, nodule, 40);
    expect(d.count).toBeGreaterThan(1.3);
    expect(side === "right" ? d.x < 0.5 : d.x > 0.5).toBe(true);
    expect(zone === "upper" ? d.y < 0.4 : d.y > 0.5).toBe(true);
    expect(d.spread).toBeLessThan(0.04);
  });

  it("right pleural thickening brightens along the image-left chest wall", () => {
    const normal = renderFrontal(withFindings(11, []), TRAINING);
    const pleural = renderFrontal(withFindings(11, [{ observation: "Pleural Other", laterality: "right" }]), TRAINING);
    const d = difference(normal, pleural, 40);
    expect(d.count).toBeGreaterThan(200);
    expect(d.x).toBeLessThan(0.3);
  });

  it.each(["endotracheal tube", "central venous catheter", "nasogastric tube", "pacemaker"] as const)("a %s adds bright pixels", (device) => {
    const normal = renderFrontal(withFindings(11, []), TRAINING);
    const withDevice = renderFrontal(withFindings(11, [{ observation: "Support Devices", devices: [device] }]), TRAINING);
    let added = 0;
    for (let k = 0; k < normal.pixels.length; k++) if ((withDevice.pixels[k] as number) > (normal.pixels[k] as number) + 150) added++;
    expect(added).toBeGreaterThan(200);
  });

  it("a pacemaker generator sits in the patient's left upper chest", () => {
    const normal = renderFrontal(withFindings(11, []), TRAINING);
    const pacer = renderFrontal(withFindings(11, [{ observation: "Support Devices", devices: ["pacemaker"] }]), TRAINING);
    const d = difference(normal, pacer, 800);
    expect(d.x).toBeGreaterThan(0.6);
    expect(d.y).toBeLessThan(0.35);
  });

  it("renders a lateral view deterministically, in range, with an effusion low and posterior", () => {
    const c = withFindings(14, []);
    const a = renderLateral(c, TRAINING);
    expect(Buffer.from(a.pixels.buffer).equals(Buffer.from(renderLateral(c, TRAINING).pixels.buffer))).toBe(true);
    expect(a.pixels.every((v) => v <= 4095)).toBe(true);
    const effusion = renderLateral({ ...c, findings: [{ observation: "Pleural Effusion", laterality: "bilateral", severity: "moderate" }] }, TRAINING);
    const d = difference(a, effusion, 40);
    expect(d.x).toBeGreaterThan(0.5);
    expect(d.y).toBeGreaterThan(0.55);
  });

  it("writes a windowed image as a valid grayscale PNG", () => {
    const img = renderFrontal(sampleCase(3), { rows: 64, columns: 64, pixelSpacingMm: 5.6, bitsStored: 12 });
    const bytes = windowToBytes(img);
    const png = encodeGrayPng(bytes, 64, 64);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.toString("ascii", 12, 16)).toBe("IHDR");
    expect(png.readUInt32BE(16)).toBe(64);
    // IHDR CRC over type and data, as any decoder checks it.
    expect(png.readUInt32BE(29)).toBe(crc32(png.subarray(12, 29)));
    const idatLength = png.readUInt32BE(33);
    const raw = inflateSync(png.subarray(41, 41 + idatLength));
    expect(raw.length).toBe(65 * 64);
    expect(raw[1 + 65 * 32 + 32]).toBe(bytes[32 * 64 + 32]);
  });
});
