// Pixel decoding: the first frame of a stored DICOM Part 10 instance as modality values, for every transfer syntax a
// PACS sends for projection X-ray. The header is read by part10.ts (dcmjs); Pixel Data is located by
// pixelDataExtent.ts and unwrapped here (native PS3.5 §8.1, encapsulated PS3.5 §8.2 and §A.4); compressed frames go
// to WASM codecs (dcmjs-codecs: JPEG processes 2/4/14, JPEG-LS, JPEG 2000, HTJ2K; libjpeg-turbo: JPEG baseline);
// RLE (PS3.5 Annex G) is decoded here. Every failure is a PixelDecodeError with a reason, never a crash.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { inflateRawSync } from "node:zlib";
import dcmjs from "dcmjs";
import dcmjsCodecs from "dcmjs-codecs";
import type { DicomJsonDataset } from "./dicomJson.js";
import { parseHeader, Part10Error } from "./part10.js";
import { locatePixelData, UNDEFINED_LENGTH, type Encoding } from "./pixelDataExtent.js";

/** Pixel values after the Modality LUT (rescale slope and intercept), one frame, row-major. */
export interface DecodedImage {
  rows: number;
  columns: number;
  pixels: Float32Array;
  photometricInterpretation: "MONOCHROME1" | "MONOCHROME2";
  /** The first VOI window of the image, in modality units, when the image has one. */
  window?: { center: number; width: number };
}

export type PixelDecodeReason =
  /** The transfer syntax is not one this module decodes. */
  | "unsupported-transfer-syntax"
  /** Samples per Pixel is not 1 or the photometric interpretation is not MONOCHROME1/2. */
  | "not-greyscale"
  /** Bits Allocated, Bits Stored or High Bit outside what is supported (8 or 16 bits allocated). */
  | "unsupported-pixel-format"
  /** The instance has no Pixel Data, or lacks Rows/Columns. */
  | "no-pixel-data"
  /** The file ends before the Pixel Data (or its first frame) does. */
  | "truncated"
  /** The compressed frame could not be decoded, or decodes to the wrong size. */
  | "corrupt"
  /** The Part 10 structure itself is invalid. */
  | "malformed"
  /** A WebAssembly codec could not be loaded (an installation problem, not the instance's). */
  | "codec-unavailable";

export class PixelDecodeError extends Error {
  constructor(
    readonly reason: PixelDecodeReason,
    message: string,
  ) {
    super(message);
    this.name = "PixelDecodeError";
  }
}

type Codec = "native" | "rle" | "jpeg-baseline" | "jpeg" | "jpeg-ls" | "jpeg2000" | "htj2k";

/** PS3.5 §10 / PS3.6 Annex A transfer syntaxes decoded here, and how. */
const TRANSFER_SYNTAX_CODECS: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  ["1.2.840.10008.1.2", "native"],
  ["1.2.840.10008.1.2.1", "native"],
  ["1.2.840.10008.1.2.1.99", "native"],
  ["1.2.840.10008.1.2.2", "native"],
  ["1.2.840.10008.1.2.5", "rle"],
  ["1.2.840.10008.1.2.4.50", "jpeg-baseline"],
  ["1.2.840.10008.1.2.4.51", "jpeg"],
  ["1.2.840.10008.1.2.4.57", "jpeg"],
  ["1.2.840.10008.1.2.4.70", "jpeg"],
  ["1.2.840.10008.1.2.4.80", "jpeg-ls"],
  ["1.2.840.10008.1.2.4.81", "jpeg-ls"],
  ["1.2.840.10008.1.2.4.90", "jpeg2000"],
  ["1.2.840.10008.1.2.4.91", "jpeg2000"],
  ["1.2.840.10008.1.2.4.201", "htj2k"],
  ["1.2.840.10008.1.2.4.202", "htj2k"],
  ["1.2.840.10008.1.2.4.203", "htj2k"],
]);

// dcmjs reports VRs it has to guess (Pixel Padding Value is "US or SS" in implicit VR) on the console; the guess is
// corrected below, and the console is no place for it.
(dcmjs.log as unknown as { getLogger?: (name: string) => { setLevel(level: "silent"): void } }).getLogger?.("validation.dcmjs").setLevel("silent");

