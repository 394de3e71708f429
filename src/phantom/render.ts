// Procedural chest radiographs for phantom cases. Everything is laid out in millimetres on the detector, summed
// as attenuation in float layers, then blurred, given quantum noise and mapped to stored values once, so a case
// looks the same at any matrix size apart from noise and sharpness. Image left is the patient's right (PA view).
import type { PhantomCase, PhantomFinding, Side, SupportDevice, Zone } from "./groundTruth.js";
import { Random } from "./random.js";

export interface RenderOptions {
  rows: number;
  columns: number;
  pixelSpacingMm: number;
  bitsStored: 12 | 14 | 16;
}

export interface RenderedImage {
  rows: number;
  columns: number;
  pixelSpacingMm: number;
  bitsStored: number;
  /** Stored values, 0 .. 2^bitsStored-1, row-major; MONOCHROME2 (bright = dense: bone, fluid). */
  pixels: Uint16Array;
  windowCenter: number;
  windowWidth: number;
}

/** Attenuation that maps to the top of the stored range. */
const MU_MAX = 3.1;
/** Attenuation removed by a full depth of aerated lung. */
const LUNG_AIR = 1.45;
/** Attenuation of lung tissue itself, absent in a pneumothorax. */
const PARENCHYMA = 0.2;
/** Noise sd as a share of the stored span at mid grey, unit exposure and 0.7 mm pixels. */
const NOISE = 0.0085;

// ---------------------------------------------------------------------------------------------------------
// Raster helpers

interface Canvas {
  rows: number;
  columns: number;
  ps: number;
  width: number;
  height: number;
}

function canvasOf(o: RenderOptions): Canvas {
  return { rows: o.rows, columns: o.columns, ps: o.pixelSpacingMm, width: o.columns * o.pixelSpacingMm, height: o.rows * o.pixelSpacingMm };
}

function colRange(cv: Canvas, x0: number, x1: number): [number, number] {
  return [Math.max(0, Math.floor(x0 / cv.ps - 0.5)), Math.min(cv.columns - 1, Math.ceil(x1 / cv.ps - 0.5))];
}

function rowRange(cv: Canvas, y0: number, y1: number): [number, number] {
  return [Math.max(0, Math.floor(y0 / cv.ps - 0.5)), Math.min(cv.rows - 1, Math.ceil(y1 / cv.ps - 0.5))];
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function smoothstep(e0: number, e1: number, v: number): number {
  const t = clamp01((v - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

/**
 * A straight tube from (x0,y0) to (x1,y1) with a rounded cross-section profile. Lines thinner than a pixel are
 * widened with their peak lowered, so they keep the same area (and visibility) at every pixel size.
 */
function drawCapsule(cv: Canvas, layer: Float32Array, x0: number, y0: number, x1: number, y1: number, halfWidth: number, value: number, additive = false): void {
  const hw = Math.max(halfWidth, 0.6 * cv.ps);
  const peak = (value * halfWidth) / hw;
  const [j0, j1] = colRange(cv, Math.min(x0, x1) - hw, Math.max(x0, x1) + hw);
  const [i0, i1] = rowRange(cv, Math.min(y0, y1) - hw, Math.max(y0, y1) + hw);
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy || 1e-9;
  const inv = 1 / (hw * hw);
  for (let i = i0; i <= i1; i++) {
    const y = (i + 0.5) * cv.ps;
    const row = i * cv.columns;
    for (let j = j0; j <= j1; j++) {
      const x = (j + 0.5) * cv.ps;
      let t = ((x - x0) * dx + (y - y0) * dy) / len2;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = x - x0 - t * dx;
      const ey = y - y0 - t * dy;
      const q = (ex * ex + ey * ey) * inv;
      if (q >= 1) continue;
      const v = peak * (1 - q);
      const k = row + j;
      if (additive) layer[k] = (layer[k] as number) + v;
      else if (v > (layer[k] as number)) layer[k] = v;
    }
  }
}

type Point = readonly [number, number];

/** Catmull-Rom through the points, as short straight pieces. */
function spline(points: readonly Point[], stepMm = 3): Point[] {
  const out: Point[] = [];
  for (let k = 0; k < points.length - 1; k++) {
    const p0 = points[Math.max(0, k - 1)] as Point;
    const p1 = points[k] as Point;
    const p2 = points[k + 1] as Point;
    const p3 = points[Math.min(points.length - 1, k + 2)] as Point;
    const n = Math.max(2, Math.ceil(Math.hypot(p2[0] - p1[0], p2[1] - p1[1]) / stepMm));
    for (let s = 0; s < n; s++) {
      const t = s / n;
      const t2 = t * t;
      const t3 = t2 * t;
      const f = (a: number, b: number, c: number, d: number): number => 0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3);
      out.push([f(p0[0], p1[0], p2[0], p3[0]), f(p0[1], p1[1], p2[1], p3[1])]);
    }
  }
  out.push(points[points.length - 1] as Point);
  return out;
}

function drawPolyline(cv: Canvas, layer: Float32Array, points: readonly Point[], halfWidth: number, value: number): void {
  for (let k = 0; k < points.length - 1; k++) {
    const a = points[k] as Point;
    const b = points[k + 1] as Point;
    drawCapsule(cv, layer, a[0], a[1], b[0], b[1], halfWidth, value);
  }
}

/** Soft ellipse blob, added: value * (1 - r^2)^power inside. */
function drawBlob(cv: Canvas, layer: Float32Array, cx: number, cy: number, rx: number, ry: number, value: number, power = 1, useMax = false): void {
  const [j0, j1] = colRange(cv, cx - rx, cx + rx);
  const [i0, i1] = rowRange(cv, cy - ry, cy + ry);
  for (let i = i0; i <= i1; i++) {
    const ey = ((i + 0.5) * cv.ps - cy) / ry;
    const row = i * cv.columns;
    for (let j = j0; j <= j1; j++) {
      const ex = ((j + 0.5) * cv.ps - cx) / rx;
      const q = 1 - ex * ex - ey * ey;
      if (q <= 0) continue;
      const v = value * (power === 1 ? q : Math.pow(q, power));
      const k = row + j;
      if (useMax) layer[k] = Math.max(layer[k] as number, v);
      else layer[k] = (layer[k] as number) + v;
    }
  }
}

/** A bone drawn column by column along a curve y(x): a tube with brighter cortical edges. */
function drawBone(cv: Canvas, layer: Float32Array, xFrom: number, xTo: number, centerY: (x: number) => number, half: number, density: number, gain?: (x: number) => number): void {
  const [j0, j1] = colRange(cv, xFrom, xTo);
  for (let j = j0; j <= j1; j++) {
    const x = (j + 0.5) * cv.ps;
    const taper = Math.min(1, (x - xFrom) / 5, (xTo - x) / 5);
    if (taper <= 0) continue;
    const g = taper * (gain ? gain(x) : 1);
    if (g <= 0) continue;
    const yc = centerY(x);
    const slope = centerY(x + 0.5) - centerY(x - 0.5);
    const cos = 1 / Math.sqrt(1 + slope * slope);
    const reach = half / cos;
    const [i0, i1] = rowRange(cv, yc - reach, yc + reach);
    for (let i = i0; i <= i1; i++) {
      const q = Math.abs(((i + 0.5) * cv.ps - yc) * cos) / half;
      if (q >= 1) continue;
      const q2 = q * q;
      const k = i * cv.columns + j;
      layer[k] = (layer[k] as number) + density * g * (0.55 * Math.sqrt(1 - q2) + 0.45 * q2 * q2 * q2);
    }
  }
}

/** Smooth random field in millimetres, roughly in -1..1, the same at any pixel size. */
class ValueNoise {
  private readonly nodes: Float32Array;
  private readonly nx: number;

  constructor(rng: Random, width: number, height: number, private readonly cell: number) {
    this.nx = Math.ceil(width / cell) + 2;
    const ny = Math.ceil(height / cell) + 2;
    this.nodes = new Float32Array(this.nx * ny);
    for (let k = 0; k < this.nodes.length; k++) this.nodes[k] = rng.float() * 2 - 1;
  }

  sample(x: number, y: number): number {
    const gx = x / this.cell;
    const gy = y / this.cell;
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    let fx = gx - ix;
    let fy = gy - iy;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const k = iy * this.nx + ix;
    const n = this.nodes;
    const top = (n[k] as number) + ((n[k + 1] as number) - (n[k] as number)) * fx;
    const bottom = (n[k + this.nx] as number) + ((n[k + this.nx + 1] as number) - (n[k + this.nx] as number)) * fx;
    return top + (bottom - top) * fy;
  }
}

/** The attenuation layers a view is drawn into; combined once at the end. */
class Layers {
  /** Body, bones, heart, devices: attenuation added as is. */
  readonly dense: Float32Array;
  /** Aerated lung depth, 0..1. */
  readonly air: Float32Array;
  /** Share of the lung air replaced by fluid or tissue, 0..1. */
  readonly fill: Float32Array;
  /** Vessels and septal lines, seen only through aerated lung. */
  readonly marks: Float32Array;
  /** Pleural air without lung behind it: no parenchyma, no markings. */
  readonly ptx: Float32Array;
  /** Aerated bronchi inside consolidation. */
  readonly bronch: Float32Array;
  /** Parenchymal texture, -1..1. */
  readonly tex: Float32Array;

  constructor(readonly cv: Canvas) {
    const n = cv.rows * cv.columns;
    this.dense = new Float32Array(n);
    this.air = new Float32Array(n);
    this.fill = new Float32Array(n);
    this.marks = new Float32Array(n);
    this.ptx = new Float32Array(n);
    this.bronch = new Float32Array(n);
    this.tex = new Float32Array(n);
  }

  attenuation(): Float32Array {
    const { dense, air, fill, marks, ptx, bronch, tex } = this;
    const mu = new Float32Array(dense.length);
    for (let k = 0; k < mu.length; k++) {
      const f = Math.min(1, fill[k] as number) * (1 - 0.8 * (bronch[k] as number));
      const a = (air[k] as number) * (1 - f);
      const lung = a * (1 - (ptx[k] as number));
      mu[k] = (dense[k] as number) - LUNG_AIR * a + lung * (PARENCHYMA * (1 + 0.6 * (tex[k] as number)) + (marks[k] as number));
    }
    return mu;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output stage: blur, quantum noise, stored values, window

function gaussianKernel(sigmaPx: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigmaPx));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-i * i) / (2 * sigmaPx * sigmaPx));
  for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) / sum;
  return k;
}