const DEFLATED = "1.2.840.10008.1.2.1.99";
const BIG_ENDIAN = "1.2.840.10008.1.2.2";
const IMPLICIT_LITTLE_ENDIAN = "1.2.840.10008.1.2";
/** A deflated data set larger than this once inflated is refused rather than inflated (zip bomb guard). */
const MAX_INFLATED_BYTES = 1024 * 1024 * 1024;

export function isDecodableTransferSyntax(uid: string): boolean {
  return TRANSFER_SYNTAX_CODECS.has(uid);
}

/** The Image Pixel attributes (PS3.3 §C.7.6.3) and Modality LUT / VOI / padding attributes this module uses. */
interface PixelAttributes {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  signed: boolean;
  numberOfFrames: number;
  photometricInterpretation: "MONOCHROME1" | "MONOCHROME2";
  rescaleSlope: number;
  rescaleIntercept: number;
  window?: { center: number; width: number };
  padding?: { low: number; high: number };
}

/** Decodes the first frame of a Part 10 instance held in memory. */
export async function decodeFirstFrame(part10: Buffer): Promise<DecodedImage> {
  const { transferSyntaxUID, dataset } = readHeader(part10);
  const codec = TRANSFER_SYNTAX_CODECS.get(transferSyntaxUID);
  if (!codec) {
    throw new PixelDecodeError("unsupported-transfer-syntax", `transfer syntax ${transferSyntaxUID} cannot be decoded`);
  }
  const attributes = pixelAttributes(dataset);
  const pixelData = findPixelData(part10, transferSyntaxUID);
  if (codec === "native") {
    const samples = nativeFirstFrame(pixelData, attributes, transferSyntaxUID === BIG_ENDIAN);
    return toDecodedImage(samples, attributes, attributes.highBit + 1 - attributes.bitsStored);
  }
  const frame = firstFrameFragments(pixelData, attributes, codec);
  const decoded = await decodeCompressedFrame(codec, frame, attributes, transferSyntaxUID);
  return toDecodedImage(decoded, attributes, 0);
}

/** Reads a Part 10 file and decodes its first frame. */
export async function decodeFirstFrameFromFile(path: string): Promise<DecodedImage> {
  return decodeFirstFrame(await readFile(path));
}

// ---------------------------------------------------------------------------------------------------------------
// Header

function readHeader(part10: Buffer): { transferSyntaxUID: string; dataset: DicomJsonDataset } {
  try {
    const header = parseHeader(part10, true);
    if (!header) throw new PixelDecodeError("malformed", "the data set cannot be read");
    if (!header.hasPixelData) throw new PixelDecodeError("no-pixel-data", "the instance has no Pixel Data (7FE0,0010)");
    return { transferSyntaxUID: header.meta.transferSyntaxUID, dataset: header.dataset };
  } catch (error) {
    if (error instanceof PixelDecodeError) throw error;
    if (error instanceof Part10Error) {
      const reason = error.problem === "unsupported-transfer-syntax" ? "unsupported-transfer-syntax" : "malformed";
      throw new PixelDecodeError(reason, error.message);
    }
    throw new PixelDecodeError("malformed", `the data set cannot be read: ${(error as Error).message}`);
  }
}

function numbers(dataset: DicomJsonDataset, tag: string): number[] {
  const values = dataset[tag]?.Value ?? [];
  return values
    .map((value) => (typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN))
    .filter((value) => Number.isFinite(value));
}

function firstNumber(dataset: DicomJsonDataset, tag: string): number | undefined {
  return numbers(dataset, tag)[0];
}

function text(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === "string" ? value.trim() : undefined;
}

/** Image Pixel Module (PS3.3 §C.7.6.3) values, checked: one greyscale sample of 8 or 16 allocated bits. */
function pixelAttributes(dataset: DicomJsonDataset): PixelAttributes {
  const samplesPerPixel = firstNumber(dataset, "00280002") ?? 1;
  const photometric = text(dataset, "00280004") ?? "";
  if (samplesPerPixel !== 1 || (photometric !== "MONOCHROME1" && photometric !== "MONOCHROME2")) {
    throw new PixelDecodeError(
      "not-greyscale",
      `not a greyscale image (Samples per Pixel ${samplesPerPixel}, Photometric Interpretation ${photometric || "missing"})`,
    );
  }
  const rows = firstNumber(dataset, "00280010") ?? 0;
  const columns = firstNumber(dataset, "00280011") ?? 0;
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 1 || columns < 1) {
    throw new PixelDecodeError("no-pixel-data", `Rows (0028,0010) and Columns (0028,0011) must be positive (got ${rows} × ${columns})`);
  }
  const bitsAllocated = firstNumber(dataset, "00280100");
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new PixelDecodeError("unsupported-pixel-format", `Bits Allocated ${bitsAllocated ?? "missing"} is not supported (8 or 16)`);
  }
  const bitsStored = firstNumber(dataset, "00280101") ?? bitsAllocated;
  const highBit = firstNumber(dataset, "00280102") ?? bitsStored - 1;
  // PS3.5 §8.1.1: the stored bits lie at High Bit and below, within the allocated bits.
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    throw new PixelDecodeError(
      "unsupported-pixel-format",
      `Bits Stored ${bitsStored} / High Bit ${highBit} do not fit Bits Allocated ${bitsAllocated}`,
    );
  }
  const signed = (firstNumber(dataset, "00280103") ?? 0) === 1;
  const numberOfFrames = Math.max(1, Math.trunc(firstNumber(dataset, "00280008") ?? 1));
  // PS3.3 §C.11.1: Modality LUT as Rescale Slope and Intercept (identity when absent).
  const rescaleSlope = firstNumber(dataset, "00281053") ?? 1;
  const rescaleIntercept = firstNumber(dataset, "00281052") ?? 0;
  const center = firstNumber(dataset, "00281050");
  const width = firstNumber(dataset, "00281051");
  const attributes: PixelAttributes = {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    highBit,
    signed,
    numberOfFrames,
    photometricInterpretation: photometric,
    rescaleSlope: rescaleSlope === 0 ? 1 : rescaleSlope,
    rescaleIntercept,
  };
  if (center !== undefined && width !== undefined && width > 0) attributes.window = { center, width };
  const padding = paddingRange(dataset, bitsStored, signed);
  if (padding) attributes.padding = padding;
  return attributes;
}

/**
 * Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121), PS3.3 §C.7.5.1.1.2: stored values
 * (before the Modality LUT) that are not part of the image. They are US or SS by Pixel Representation (implicit VR
 * leaves that to the reader), so only their low Bits Stored bits are kept and read as the pixels are.
 */
function paddingRange(dataset: DicomJsonDataset, bitsStored: number, signed: boolean): { low: number; high: number } | undefined {
  const value = firstNumber(dataset, "00280120");
  if (value === undefined) return undefined;
  const range = 2 ** bitsStored;
  const normalise = (v: number) => {
    const bits = ((Math.trunc(v) % range) + range) % range;
    return signed && bits >= range / 2 ? bits - range : bits;
  };
  const a = normalise(value);
  const limit = firstNumber(dataset, "00280121");
  const b = limit === undefined ? a : normalise(limit);
  return { low: Math.min(a, b), high: Math.max(a, b) };
}

// ---------------------------------------------------------------------------------------------------------------
// Locating Pixel Data

interface PixelDataValue {
  /** The buffer the value lies in: the file, or the inflated data set of a deflated one. */
  data: Buffer;
  valueOffset: number;
  length: number;
  /** VR as written (explicit VR syntaxes only). */
  vr: string | undefined;
}