function blur(src: Float32Array, rows: number, columns: number, sigmaPx: number): Float32Array {
  const kernel = gaussianKernel(sigmaPx);
  const r = (kernel.length - 1) / 2;
  const tmp = new Float32Array(src.length);
  for (let i = 0; i < rows; i++) {
    const row = i * columns;
    for (let j = 0; j < columns; j++) {
      let s = 0;
      for (let t = -r; t <= r; t++) {
        const jj = j + t < 0 ? 0 : j + t >= columns ? columns - 1 : j + t;
        s += (kernel[t + r] as number) * (src[row + jj] as number);
      }
      tmp[row + j] = s;
    }
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < rows; i++) {
    for (let t = -r; t <= r; t++) {
      const ii = i + t < 0 ? 0 : i + t >= rows ? rows - 1 : i + t;
      const w = kernel[t + r] as number;
      const from = ii * columns;
      const to = i * columns;
      for (let j = 0; j < columns; j++) out[to + j] = (out[to + j] as number) + w * (tmp[from + j] as number);
    }
  }
  return out;
}

function percentile(histogram: Uint32Array, total: number, share: number): number {
  let seen = 0;
  const target = total * share;
  for (let v = 0; v < histogram.length; v++) {
    seen += histogram[v] as number;
    if (seen >= target) return v;
  }
  return histogram.length - 1;
}