function findPixelData(part10: Buffer, transferSyntaxUID: string): PixelDataValue {
  const datasetOffset = 144 + part10.readUInt32LE(140);
  let data = part10;
  let offset = datasetOffset;
  if (transferSyntaxUID === DEFLATED) {
    // PS3.5 §A.5: the data set after the File Meta Information is one raw deflate stream (RFC 1951).
    try {
      data = inflateRawSync(part10.subarray(datasetOffset), { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (error) {
      throw new PixelDecodeError("corrupt", `the deflated data set cannot be inflated: ${(error as Error).message}`);
    }
    offset = 0;
  }
  const encoding: Encoding = {
    explicitVR: transferSyntaxUID !== IMPLICIT_LITTLE_ENDIAN,
    littleEndian: transferSyntaxUID !== BIG_ENDIAN,
  };
  let location;
  try {
    location = locatePixelData(data, offset, encoding);
  } catch (error) {
    throw new PixelDecodeError("malformed", `data set structure is invalid: ${(error as Error).message}`);
  }
  if (!location.found) {
    throw location.complete
      ? new PixelDecodeError("no-pixel-data", "the instance has no Pixel Data (7FE0,0010)")
      : new PixelDecodeError("truncated", "the file ends before Pixel Data (7FE0,0010)");
  }
  const vr = encoding.explicitVR ? data.toString("latin1", location.valueOffset - 8, location.valueOffset - 6) : undefined;
  return { data, valueOffset: location.valueOffset, length: location.length, vr };
}

// ---------------------------------------------------------------------------------------------------------------
// Native (uncompressed) pixel data, PS3.5 §8.1

/** Raw sample values of the first frame (still holding any bits above High Bit). */
function nativeFirstFrame(pixelData: PixelDataValue, a: PixelAttributes, bigEndian: boolean): Uint16Array | Uint8Array {
  const { data, valueOffset, length } = pixelData;
  if (length === UNDEFINED_LENGTH) {
    throw new PixelDecodeError("malformed", "Pixel Data is encapsulated but the transfer syntax is a native (uncompressed) one");
  }
  if (valueOffset + length > data.length) {
    throw new PixelDecodeError("truncated", `Pixel Data is truncated: ${length} bytes declared, ${Math.max(0, data.length - valueOffset)} present`);
  }
  const count = a.rows * a.columns;
  const bytesPerSample = a.bitsAllocated / 8;
  const frameBytes = count * bytesPerSample;
  // Frames follow one another without padding (§8.1.1); the first one starts at the value's first byte.
  if (frameBytes > length) {
    throw new PixelDecodeError("truncated", `Pixel Data holds ${length} bytes, the first frame needs ${frameBytes}`);
  }
  const bytes = data.subarray(valueOffset, valueOffset + frameBytes);
  if (bytesPerSample === 1) {
    // 8-bit samples written as OW in big endian are byte-swapped in pairs (§8.1.1 / §7.3, Table 7.3-1).
    if (bigEndian && pixelData.vr === "OW") {
      const padded = data.subarray(valueOffset, valueOffset + frameBytes + (frameBytes & 1));
      const swapped = Buffer.from(padded).swap16();
      return new Uint8Array(swapped.buffer, swapped.byteOffset, frameBytes);
    }
    return new Uint8Array(bytes);
  }
  const samples = new Uint16Array(count);
  for (let i = 0; i < count; i++) samples[i] = bigEndian ? bytes.readUInt16BE(i * 2) : bytes.readUInt16LE(i * 2);
  return samples;
}

// ---------------------------------------------------------------------------------------------------------------
// Encapsulated pixel data, PS3.5 §A.4

const ITEM = 0xfffee000;
const SEQUENCE_DELIMITATION = 0xfffee0dd;

interface Fragment {
  /** Offset of the fragment's Item tag from the first fragment's Item tag (the Basic Offset Table's origin). */
  itemOffset: number;
  bytes: Buffer;
}

/** The compressed bitstream of the first frame: its fragments, joined. */
function firstFrameFragments(pixelData: PixelDataValue, a: PixelAttributes, codec: Codec): Buffer {
  const { data, valueOffset, length } = pixelData;
  if (length !== UNDEFINED_LENGTH) {
    throw new PixelDecodeError("malformed", "the transfer syntax is encapsulated but Pixel Data has a defined length (§A.4)");
  }
  // Items are always little endian in the encapsulated transfer syntaxes.
  const items: Buffer[] = [];
  const offsets: number[] = [];
  let offset = valueOffset;
  for (;;) {
    if (offset + 8 > data.length) {
      throw new PixelDecodeError("truncated", "encapsulated Pixel Data is truncated: no Sequence Delimitation Item");
    }
    const tag = ((data.readUInt16LE(offset) << 16) | data.readUInt16LE(offset + 2)) >>> 0;
    const itemLength = data.readUInt32LE(offset + 4);
    if (tag === SEQUENCE_DELIMITATION) break;
    if (tag !== ITEM || itemLength === UNDEFINED_LENGTH) {
      throw new PixelDecodeError("malformed", `encapsulated Pixel Data: expected an Item (FFFE,E000) at byte ${offset}`);
    }
    if (offset + 8 + itemLength > data.length) {
      throw new PixelDecodeError(
        "truncated",
        `encapsulated Pixel Data is truncated: item ${items.length} declares ${itemLength} bytes, ${data.length - offset - 8} present`,
      );
    }
    offsets.push(offset);
    items.push(data.subarray(offset + 8, offset + 8 + itemLength));
    offset += 8 + itemLength;
  }
  const [table, ...rest] = items;
  if (!table) throw new PixelDecodeError("malformed", "encapsulated Pixel Data has no Basic Offset Table item (§A.4)");
  const origin = offsets[1] ?? 0;
  const fragments: Fragment[] = rest.map((bytes, i) => ({ itemOffset: (offsets[i + 1] as number) - origin, bytes }));
  if (fragments.length === 0) throw new PixelDecodeError("no-pixel-data", "encapsulated Pixel Data has no fragments");
  return Buffer.concat(selectFirstFrame(fragments, basicOffsetTable(table), a.numberOfFrames, codec).map((f) => f.bytes));
}

function basicOffsetTable(item: Buffer): number[] {
  if (item.length % 4 !== 0) throw new PixelDecodeError("malformed", "the Basic Offset Table length is not a multiple of 4");
  const table: number[] = [];
  for (let i = 0; i < item.length; i += 4) table.push(item.readUInt32LE(i));
  return table;
}

/**
 * The fragments of frame 1 (§A.4): all of them for a single frame; for several frames, those before the second
 * Basic Offset Table entry; with an empty table, one fragment per frame when the counts match (always so for RLE,
 * Annex G.1), else the fragments up to the first that ends a JPEG-family codestream (EOI / EOC marker FFD9).
 */
function selectFirstFrame(fragments: Fragment[], table: number[], numberOfFrames: number, codec: Codec): Fragment[] {
  if (numberOfFrames <= 1) return fragments;
  const second = table[1];
  if (second !== undefined) {
    const selected = fragments.filter((f) => f.itemOffset < second);
    if (selected.length === 0) throw new PixelDecodeError("malformed", "the Basic Offset Table does not match the fragments");
    return selected;
  }
  if (fragments.length === numberOfFrames || codec === "rle") return fragments.slice(0, 1);
  const selected: Fragment[] = [];
  for (const fragment of fragments) {
    selected.push(fragment);
    if (endsWithEoi(fragment.bytes)) return selected;
  }
  throw new PixelDecodeError("corrupt", "no end of the first frame's codestream (FFD9) among the fragments");
}

/** True when a codestream ends with FFD9 (JPEG EOI, JPEG 2000 EOC), allowing the even-length padding byte. */
function endsWithEoi(bytes: Buffer): boolean {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

// ---------------------------------------------------------------------------------------------------------------
// RLE Lossless, PS3.5 Annex G

function decodeRle(frame: Buffer, a: PixelAttributes): Uint16Array | Uint8Array {
  // G.5: a 64-byte header of 16 little-endian uint32: the number of segments, then each segment's offset.
  if (frame.length < 64) throw new PixelDecodeError("corrupt", "RLE frame is shorter than its 64-byte header");
  const segments = frame.readUInt32LE(0);
  const bytesPerSample = a.bitsAllocated / 8;
  if (segments !== bytesPerSample) {
    throw new PixelDecodeError("corrupt", `RLE header names ${segments} segments, ${bytesPerSample} expected for one ${a.bitsAllocated}-bit sample`);
  }
  const count = a.rows * a.columns;
  const planes: Uint8Array[] = [];
  for (let s = 0; s < segments; s++) {
    const start = frame.readUInt32LE(4 + 4 * s);
    const end = s + 1 < segments ? frame.readUInt32LE(8 + 4 * s) : frame.length;
    if (start < 64 || end > frame.length || start > end) {
      throw new PixelDecodeError("corrupt", `RLE segment ${s + 1} offsets (${start}..${end}) lie outside the frame`);
    }
    planes.push(unpackBits(frame.subarray(start, end), count, s + 1));
  }
  if (bytesPerSample === 1) return planes[0] as Uint8Array;
  // G.2: the most significant byte of every sample forms the first segment.
  const [high, low] = planes as [Uint8Array, Uint8Array];
  const samples = new Uint16Array(count);
  for (let i = 0; i < count; i++) samples[i] = ((high[i] as number) << 8) | (low[i] as number);
  return samples;
}

/** G.3.2 PackBits: n 0..127 copies n+1 literal bytes, n -1..-127 repeats the next byte 1-n times, -128 is a no-op. */
function unpackBits(segment: Buffer, expected: number, index: number): Uint8Array {
  const out = new Uint8Array(expected);
  let written = 0;
  let i = 0;
  while (i < segment.length && written < expected) {
    const n = (segment[i++] as number) << 24 >> 24;
    if (n >= 0) {
      const run = n + 1;
      if (i + run > segment.length || written + run > expected) {
        throw new PixelDecodeError("corrupt", `RLE segment ${index}: a literal run goes past the end of the segment or frame`);
      }
      out.set(segment.subarray(i, i + run), written);
      i += run;
      written += run;
    } else if (n !== -128) {
      const run = 1 - n;
      if (i >= segment.length || written + run > expected) {
        throw new PixelDecodeError("corrupt", `RLE segment ${index}: a replicate run goes past the end of the segment or frame`);
      }
      out.fill(segment[i++] as number, written, written + run);
      written += run;
    }
  }
  if (written < expected) {
    throw new PixelDecodeError("corrupt", `RLE segment ${index} decodes to ${written} bytes, ${expected} expected (truncated frame)`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// WASM codecs

type CodecsModule = typeof dcmjsCodecs;

let codecsReady: Promise<CodecsModule> | undefined;
/** Messages the native codecs emit during the current (synchronous) decode, e.g. libjpeg's "Corrupt JPEG data". */
let codecMessages: string[] | undefined;

/**
 * dcmjs-codecs' WebAssembly, loaded once from node_modules (its Node path reads the .wasm beside its script). Its
 * informational messages are routed to `codecMessages` and nowhere else, so that warnings of damaged data are seen.
 */
function nativeCodecs(): Promise<CodecsModule> {
  codecsReady ??= (async () => {
    const { log, NativeCodecs } = dcmjsCodecs;
    log.methodFactory = () => (...args: unknown[]) => {
      codecMessages?.push(args.map(String).join(" "));
    };
    log.setLevel("info");
    await NativeCodecs.initializeAsync({ logCodecsInfo: true, logCodecsTrace: false });
    return dcmjsCodecs;
  })().catch((error: unknown) => {
    codecsReady = undefined;
    throw new PixelDecodeError("codec-unavailable", `the pixel codecs cannot be loaded: ${(error as Error).message}`);
  });
  return codecsReady;
}

/** A codec that failed may leave its WebAssembly state unsound (a JS exception unwound its stack): start afresh. */
function discardNativeCodecs(): void {
  codecsReady = undefined;
}

interface TurboJpegDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
interface TurboJpegModule {
  JPEGDecoder: new () => TurboJpegDecoder;
}

let turboJpegReady: Promise<TurboJpegModule> | undefined;

/** libjpeg-turbo (cornerstone build) for JPEG Baseline; its Node loader reads the .wasm beside its script. */
function turboJpeg(): Promise<TurboJpegModule> {
  turboJpegReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const factory = require("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs") as () => Promise<TurboJpegModule>;
    return factory();
  })().catch((error: unknown) => {
    turboJpegReady = undefined;
    throw new PixelDecodeError("codec-unavailable", `the JPEG Baseline codec cannot be loaded: ${(error as Error).message}`);
  });
  return turboJpegReady;
}

function describeThrown(error: unknown): string {
  // A C++ exception inside a codec built without exception support ends in a WebAssembly trap.
  if (error instanceof Error && error.name === "RuntimeError") return `the codec aborted on invalid data (${error.message})`;
  // Codec messages come as "Decoder::Function::text": keep the text.
  if (error instanceof Error) return error.message.replace(/^(\w+::)+/, "").trim();
  // Emscripten C++ exceptions arrive as a pointer (a number) without a message.
  return typeof error === "number" ? "the codec rejected the data" : String(error);
}

/** Messages of the IJG/libjpeg, OpenJPEG and CharLS decoders that mean the data was damaged even though decoding went on. */
const DAMAGE_MESSAGE = /corrupt|premature end|truncat|invalid|error|does not end|too short|inconsisten|stream too/i;

async function decodeCompressedFrame(codec: Codec, frame: Buffer, a: PixelAttributes, transferSyntaxUID: string): Promise<Uint16Array | Uint8Array> {
  if (codec === "rle") return decodeRle(frame, a);
  // Some codecs size their output from Rows and Columns rather than from the codestream: check the codestream's own.
  const size = codec === "jpeg2000" || codec === "htj2k" ? jpeg2000Size(frame) : jpegSize(frame);
  if (size) {
    if (size.components !== 1) {
      throw new PixelDecodeError("not-greyscale", `not a greyscale image: the ${codecName(transferSyntaxUID)} frame has ${size.components} components`);
    }
    if (size.height !== 0) checkSize(size.width, size.height, a);
  }
  const decoded = codec === "jpeg-baseline" ? await decodeJpegBaseline(frame, a) : await decodeWithNativeCodecs(codec, frame, a, transferSyntaxUID);
  return samplesOf(decoded, a);
}

async function decodeJpegBaseline(frame: Buffer, a: PixelAttributes): Promise<Uint8Array> {
  if (a.bitsStored > 8) {
    throw new PixelDecodeError("unsupported-pixel-format", `JPEG Baseline holds 8-bit samples, the header says Bits Stored ${a.bitsStored}`);
  }
  const lib = await turboJpeg();
  const decoder = new lib.JPEGDecoder();
  try {
    decoder.getEncodedBuffer(frame.length).set(frame);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.componentCount !== 1) {
      throw new PixelDecodeError("not-greyscale", `not a greyscale image: the JPEG frame has ${info.componentCount} components`);
    }
    checkSize(info.width, info.height, a);
    return Uint8Array.from(decoder.getDecodedBuffer());
  } catch (error) {
    if (error instanceof PixelDecodeError) throw error;
    turboJpegReady = undefined;
    throw new PixelDecodeError("corrupt", `JPEG Baseline frame cannot be decoded: ${describeThrown(error)}`);
  } finally {
    try {
      decoder.delete();
    } catch {
      turboJpegReady = undefined;
    }
  }
}

async function decodeWithNativeCodecs(codec: Codec, frame: Buffer, a: PixelAttributes, transferSyntaxUID: string): Promise<Uint8Array> {
  // A JPEG 2000 codestream ends with EOC (ISO/IEC 15444-1 A.4.4); OpenJPH decodes a cut one without complaint.
  if ((codec === "jpeg2000" || codec === "htj2k") && !endsWithEoi(frame)) {
    throw new PixelDecodeError("corrupt", `${codecName(transferSyntaxUID)} frame is truncated: the codestream does not end with EOC (FFD9)`);
  }
  const { Context, NativeCodecs } = await nativeCodecs();
  const context = new Context({
    width: a.columns,
    height: a.rows,
    bitsAllocated: a.bitsAllocated,
    bitsStored: a.bitsStored,
    samplesPerPixel: 1,
    pixelRepresentation: a.signed ? 1 : 0,
    planarConfiguration: 0,
    photometricInterpretation: a.photometricInterpretation,
    encodedBuffer: new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength),
  });
  const messages: string[] = [];
  codecMessages = messages;
  let result;
  try {
    if (codec === "jpeg") result = NativeCodecs.decodeJpeg(context, {});
    else if (codec === "jpeg-ls") result = NativeCodecs.decodeJpegLs(context, {});
    else if (codec === "jpeg2000") result = NativeCodecs.decodeJpeg2000(context, {});
    else result = NativeCodecs.decodeHtJpeg2000(context, {});
  } catch (error) {
    discardNativeCodecs();
    throw new PixelDecodeError("corrupt", `${codecName(transferSyntaxUID)} frame cannot be decoded: ${describeThrown(error)}`);
  } finally {
    codecMessages = undefined;
  }
  const damage = messages.find((m) => DAMAGE_MESSAGE.test(m));
  if (damage) {
    throw new PixelDecodeError("corrupt", `${codecName(transferSyntaxUID)} frame is damaged: ${damage.replace(/^.*::/, "").trim()}`);
  }
  const decoded = result.getDecodedBuffer();
  if (!decoded) throw new PixelDecodeError("corrupt", `${codecName(transferSyntaxUID)} frame decoded to nothing`);
  return decoded;
}

const CODEC_NAMES: Record<string, string> = {
  "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
  "1.2.840.10008.1.2.4.202": "HTJ2K RPCL Lossless",
  "1.2.840.10008.1.2.4.203": "HTJ2K",
};

function codecName(transferSyntaxUID: string): string {
  return `${CODEC_NAMES[transferSyntaxUID] ?? "compressed"} (${transferSyntaxUID})`;
}

function checkSize(width: number, height: number, a: PixelAttributes): void {
  if (width !== a.columns || height !== a.rows) {
    throw new PixelDecodeError("corrupt", `the compressed frame is ${width} × ${height}, the header says ${a.columns} × ${a.rows}`);
  }
}

interface CodestreamSize {
  width: number;
  height: number;
  components: number;
}

/** JPEG start-of-frame markers (ISO/IEC 10918-1 B.1.1.3): SOF0-3, 5-7, 9-11, 13-15; and JPEG-LS SOF55 (FFF7). */
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf, 0xf7]);

/** Width, height (0: defined later by DNL) and components from a JPEG or JPEG-LS frame header, when it can be found. */
function jpegSize(frame: Buffer): CodestreamSize | undefined {
  if (frame.length < 4 || frame[0] !== 0xff || frame[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= frame.length) {
    if (frame[i] !== 0xff) return undefined;
    const marker = frame[i + 1] as number;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    if (SOF_MARKERS.has(marker)) {
      if (i + 10 > frame.length) return undefined;
      return { height: frame.readUInt16BE(i + 5), width: frame.readUInt16BE(i + 7), components: frame[i + 9] as number };
    }
    i += 2 + frame.readUInt16BE(i + 2);
  }
  return undefined;
}

/** Width, height and components from the SIZ marker of a JPEG 2000 codestream (ISO/IEC 15444-1 A.5.1), raw or in JP2. */
function jpeg2000Size(frame: Buffer): CodestreamSize | undefined {
  const start = frame.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  if (start < 0 || start + 42 > frame.length) return undefined;
  // SOC, SIZ, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz, tile sizes and offsets, Csiz.
  const at = (offset: number) => frame.readUInt32BE(start + offset);
  return { width: at(8) - at(16), height: at(12) - at(20), components: frame.readUInt16BE(start + 40) };
}

/** Decoded bytes as samples: 1 byte each (8-bit codestreams) or 2 little-endian bytes each; any other size means the
 * codestream's dimensions differ from Rows × Columns. */
function samplesOf(decoded: Uint8Array, a: PixelAttributes): Uint16Array | Uint8Array {
  const count = a.rows * a.columns;
  if (decoded.length === count * 2) {
    const samples = new Uint16Array(count);
    const view = new DataView(decoded.buffer, decoded.byteOffset, count * 2);
    for (let i = 0; i < count; i++) samples[i] = view.getUint16(i * 2, true);
    return samples;
  }
  if (decoded.length === count) return decoded.slice();
  throw new PixelDecodeError(
    "corrupt",
    `the frame decoded to ${decoded.length} bytes, which does not fit Rows × Columns = ${a.rows} × ${a.columns} samples of 1 or 2 bytes`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Stored values → modality values

/** PS3.5 §8.1.1: the Bits Stored bits ending at High Bit (`shift` = High Bit + 1 - Bits Stored), in two's complement
 * when Pixel Representation is 1; then the Modality LUT and pixel padding. */
function toDecodedImage(samples: Uint16Array | Uint8Array, a: PixelAttributes, shift: number): DecodedImage {
  const count = a.rows * a.columns;
  const pixels = new Float32Array(count);
  const mask = 2 ** a.bitsStored - 1;
  const signBit = 2 ** (a.bitsStored - 1);
  const range = 2 ** a.bitsStored;
  const { rescaleSlope: slope, rescaleIntercept: intercept, padding } = a;
  if (!a.signed && !padding) {
    // The common case (unsigned, no padding) in one tight loop: about ten times faster than the general one.
    for (let i = 0; i < count; i++) pixels[i] = (((samples[i] as number) >>> shift) & mask) * slope + intercept;
    return decodedImage(pixels, a);
  }
  const padded = padding ? new Uint8Array(count) : undefined;
  let minimum = Infinity;
  for (let i = 0; i < count; i++) {
    let value = ((samples[i] as number) >>> shift) & mask;
    if (a.signed && value >= signBit) value -= range;
    if (padded && padding && value >= padding.low && value <= padding.high) {
      padded[i] = 1;
      continue;
    }
    // PS3.3 §C.11.1.1.2: output = stored value × Rescale Slope + Rescale Intercept.
    const modality = value * slope + intercept;
    pixels[i] = modality;
    if (modality < minimum) minimum = modality;
  }
  // Padding (PS3.3 §C.7.5.1.1.2) takes the lowest real value, so it neither skews windowing nor reads as anatomy.
  if (padded) {
    const fill = Number.isFinite(minimum) ? minimum : intercept;
    for (let i = 0; i < count; i++) if (padded[i]) pixels[i] = fill;
  }
  return decodedImage(pixels, a);
}

function decodedImage(pixels: Float32Array, a: PixelAttributes): DecodedImage {
  const image: DecodedImage = { rows: a.rows, columns: a.columns, pixels, photometricInterpretation: a.photometricInterpretation };
  if (a.window) image.window = { ...a.window };
  return image;
}