function toImage(mu: Float32Array, c: PhantomCase, o: RenderOptions, noiseRng: Random): RenderedImage {
  const cv = canvasOf(o);
  const blurred = blur(mu, cv.rows, cv.columns, (c.acquisition.modality === "CR" ? 0.65 : 0.45) / cv.ps);
  const max = 2 ** o.bitsStored - 1;
  const scale = 2 ** (o.bitsStored - 12);
  const lo = 300 * scale;
  const span = 3600 * scale;
  const exposure = Math.max(0.2, c.acquisition.exposure);
  const gain = span * (0.9 + 0.1 * Math.min(1.5, exposure)) / MU_MAX;
  // Quantum noise: variance grows with the signal, falls with dose and with pixel area.
  const noiseSd = (NOISE * span * 0.7) / cv.ps / Math.sqrt(exposure);
  const pixels = new Uint16Array(blurred.length);
  const histogram = new Uint32Array(max + 1);
  let body = 0;
  const bodyThreshold = lo + 0.12 * span;
  for (let k = 0; k < blurred.length; k += 2) {
    // Box-Muller gives two normals per pair of draws.
    const u = 1 - noiseRng.float();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * noiseRng.float();
    for (let h = 0; h < 2 && k + h < blurred.length; h++) {
      const m = blurred[k + h] as number;
      const clean = lo + gain * (m > 0 ? m : 0);
      const z = h === 0 ? radius * Math.cos(angle) : radius * Math.sin(angle);
      const noisy = clean + z * noiseSd * Math.sqrt(Math.max(0.05, (clean - lo) / span + 0.15));
      const v = noisy < 0 ? 0 : noisy > max ? max : Math.round(noisy);
      pixels[k + h] = v;
      if (v > bodyThreshold) {
        histogram[v] = (histogram[v] as number) + 1;
        body++;
      }
    }
  }
  const low = body > 0 ? percentile(histogram, body, 0.01) : lo;
  // Capped below metal, so that a pacemaker does not widen the window.
  const high = Math.min(body > 0 ? percentile(histogram, body, 0.995) : lo + span, lo + gain * 2.7);
  return {
    rows: o.rows,
    columns: o.columns,
    pixelSpacingMm: o.pixelSpacingMm,
    bitsStored: o.bitsStored,
    pixels,
    windowCenter: Math.round((low + high) / 2),
    windowWidth: Math.max(2, Math.round((high - low) * 1.08)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Frontal anatomy

/** Index 0 is the patient's right (image left), 1 the patient's left (image right). */
type SideIndex = 0 | 1;
const SIGN: Record<SideIndex, number> = { 0: -1, 1: 1 };

function sideIndex(side: Side): SideIndex {
  return side === "right" ? 0 : 1;
}

function sidesOf(laterality: Side | "bilateral"): SideIndex[] {
  return laterality === "bilateral" ? [0, 1] : [sideIndex(laterality)];
}

interface Lung {
  cx: number;
  a: number;
  cy: number;
  b: number;
}

/** A tilted ellipse: long axis from the right atrium down to the apex at the patient's left. */
interface Heart {
  cx: number;
  cy: number;
  long: number;
  short: number;
  cos: number;
  sin: number;
  width: number;
  height: number;
}

function heartShape(x: number, width: number, bottom: number): Heart {
  const tilt = (24 * Math.PI) / 180;
  const cos = Math.cos(tilt);
  const sin = Math.sin(tilt);
  const ratio = 0.66;
  const long = width / 2 / Math.sqrt(cos * cos + ratio * ratio * sin * sin);
  const short = long * ratio;
  const height = Math.sqrt(long * long * sin * sin + short * short * cos * cos);
  return { cx: x, cy: bottom - 0.9 * height, long, short, cos, sin, width, height };
}

/** Normalised squared radius in the heart ellipse: below 1 inside. */
function heartQ(h: Heart, x: number, y: number): number {
  const dx = x - h.cx;
  const dy = y - h.cy;
  const u = (dx * h.cos + dy * h.sin) / h.long;
  const v = (-dx * h.sin + dy * h.cos) / h.short;
  return u * u + v * v;
}

interface Frontal {
  cx: number;
  /** Offset of anterior structures (sternum, heart, trachea) from the spine by rotation. */
  shift: number;
  hw: number;
  bodyHalf: number;
  apexY: number;
  ribTop: number;
  ribSpacing: number;
  dome: [number, number];
  cp: [number, number];
  lungs: [Lung, Lung];
  heart: Heart;
  medHalf: number;
  knob: { x: number; y: number; r: number };
  carina: Point;
  tracheaX: number;
  hila: [Point, Point];
  female: boolean;
}

function findingRng(c: PhantomCase, label: string): Random {
  return new Random(c.seed).fork(`render-${label}`);
}

function cardiothoracicRatio(c: PhantomCase, rng: Random): number {
  const normal = rng.between(0.42, 0.5);
  const cardiomegaly = c.findings.find((f) => f.observation === "Cardiomegaly");
  const ratio = cardiomegaly?.observation === "Cardiomegaly" ? cardiomegaly.cardiothoracicRatio : normal;
  return c.acquisition.viewPosition === "AP" ? ratio * 1.1 : ratio;
}

function diaphragmLift(c: PhantomCase): [number, number] {
  const lift: [number, number] = [0, 0];
  for (const f of c.findings) {
    if (f.observation !== "Atelectasis") continue;
    for (const s of sidesOf(f.laterality)) lift[s] += f.severity === "moderate" ? 16 : 8;
  }
  return lift;
}

function frontalAnatomy(c: PhantomCase, cv: Canvas): Frontal {
  const rng = new Random(c.seed).fork("render-anatomy");
  const female = c.subject.sex === "F";
  const hw = (female ? 127 : 138) * c.subject.bodyScale * rng.between(0.97, 1.03);
  const ribSpacing = hw * 0.132 * rng.between(0.95, 1.05);
  const ribs = Math.min(11.5, Math.max(7.5, c.acquisition.inspirationRibs));
  const domeDrop = (ribs - 0.5) * ribSpacing + 6;
  const cpDepth = rng.between(22, 32);
  const span = domeDrop + cpDepth + 15;
  const apexY = cv.height / 2 - 0.55 * span;
  const ribTop = apexY + 6;
  const lift = diaphragmLift(c);
  const leftLower = rng.between(10, 20);
  const dome: [number, number] = [apexY + domeDrop - lift[0], apexY + domeDrop + leftLower - lift[1]];
  const cp: [number, number] = [dome[0] + cpDepth, dome[1] + cpDepth * 0.85];
  const shift = Math.sin((c.acquisition.rotationDegrees * Math.PI) / 180) * 90;
  const cx = cv.width / 2 + rng.normal(0, 3);
  const lungs = [0, 1].map((s) => {
    const sign = SIGN[s as SideIndex];
    const a = 0.56 * hw;
    const cpY = cp[s as SideIndex];
    return { cx: cx + sign * (hw - a), a, cy: cpY, b: cpY - apexY };
  }) as [Lung, Lung];
  const ctr = cardiothoracicRatio(c, rng);
  const heartW = ctr * 2 * hw;
  const domeMean = (dome[0] + dome[1]) / 2;
  const heart = heartShape(cx + shift + rng.between(0.1, 0.17) * heartW, heartW, domeMean + 18);
  const widening = c.findings.find((f) => f.observation === "Enlarged Cardiomediastinum");
  const factor = widening?.observation === "Enlarged Cardiomediastinum" ? widening.mediastinalWidening : 1;
  const medHalf = rng.between(25, 31) * c.subject.bodyScale * factor;
  const knobR = rng.between(12, 16) * Math.sqrt(factor);
  const carina: Point = [cx + shift * 0.6 + 2, apexY + rng.between(62, 76)];
  const hilumY = apexY + 0.42 * (domeMean - apexY);
  return {
    cx,
    shift,
    hw,
    bodyHalf: hw + rng.between(20, 30) * c.subject.bodyScale,
    apexY,
    ribTop,
    ribSpacing,
    dome,
    cp,
    lungs,
    heart,
    medHalf,
    knob: { x: cx + shift + medHalf * 0.75 + 6, y: carina[1] - rng.between(18, 26), r: knobR },
    carina,
    tracheaX: cx + shift * 0.6,
    hila: [
      [cx + shift - medHalf - 8, hilumY + 6],
      [cx + shift + medHalf + 12, hilumY - 6],
    ],
    female,
  };
}

/** Height of hemidiaphragm s at x: a dome falling to the costophrenic angle laterally and the heart medially. */
function domeAt(f: Frontal, s: SideIndex, x: number): number {
  const lung = f.lungs[s];
  const u = (x - lung.cx) / lung.a;
  const lateral = SIGN[s] * u > 0;
  const depth = lateral ? f.cp[s] - f.dome[s] : 22;
  return f.dome[s] + depth * u * u;
}

function upperMediastinum(f: Frontal, y: number): [number, number] {
  // Wider towards the neck, narrowest at the carina; the aortic knob bulges to the patient's left.
  const neck = smoothstep(f.carina[1], f.apexY - 40, y) * 8;
  let left = f.medHalf + neck;
  const right = f.medHalf * 0.92 + neck;
  const dy = y - f.knob.y;
  if (Math.abs(dy) < f.knob.r) left = Math.max(left, f.knob.x - f.cx - f.shift + Math.sqrt(f.knob.r * f.knob.r - dy * dy));
  return [right, left];
}

function drawFrontalBase(f: Frontal, L: Layers, rng: Random): void {
  const { cv } = L;
  const texFine = new ValueNoise(rng.fork("tex-fine"), cv.width, cv.height, 4);
  const texCoarse = new ValueNoise(rng.fork("tex-coarse"), cv.width, cv.height, 13);
  const h = f.heart;
  const spineHalf = 0.16 * f.hw;
  const discPhase = rng.between(0, 1);
  const vertebra = f.ribSpacing * 1.15;
  const stomach = { x: f.cx + 0.5 * f.hw, y: f.dome[1] + 22, rx: 28, ry: 17 };
  for (let i = 0; i < cv.rows; i++) {
    const y = (i + 0.5) * cv.ps;
    const [medRight, medLeft] = upperMediastinum(f, y);
    const shoulders = 55 * smoothstep(f.apexY + 25, f.apexY - 45, y);
    const bodyHalf = f.bodyHalf + shoulders;
    const discY = (y / vertebra + discPhase) % 1;
    const disc = Math.exp(-((discY - 0.5) * (discY - 0.5)) / 0.004);
    const row = i * cv.columns;
    for (let j = 0; j < cv.columns; j++) {
      const x = (j + 0.5) * cv.ps;
      const dx = x - f.cx;
      const k = row + j;
      const qb = dx / bodyHalf;
      if (qb * qb >= 1) continue;
      let dense = 2.15 * Math.pow(1 - qb * qb, 0.6);
      // Spine, faint behind the mediastinum.
      if (Math.abs(dx) < spineHalf) {
        const qs = dx / spineHalf;
        dense += 0.13 * Math.sqrt(1 - qs * qs) * (1 - 0.2 * disc) + 0.05 * Math.exp(-(dx * dx) / 16) * (1 - disc);
      }
      // Heart: wider to the patient's left, a little denser than the mediastinal fat.
      const hq = heartQ(h, x, y);
      let heart = 0;
      if (hq < 1.1) {
        heart = clamp01((1 - Math.sqrt(hq)) * 40 + 0.5);
        if (hq < 1) dense += 0.2 * Math.sqrt(1 - hq);
      }
      // Lung air.
      const s: SideIndex = dx < 0 ? 0 : 1;
      const lung = f.lungs[s];
      let air = 0;
      if (y < lung.cy + 2) {
        const ex = (x - lung.cx) / lung.a;
        const ey = y < lung.cy ? (y - lung.cy) / lung.b : 0;
        const wall = (1 - Math.sqrt(ex * ex + ey * ey)) * lung.a;
        const toDome = domeAt(f, s, x) - y;
        const ax = x - f.cx - f.shift;
        const medEdge = (s === 0 ? -ax - medRight : ax - medLeft);
        if (wall > -1 && toDome > -1 && medEdge > -2) {
          const depth = Math.sqrt(clamp01(wall / 22)) * clamp01(toDome / 6 + 0.5) * clamp01(medEdge / 6 + 0.35);
          const apexThin = 0.7 + 0.3 * clamp01((y - f.apexY) / 60);
          air = clamp01(wall / 1.2 + 0.5) * depth * apexThin * (1 - 0.82 * heart);
        }
      }
      // Below the diaphragm: liver and spleen, and the gastric bubble.
      if (air === 0 && y > f.dome[s] - 10) {
        const under = y - domeAt(f, s, x);
        dense += 0.1 * clamp01(under / 15);
        const gx = (x - stomach.x) / stomach.rx;
        const gy = (y - stomach.y) / stomach.ry;
        const gq = gx * gx + gy * gy;
        if (gq < 1 && under > 3 && gy < 0.35) dense -= 0.45 * Math.sqrt(1 - gq) * clamp01((under - 3) / 3);
      }
      L.dense[k] = dense;
      L.air[k] = air;
      if (air > 0) L.tex[k] = 0.6 * texFine.sample(x, y) + 0.5 * texCoarse.sample(x, y);
    }
  }
}

/** Hila, trachea and main bronchi. */
function drawAirwaysAndHila(f: Frontal, L: Layers): void {
  const { cv } = L;
  const airway = new Float32Array(L.dense.length);
  const [tx, ty] = f.carina;
  drawCapsule(cv, airway, f.tracheaX - 1, 0, tx, ty, 8, 0.42);
  const spread = 0.6;
  drawCapsule(cv, airway, tx, ty, tx - 40 * Math.sin(spread * 0.8), ty + 40 * Math.cos(spread * 0.8), 6, 0.26);
  drawCapsule(cv, airway, tx, ty, tx + 50 * Math.sin(spread * 1.1), ty + 50 * Math.cos(spread * 1.1), 6, 0.26);
  for (let k = 0; k < airway.length; k++) L.dense[k] = (L.dense[k] as number) - (airway[k] as number);
  for (const [hx, hy] of f.hila) {
    drawBlob(cv, L.dense, hx, hy, 17, 24, 0.22, 1.5);
  }
}

interface Segment {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  half: number;
  value: number;
}

function vesselTree(rng: Random, out: Segment[], x: number, y: number, angle: number, sign: number, length: number, half: number, value: number, depth: number): void {
  const x1 = x + sign * Math.cos(angle) * length;
  const y1 = y + Math.sin(angle) * length;
  out.push({ x0: x, y0: y, x1, y1, half, value });
  if (depth <= 0) return;
  for (const turn of [-1, 1]) {
    const a = angle + turn * rng.between(0.22, 0.6) + rng.normal(0, 0.12);
    vesselTree(rng, out, x1, y1, a, sign, length * rng.between(0.66, 0.86), half * 0.72, value * 0.84, depth - 1 - (rng.chance(0.15) ? 1 : 0));
  }
}

function drawLungMarkings(f: Frontal, L: Layers, rng: Random, gain: number): void {
  const segments: Segment[] = [];
  for (const s of [0, 1] as SideIndex[]) {
    const [hx, hy] = f.hila[s];
    for (const deg of [-82, -55, -28, 0, 28, 55, 78]) {
      const angle = ((deg + rng.normal(0, 9)) * Math.PI) / 180;
      vesselTree(rng, segments, hx, hy, angle, SIGN[s], rng.between(28, 38), 2.3, 0.15 * gain, 5);
    }
  }
  for (const g of segments) {
    // A bend at the middle so that vessels do not look like spokes.
    const mx = (g.x0 + g.x1) / 2 + rng.normal(0, 0.12) * Math.abs(g.y1 - g.y0);
    const my = (g.y0 + g.y1) / 2 + rng.normal(0, 0.12) * Math.abs(g.x1 - g.x0);
    drawCapsule(L.cv, L.marks, g.x0, g.y0, mx, my, g.half, g.value);
    drawCapsule(L.cv, L.marks, mx, my, g.x1, g.y1, g.half * 0.9, g.value * 0.95);
  }
}

function posteriorRibY(f: Frontal, rib: number, u: number): number {
  // Rises a little off the spine, then arcs down towards the lateral chest wall; upper ribs are more curved.
  const yMcl = f.ribTop + (rib - 1) * f.ribSpacing;
  const curve = f.hw * (0.62 + 0.25 * Math.max(0, 4 - rib) / 3);
  return yMcl + curve * ((u - 0.33) * (u - 0.33) - 0.23 * 0.23);
}

interface FractureSite {
  side: SideIndex;
  rib: number;
  u: number;
}

function drawRibs(f: Frontal, L: Layers, fracture: FractureSite | undefined): void {
  const { cv } = L;
  for (const s of [0, 1] as SideIndex[]) {
    const sign = SIGN[s];
    for (let rib = 1; rib <= 12; rib++) {
      const uMax = rib === 1 ? 0.72 : rib >= 11 ? 0.55 - (rib - 11) * 0.15 : 1.02;
      const broken = fracture && fracture.side === s && fracture.rib === rib ? fracture : undefined;
      const step = broken ? 8 : 0;
      const centerY = (x: number): number => {
        const u = (sign * (x - f.cx)) / f.hw;
        // The distal fragment is displaced at the break and realigns further along.
        return posteriorRibY(f, rib, u) + (broken && u > broken.u ? step * (1 - smoothstep(broken.u, broken.u + 0.15, u)) : 0);
      };
      // Fainter where the rib runs behind the spine and mediastinum.
      const gain = (x: number): number => {
        const u = (sign * (x - f.cx)) / f.hw;
        const behind = 0.45 + 0.55 * smoothstep(0.15, 0.35, u);
        return broken ? behind * smoothstep(2, 5, Math.abs(u - broken.u) * f.hw) : behind;
      };
      const xa = f.cx + sign * 0.11 * f.hw;
      const xb = f.cx + sign * uMax * f.hw;
      const half = (rib === 1 ? 5.2 : 5.8) * (f.hw / 135);
      drawBone(cv, L.dense, Math.min(xa, xb), Math.max(xa, xb), centerY, half, 0.36, gain);
      if (rib <= 8 && rib >= 1) drawAnteriorRib(f, L, s, rib);
    }
  }
}

function drawAnteriorRib(f: Frontal, L: Layers, s: SideIndex, rib: number): void {
  const sign = SIGN[s];
  const start = posteriorRibY(f, rib, 1.02);
  const uEnd = rib === 1 ? 0.25 : 0.3 + rib * 0.015;
  const centerY = (x: number): number => {
    const u = (sign * (x - f.cx - f.shift)) / f.hw;
    return start + (1.02 - u) * f.hw * 0.5 - (rib === 1 ? 30 : 0) * (1.02 - u);
  };
  const xa = f.cx + f.shift + sign * uEnd * f.hw;
  const xb = f.cx + f.shift + sign * 1.0 * f.hw;
  drawBone(L.cv, L.dense, Math.min(xa, xb), Math.max(xa, xb), centerY, 4.4 * (f.hw / 135), 0.11);
}

function drawClavicles(f: Frontal, L: Layers): void {
  for (const s of [0, 1] as SideIndex[]) {
    const sign = SIGN[s];
    const x0 = f.cx + f.shift + sign * 20;
    const x1 = f.cx + sign * (f.hw + 22);
    const y0 = f.apexY + 8;
    const y1 = f.apexY - 20;
    const centerY = (x: number): number => {
      const u = (x - x0) / (x1 - x0);
      return y0 + (y1 - y0) * u + 5 * Math.sin(2 * Math.PI * u);
    };
    drawBone(L.cv, L.dense, Math.min(x0, x1), Math.max(x0, x1), centerY, 6.5 * (f.hw / 135), 0.34);
  }
}

function drawScapulae(f: Frontal, L: Layers): void {
  // Only the medial borders reach over the lateral lung; a faint band is enough.
  for (const s of [0, 1] as SideIndex[]) {
    const sign = SIGN[s];
    const top: Point = [f.cx + sign * (f.hw + 18), f.apexY - 5];
    const bottom: Point = [f.cx + sign * (f.hw * 0.88), f.apexY + 0.55 * (f.dome[s] - f.apexY)];
    drawCapsule(L.cv, L.dense, top[0], top[1], bottom[0], bottom[1], 9, 0.06, true);
  }
}

function drawBreasts(f: Frontal, L: Layers): void {
  for (const s of [0, 1] as SideIndex[]) {
    const sign = SIGN[s];
    drawBlob(L.cv, L.dense, f.cx + sign * 0.62 * f.hw, f.dome[s] - 5, 0.55 * f.hw, 0.42 * f.hw, 0.16, 0.35);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Frontal findings

function zoneY(f: Frontal, s: SideIndex, zone: Zone): number {
  const top = f.apexY;
  const span = f.dome[s] - top;
  return top + span * (zone === "upper" ? 0.24 : zone === "middle" ? 0.52 : 0.8);
}

/** A point inside lung s at the zone, lateral to the hilum. */
function zonePoint(f: Frontal, s: SideIndex, zone: Zone, rng: Random): Point {
  const lung = f.lungs[s];
  const y = zoneY(f, s, zone) + rng.normal(0, 8);
  const ey = Math.min(0.95, Math.abs(y - lung.cy) / lung.b);
  const halfWidth = lung.a * Math.sqrt(1 - ey * ey);
  const x = lung.cx + SIGN[s] * halfWidth * rng.between(-0.05, 0.4);
  return [x, y];
}

function patch(L: Layers, rng: Random, center: Point, radius: number, value: number, blobs: number): void {
  for (let k = 0; k < blobs; k++) {
    const r = radius * rng.between(0.5, 0.8);
    const x = center[0] + rng.normal(0, radius * 0.3);
    const y = center[1] + rng.normal(0, radius * 0.3);
    drawBlob(L.cv, L.fill, x, y, r, r * rng.between(0.75, 1.25), value, 2.2, true);
  }
}

function drawConsolidation(f: Frontal, L: Layers, rng: Random, finding: Extract<PhantomFinding, { observation: "Consolidation" }>): void {
  const s = sideIndex(finding.laterality);
  const center = zonePoint(f, s, finding.zone, rng);
  const radius = rng.between(32, 52);
  patch(L, rng, center, radius, rng.between(0.8, 0.95), rng.int(4, 6));
  if (!finding.airBronchograms) return;
  const [hx, hy] = f.hila[s];
  const angle = Math.atan2(center[1] - hy, SIGN[s] * (center[0] - hx));
  const segments: Segment[] = [];
  const start: Point = [center[0] - SIGN[s] * Math.cos(angle) * radius * 0.5, center[1] - Math.sin(angle) * radius * 0.5];
  vesselTree(rng, segments, start[0], start[1], angle, SIGN[s], radius * 0.45, 1.6, 1, 3);
  for (const g of segments) drawCapsule(L.cv, L.bronch, g.x0, g.y0, g.x1, g.y1, g.half, g.value);
}

function drawLungOpacity(f: Frontal, L: Layers, rng: Random, finding: Extract<PhantomFinding, { observation: "Lung Opacity" }>): void {
  const value = finding.severity === "moderate" ? 0.6 : 0.42;
  for (const s of sidesOf(finding.laterality)) {
    const center = zonePoint(f, s, finding.zone, rng);
    const radius = rng.between(45, 70);
    drawPatchy(L, new ValueNoise(rng, L.cv.width, L.cv.height, 9), center, radius, radius * rng.between(0.7, 1.1), value);
  }
}

/** Hazy, patchy density: a soft envelope broken up by a random field. */
function drawPatchy(L: Layers, noise: ValueNoise, center: Point, rx: number, ry: number, value: number): void {
  const [j0, j1] = colRange(L.cv, center[0] - rx, center[0] + rx);
  const [i0, i1] = rowRange(L.cv, center[1] - ry, center[1] + ry);
  for (let i = i0; i <= i1; i++) {
    const y = (i + 0.5) * L.cv.ps;
    const ey = (y - center[1]) / ry;
    for (let j = j0; j <= j1; j++) {
      const x = (j + 0.5) * L.cv.ps;
      const ex = (x - center[0]) / rx;
      const q = 1 - ex * ex - ey * ey;
      if (q <= 0) continue;
      const k = i * L.cv.columns + j;
      L.fill[k] = (L.fill[k] as number) + value * q * q * clamp01(0.45 + 0.9 * noise.sample(x, y));
    }
  }
}

function drawEdema(f: Frontal, L: Layers, rng: Random, severity: "mild" | "moderate" | "severe"): void {
  const level = severity === "severe" ? 1 : severity === "moderate" ? 0.7 : 0.42;
  for (const s of [0, 1] as SideIndex[]) {
    const [hx, hy] = f.hila[s];
    const sign = SIGN[s];
    drawBlob(L.cv, L.fill, hx + sign * 22, hy + 8, 0.62 * f.hw, 0.34 * (f.dome[s] - f.apexY) + 25, 0.55 * level, 1.5);
    if (severity === "mild") continue;
    const lung = f.lungs[s];
    const lines = rng.int(6, 10);
    for (let k = 0; k < lines; k++) {
      // Kerley B: short septal lines perpendicular to the lateral pleura just above the costophrenic angle.
      const y = f.cp[s] - rng.between(10, 60);
      const ey = Math.abs(y - lung.cy) / lung.b;
      const wallX = lung.cx + sign * lung.a * Math.sqrt(Math.max(0, 1 - ey * ey));
      const length = rng.between(10, 20);
      drawCapsule(L.cv, L.marks, wallX - sign * 1, y, wallX - sign * length, y + rng.normal(0, 1.2), 0.75, 0.3 * level);
    }
  }
}

function drawAtelectasis(f: Frontal, L: Layers, rng: Random, finding: Extract<PhantomFinding, { observation: "Atelectasis" }>): void {
  const moderate = finding.severity === "moderate";
  for (const s of sidesOf(finding.laterality)) {
    const lung = f.lungs[s];
    const y = f.dome[s] - rng.between(18, 32);
    const x = lung.cx + SIGN[s] * rng.between(-5, 20);
    const length = rng.between(55, 80);
    const tilt = rng.between(-0.15, 0.25) * SIGN[s];
    const dx = (Math.cos(tilt) * length) / 2;
    const dy = (Math.sin(tilt) * length) / 2;
    drawCapsule(L.cv, L.fill, x - dx, y - dy, x + dx, y + dy, moderate ? 5.5 : 3.6, 1.0);
    if (moderate) drawBlob(L.cv, L.fill, x, f.dome[s] - 6, 0.5 * lung.a, 22, 0.3, 1.5);
  }
}

function drawLesion(f: Frontal, L: Layers, rng: Random, finding: Extract<PhantomFinding, { observation: "Lung Lesion" }>): void {
  const s = sideIndex(finding.laterality);
  const [x, y] = zonePoint(f, s, finding.zone, rng);
  const r = finding.diameterMm / 2;
  // Dense enough to stand out from crossing ribs once the image is reduced to the model's 128 pixels.
  const peak = 0.35 + 0.012 * finding.diameterMm;
  // Lobulated: a few overlapping discs for a mass, a single sphere for a nodule.
  drawBlob(L.cv, L.dense, x, y, r, r * rng.between(0.9, 1.1), peak, 0.5);
  if (finding.kind === "mass") {
    for (let k = 0; k < 3; k++) {
      const a = rng.between(0, 2 * Math.PI);
      drawBlob(L.cv, L.dense, x + Math.cos(a) * r * 0.45, y + Math.sin(a) * r * 0.45, r * 0.6, r * 0.6, peak * 0.35, 0.5);
    }
  }
}

function drawEffusion(f: Frontal, L: Layers, rng: Random, finding: Extract<PhantomFinding, { observation: "Pleural Effusion" }>): void {
  const base = finding.severity === "large" ? 125 : finding.severity === "moderate" ? 65 : 24;
  for (const s of sidesOf(finding.laterality)) {
    const height = base * rng.between(0.85, 1.15);
    const sign = SIGN[s];
    const lung = f.lungs[s];
    const top = f.cp[s] - height;
    const [j0, j1] = colRange(L.cv, Math.min(f.cx, lung.cx + sign * lung.a), Math.max(f.cx, lung.cx + sign * lung.a));
    const [i0, i1] = rowRange(L.cv, top - 10, f.cp[s] + 5);
    for (let i = i0; i <= i1; i++) {
      const y = (i + 0.5) * L.cv.ps;
      for (let j = j0; j <= j1; j++) {
        const x = (j + 0.5) * L.cv.ps;
        // Meniscus: concave, climbing the lateral chest wall.
        const u = clamp01((sign * (x - lung.cx)) / lung.a * 0.5 + 0.5);
        const meniscus = f.cp[s] - height * (0.45 + 0.55 * u * u * u);
        const v = smoothstep(-2, 10, y - meniscus);
        if (v <= 0) continue;
        const k = i * L.cv.columns + j;
        L.fill[k] = Math.max(L.fill[k] as number, v);
      }
    }
  }
}

function drawPneumothorax(f: Frontal, L: Layers, finding: Extract<PhantomFinding, { observation: "Pneumothorax" }>): void {
  const s = sideIndex(finding.laterality);
  const gap = finding.severity === "large" ? 50 : finding.severity === "moderate" ? 27 : 13;
  const lung = f.lungs[s];
  const sign = SIGN[s];
  const [j0, j1] = colRange(L.cv, Math.min(f.cx, lung.cx + sign * lung.a), Math.max(f.cx, lung.cx + sign * lung.a));
  const [i0, i1] = rowRange(L.cv, f.apexY - 2, f.dome[s]);
  const taperStart = f.apexY + 0.45 * (f.dome[s] - f.apexY);
  for (let i = i0; i <= i1; i++) {
    const y = (i + 0.5) * L.cv.ps;
    // Erect: the pleural air collects at the apex and along the upper lateral wall.
    const g = gap * (1 - smoothstep(taperStart, f.dome[s] - 5, y));
    if (g <= 0.5) continue;
    for (let j = j0; j <= j1; j++) {
      const x = (j + 0.5) * L.cv.ps;
      // Measured from the apex and lateral wall only; the medial lung stays against the mediastinum.
      const ex = Math.max(0, (sign * (x - lung.cx)) / lung.a);
      const ey = (y - lung.cy) / lung.b;
      const r2 = ex * ex + ey * ey;
      const wall = (1 - Math.sqrt(r2)) * (lung.a + ((lung.b - lung.a) * ey * ey) / (r2 || 1));
      if (wall < -2) continue;
      const k = i * L.cv.columns + j;
      const beyond = clamp01((g - wall) / 1.2 + 0.5);
      L.ptx[k] = Math.max(L.ptx[k] as number, beyond);
      // No lung there, so the pleural space is full-depth air right up to the wall.
      const air = L.air[k] as number;
      if (beyond > 0 && air > 0) L.air[k] = Math.max(air, Math.min(0.85 * beyond, 4 * air));
      const line = wall - g;
      if (Math.abs(line) < 3) L.dense[k] = (L.dense[k] as number) + 0.12 * Math.exp(-(line * line) / 0.5) * clamp01(g / 4);
      // The collapsed lung is a little denser just inside the line.
      if (line > 0 && line < 25) L.fill[k] = Math.max(L.fill[k] as number, 0.1 * (gap / 48) * (1 - line / 25));
    }
  }
}

function drawPleuralThickening(f: Frontal, L: Layers, rng: Random, side: Side): void {
  const s = sideIndex(side);
  const lung = f.lungs[s];
  const sign = SIGN[s];
  const thickness = rng.between(5, 9);
  const apicalCap = rng.chance(0.5) ? rng.between(8, 14) : 0;
  const [j0, j1] = colRange(L.cv, Math.min(f.cx, lung.cx + sign * lung.a), Math.max(f.cx, lung.cx + sign * lung.a));
  const [i0, i1] = rowRange(L.cv, f.apexY - 2, f.cp[s]);
  const span = f.dome[s] - f.apexY;
  for (let i = i0; i <= i1; i++) {
    const y = (i + 0.5) * L.cv.ps;
    const t = (y - f.apexY) / span;
    const lateral = smoothstep(0.2, 0.35, t) * thickness;
    const apical = apicalCap * (1 - smoothstep(0.1, 0.25, t));
    const band = Math.max(lateral, apical);
    if (band <= 0.3) continue;
    for (let j = j0; j <= j1; j++) {
      const x = (j + 0.5) * L.cv.ps;
      if (sign * (x - lung.cx) < -0.2 * lung.a && t > 0.25) continue;
      const ex = (x - lung.cx) / lung.a;
      const ey = Math.min(0, y - lung.cy) / lung.b;
      const wall = (1 - Math.sqrt(ex * ex + ey * ey)) * lung.a;
      const v = clamp01((band - wall) / 2 + 0.5);
      const k = i * L.cv.columns + j;
      if (v > 0) L.fill[k] = Math.max(L.fill[k] as number, v);
    }
  }
}

function fractureSite(c: PhantomCase): FractureSite | undefined {
  const finding = c.findings.find((x) => x.observation === "Fracture");
  if (finding?.observation !== "Fracture") return undefined;
  const rng = findingRng(c, "Fracture");
  return { side: sideIndex(finding.laterality), rib: Math.min(12, Math.max(1, Math.round(finding.rib))), u: rng.between(0.62, 0.85) };
}

/**
 * Healing callus: a fusiform (spindle-shaped) density wrapped around the rib at the break, following the rib's
 * curve, thickest at the fracture line. Its elongation along the rib is what tells it from a round nodule.
 */
function drawCallus(f: Frontal, L: Layers, site: FractureSite): void {
  const sign = SIGN[site.side];
  const halfLength = 16;
  for (let k = -4; k <= 4; k++) {
    const t = k / 4;
    const x = f.cx + sign * site.u * f.hw + sign * t * halfLength;
    const u = (sign * (x - f.cx)) / f.hw;
    const thickness = 10 * (1 - 0.6 * t * t);
    drawBlob(L.cv, L.dense, x, posteriorRibY(f, site.rib, u) + 2, 6, thickness, 0.36, 1);
  }
}

function drawDevices(f: Frontal, L: Layers, rng: Random, devices: readonly SupportDevice[]): void {
  const { cv } = L;
  const layer = new Float32Array(L.dense.length);
  const h = f.heart;
  for (const device of devices) {
    switch (device) {
      case "endotracheal tube": {
        const tip = f.carina[1] - rng.between(30, 55);
        for (const wall of [-4.2, 4.2]) drawCapsule(cv, layer, f.tracheaX + wall, 0, f.tracheaX + wall * 0.95, tip, 1.1, 0.38);
        drawCapsule(cv, layer, f.tracheaX, 0, f.tracheaX, tip, 4.4, 0.1);
        break;
      }
      case "central venous catheter": {
        const svc: Point = [f.cx + f.shift - f.medHalf * 0.55, f.carina[1] + rng.between(5, 25)];
        const jugular = rng.chance(0.5);
        const points: Point[] = jugular
          ? [[f.cx - 38, 0], [f.cx - 30, f.apexY - 5], [svc[0] - 2, f.apexY + 25], svc]
          : [[f.cx - f.hw * 0.95, f.apexY - 10], [f.cx - f.hw * 0.55, f.apexY + 4], [f.cx + f.shift - f.medHalf - 5, f.apexY + 22], svc];
        drawPolyline(cv, layer, spline(points), 1.3, 0.5);
        break;
      }
      case "nasogastric tube": {
        const stomach: Point = [f.cx + 0.5 * f.hw + rng.normal(0, 6), f.dome[1] + 30];
        const points: Point[] = [[f.cx + 3, 0], [f.cx + 6, f.carina[1]], [f.cx + 12, f.dome[1] - 30], [f.cx + 26, f.dome[1] + 12], stomach];
        drawPolyline(cv, layer, spline(points), 1.6, 0.45);
        break;
      }
      case "pacemaker": {
        const gx = f.cx + f.hw * rng.between(0.55, 0.7);
        const gy = f.apexY + rng.between(22, 38);
        drawBox(cv, layer, gx, gy, 24, 21, 2.4);
        const ra: Point = [h.cx - 0.3 * h.width, h.cy - 0.1 * h.height];
        const rv: Point = [h.cx + 0.25 * h.width, h.cy + 0.55 * h.height];
        const lead = spline([[gx - 15, gy + 2], [f.cx + f.shift - f.medHalf * 0.4, f.apexY + 30], [f.cx + f.shift - f.medHalf * 0.5, f.carina[1] + 20], ra, rv]);
        drawPolyline(cv, layer, lead, 1.4, 0.65);
        break;
      }
    }
  }
  for (let k = 0; k < layer.length; k++) L.dense[k] = (L.dense[k] as number) + (layer[k] as number);
}

/** Rounded box (device generator), max-composited. */
function drawBox(cv: Canvas, layer: Float32Array, cx: number, cy: number, halfW: number, halfH: number, value: number): void {
  const corner = 8;
  const [j0, j1] = colRange(cv, cx - halfW - 1, cx + halfW + 1);
  const [i0, i1] = rowRange(cv, cy - halfH - 1, cy + halfH + 1);
  for (let i = i0; i <= i1; i++) {
    const dy = Math.max(0, Math.abs((i + 0.5) * cv.ps - cy) - (halfH - corner));
    for (let j = j0; j <= j1; j++) {
      const dx = Math.max(0, Math.abs((j + 0.5) * cv.ps - cx) - (halfW - corner));
      const d = Math.sqrt(dx * dx + dy * dy) - corner;
      const v = value * clamp01(-d / 1.2 + 0.5);
      const k = i * cv.columns + j;
      if (v > (layer[k] as number)) layer[k] = v;
    }
  }
}

function drawFrontalFindings(c: PhantomCase, f: Frontal, L: Layers): void {
  for (const finding of c.findings) {
    const rng = findingRng(c, finding.observation);
    switch (finding.observation) {
      case "Consolidation":
        drawConsolidation(f, L, rng, finding);
        break;
      case "Lung Opacity":
        drawLungOpacity(f, L, rng, finding);
        break;
      case "Edema":
        drawEdema(f, L, rng, finding.severity);
        break;
      case "Atelectasis":
        drawAtelectasis(f, L, rng, finding);
        break;
      case "Lung Lesion":
        drawLesion(f, L, rng, finding);
        break;
      case "Pleural Effusion":
        drawEffusion(f, L, rng, finding);
        break;
      case "Pneumothorax":
        drawPneumothorax(f, L, finding);
        break;
      case "Pleural Other":
        drawPleuralThickening(f, L, rng, finding.laterality);
        break;
      case "Support Devices":
        drawDevices(f, L, rng, finding.devices);
        break;
      case "Cardiomegaly":
      case "Enlarged Cardiomediastinum":
      case "Fracture":
        break; // drawn with the anatomy
    }
  }
}

function validate(o: RenderOptions): void {
  if (!Number.isInteger(o.rows) || !Number.isInteger(o.columns) || o.rows < 16 || o.columns < 16) throw new Error("rows and columns must be integers of at least 16");
  if (!(o.pixelSpacingMm > 0)) throw new Error("pixelSpacingMm must be positive");
}

export function renderFrontal(c: PhantomCase, options: RenderOptions): RenderedImage {
  validate(options);
  const cv = canvasOf(options);
  const f = frontalAnatomy(c, cv);
  const L = new Layers(cv);
  const rng = new Random(c.seed).fork("render-frontal");
  drawFrontalBase(f, L, rng.fork("base"));
  drawAirwaysAndHila(f, L);
  const edema = c.findings.find((x) => x.observation === "Edema");
  const edemaGain = edema?.observation === "Edema" ? (edema.severity === "severe" ? 1.5 : edema.severity === "moderate" ? 1.35 : 1.2) : 1;
  drawLungMarkings(f, L, rng.fork("vessels"), edemaGain);
  const fracture = fractureSite(c);
  drawRibs(f, L, fracture);
  if (fracture) drawCallus(f, L, fracture);
  drawClavicles(f, L);
  drawScapulae(f, L);
  if (f.female) drawBreasts(f, L);
  drawFrontalFindings(c, f, L);
  return toImage(L.attenuation(), c, options, new Random(c.seed).fork("render-frontal-noise"));
}

// ---------------------------------------------------------------------------------------------------------
// Lateral view: anterior to the image left, spine to the right.

interface Lateral {
  front: number;
  back: number;
  apexY: number;
  dome: number;
  sulcus: number;
  spineX: number;
  sternumX: number;
  heart: { cx: number; cy: number; a: number; b: number };
  carina: Point;
  tracheaTop: Point;
}

function lateralAnatomy(c: PhantomCase, cv: Canvas): Lateral {
  const f = frontalAnatomy(c, cv);
  const depth = 0.82 * f.hw * 2 * (c.subject.sex === "F" ? 0.9 : 1);
  const front = cv.width / 2 - depth / 2;
  const back = cv.width / 2 + depth / 2;
  const dome = Math.min(f.dome[0], f.dome[1]) - 5;
  const ctr = f.heart.width / (2 * f.hw);
  const heartA = depth * 0.27 * Math.max(0.8, ctr / 0.46);
  return {
    front,
    back,
    apexY: f.apexY - 8,
    dome,
    sulcus: Math.max(f.cp[0], f.cp[1]) + 12,
    spineX: back - 0.2 * depth,
    sternumX: front + 10,
    heart: { cx: front + 18 + heartA, cy: dome - 32, a: heartA, b: f.heart.height * 0.95 },
    carina: [cv.width / 2 + 0.06 * depth, f.carina[1] + 5],
    tracheaTop: [cv.width / 2 - 0.08 * depth, 0],
  };
}

function lateralDiaphragm(a: Lateral, x: number): number {
  // Highest anteriorly-central, sloping into the deep posterior sulcus.
  const u = (x - a.front) / (a.spineX - a.front);
  return a.dome + 14 * (u - 0.4) * (u - 0.4) + (a.sulcus - a.dome) * smoothstep(0.55, 1.05, u) * 0.9;
}

function drawLateralBase(a: Lateral, L: Layers, rng: Random): void {
  const { cv } = L;
  const tex = new ValueNoise(rng.fork("tex"), cv.width, cv.height, 6);
  const mid = (a.front + a.back) / 2;
  const half = (a.back - a.front) / 2;
  const h = a.heart;
  const vertebra = rng.between(22, 26);
  const lungX = (a.sternumX + 4 + a.spineX - 14) / 2;
  const lungA = (a.spineX - 14 - a.sternumX - 4) / 2;
  const phase = rng.between(0, 1);
  for (let i = 0; i < cv.rows; i++) {
    const y = (i + 0.5) * cv.ps;
    const neck = smoothstep(a.apexY + 30, a.apexY - 50, y);
    const frontY = a.front + neck * half * 0.45;
    const row = i * cv.columns;
    const inBody = (y / vertebra + phase) % 1;
    for (let j = 0; j < cv.columns; j++) {
      const x = (j + 0.5) * cv.ps;
      const k = row + j;
      if (x < frontY - 2 || x > a.back + 2) continue;
      const edge = clamp01(Math.min(x - frontY, a.back - x) / 4 + 0.5);
      let dense = 2.55 * edge * (0.6 + 0.4 * Math.sqrt(clamp01(1 - ((x - mid) / half) ** 2)));
      // Vertebral bodies with disc spaces, posterior elements fainter.
      if (x > a.spineX - 16 && x < a.spineX + 16) dense += 0.22 * (inBody > 0.15 ? 1 : 0.55) * clamp01((16 - Math.abs(x - a.spineX)) / 3);
      if (x > a.spineX + 16 && x < a.back - 10) dense += 0.1;
      if (x > a.sternumX - 5 && x < a.sternumX + 5 && y > a.apexY + 5 && y < a.apexY + 170) dense += 0.16;
      const hq = ((x - h.cx) / h.a) ** 2 + ((y - h.cy) / h.b) ** 2;
      const heart = hq < 1.1 ? clamp01((1 - Math.sqrt(hq)) * 40 + 0.5) : 0;
      if (hq < 1) dense += 0.2 * Math.sqrt(1 - hq);
      let air = 0;
      const floor = lateralDiaphragm(a, x);
      const ex = (x - lungX) / lungA;
      const ey = Math.min(0, y - a.sulcus) / (a.sulcus - a.apexY);
      const wall = (1 - Math.sqrt(ex * ex + ey * ey)) * lungA;
      if (wall > -1 && y < floor + 1) {
        air = Math.sqrt(clamp01(wall / 12)) * clamp01((floor - y) / 4 + 0.5) * (1 - 0.85 * heart) * 1.1;
      }
      if (air === 0 && y > floor) dense += 0.08;
      L.dense[k] = dense;
      L.air[k] = air;
      if (air > 0) L.tex[k] = 0.5 * tex.sample(x, y);
    }
  }
  drawCapsule(cv, L.dense, a.tracheaTop[0], a.tracheaTop[1], a.carina[0], a.carina[1], 8, -0.3, true);
  drawBlob(cv, L.dense, a.carina[0] + 8, a.carina[1] + 10, 22, 26, 0.2, 1.5);
  for (let k = 0; k < 9; k++) {
    const y = a.apexY + 30 + k * 22;
    drawCapsule(cv, L.dense, a.spineX - 5, y, a.spineX - 70, y + 35, 3.5, 0.05, true);
  }
}

function lateralZoneY(a: Lateral, zone: Zone): number {
  return a.apexY + (a.dome - a.apexY) * (zone === "upper" ? 0.25 : zone === "middle" ? 0.5 : 0.8);
}

function drawLateralFindings(c: PhantomCase, a: Lateral, L: Layers): void {
  const depth = a.spineX - a.sternumX;
  for (const finding of c.findings) {
    const rng = findingRng(c, `lateral-${finding.observation}`);
    switch (finding.observation) {
      case "Pleural Effusion": {
        const height = finding.severity === "large" ? 110 : finding.severity === "moderate" ? 55 : 22;
        const scale = finding.laterality === "bilateral" ? 1 : 0.7;
        const [j0, j1] = colRange(L.cv, a.sternumX, a.spineX);
        const [i0, i1] = rowRange(L.cv, a.sulcus - height - 20, a.sulcus + 5);
        for (let i = i0; i <= i1; i++) {
          const y = (i + 0.5) * L.cv.ps;
          for (let j = j0; j <= j1; j++) {
            const x = (j + 0.5) * L.cv.ps;
            const u = clamp01((x - a.sternumX) / depth);
            const meniscus = a.sulcus - height * (0.3 + 0.7 * u * u);
            const k = i * L.cv.columns + j;
            L.fill[k] = Math.max(L.fill[k] as number, scale * smoothstep(-2, 10, y - meniscus));
          }
        }
        break;
      }
      case "Consolidation":
      case "Lung Opacity": {
        const zone = finding.zone;
        const x = a.sternumX + depth * rng.between(0.35, 0.8);
        patch(L, rng, [x, lateralZoneY(a, zone)], rng.between(30, 50), finding.observation === "Consolidation" ? 0.8 : 0.4, 4);
        break;
      }
      case "Lung Lesion": {
        const r = finding.diameterMm / 2;
        drawBlob(L.cv, L.dense, a.sternumX + depth * rng.between(0.3, 0.8), lateralZoneY(a, finding.zone), r, r, 0.09 + 0.0085 * finding.diameterMm, 0.5);
        break;
      }
      case "Edema":
        drawBlob(L.cv, L.fill, a.carina[0], a.carina[1] + 30, depth * 0.45, 80, finding.severity === "severe" ? 0.55 : finding.severity === "moderate" ? 0.4 : 0.25, 1.5);
        break;
      case "Atelectasis": {
        const y = a.dome - rng.between(15, 30);
        drawCapsule(L.cv, L.fill, a.sternumX + depth * 0.3, y - 8, a.sternumX + depth * 0.85, y + 10, finding.severity === "moderate" ? 5 : 3.5, 0.8);
        break;
      }
      case "Support Devices":
        drawLateralDevices(a, L, finding.devices);
        break;
      default:
        break;
    }
  }
}

function drawLateralDevices(a: Lateral, L: Layers, devices: readonly SupportDevice[]): void {
  const layer = new Float32Array(L.dense.length);
  const { cv } = L;
  const [cxr, cyr] = a.carina;
  for (const device of devices) {
    if (device === "endotracheal tube") {
      const tipT = 0.7;
      const tip: Point = [a.tracheaTop[0] + (cxr - a.tracheaTop[0]) * tipT, cyr * tipT];
      drawCapsule(cv, layer, a.tracheaTop[0], 0, tip[0], tip[1], 4.5, 0.22);
    } else if (device === "nasogastric tube") {
      drawPolyline(cv, layer, spline([[a.tracheaTop[0] + 14, 0], [cxr + 16, cyr], [a.heart.cx + a.heart.a + 10, a.dome], [a.sternumX + 60, a.dome + 40]]), 1.6, 0.45);
    } else if (device === "central venous catheter") {
      drawPolyline(cv, layer, spline([[a.sternumX + 30, a.apexY - 10], [cxr - 20, a.apexY + 40], [cxr - 22, cyr + 20]]), 1.3, 0.5);
    } else {
      const gx = a.front + 4;
      const gy = a.apexY + 35;
      drawBox(cv, layer, gx, gy, 6, 20, 2.4);
      drawPolyline(cv, layer, spline([[gx + 4, gy], [cxr - 25, a.apexY + 50], [cxr - 25, cyr + 30], [a.heart.cx - 10, a.heart.cy + a.heart.b * 0.5]]), 1.4, 0.65);
    }
  }
  for (let k = 0; k < layer.length; k++) L.dense[k] = (L.dense[k] as number) + (layer[k] as number);
}

export function renderLateral(c: PhantomCase, options: RenderOptions): RenderedImage {
  validate(options);
  const cv = canvasOf(options);
  const a = lateralAnatomy(c, cv);
  const L = new Layers(cv);
  drawLateralBase(a, L, new Random(c.seed).fork("render-lateral"));
  drawLateralFindings(c, a, L);
  return toImage(L.attenuation(), c, options, new Random(c.seed).fork("render-lateral-noise"));
}
