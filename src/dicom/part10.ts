// Reads and checks the header of a DICOM Part 10 file (PS3.10 §7.1): 128-byte preamble, "DICM", File Meta
// Information group (0002) with its group length, then the data set up to Pixel Data. Pixel data is never read,
// so the cost does not grow with the image.
import { open } from "node:fs/promises";
import dcmjs from "dcmjs";
import { toDicomJson, stringValue, type DicomJsonDataset } from "./dicomJson.js";
import { locatePixelData, pixelDataFits, UNDEFINED_LENGTH, type Encoding, type PixelDataLocation } from "./pixelDataExtent.js";
import { DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, findTransferSyntax } from "./transferSyntax.js";

export type Part10Problem = "malformed" | "unsupported-transfer-syntax" | "header-too-large";

export class Part10Error extends Error {
  constructor(
    readonly problem: Part10Problem,
    message: string,
  ) {
    super(message);
    this.name = "Part10Error";
  }
}

export interface FileMetaInformation {
  mediaStorageSOPClassUID: string | undefined;
  mediaStorageSOPInstanceUID: string | undefined;
  transferSyntaxUID: string;
}

export interface InstanceHeader {
  meta: FileMetaInformation;
  /** The data set without Pixel Data and large binary values, as DICOM JSON. */
  dataset: DicomJsonDataset;
  hasPixelData: boolean;
}

// dcmjs writes parse warnings straight to the console, where element values (patient data) could appear:
// our own logs say what went wrong instead.
dcmjs.log.setLevel("silent");

const PREAMBLE_LENGTH = 128;
/** The first read, and the bytes of each part STOW-RS keeps in memory to parse without rereading. */
export const FIRST_READ_BYTES = 64 * 1024;
/** Headers beyond this size (before Pixel Data) are refused rather than parsed. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
const PIXEL_DATA = "7FE00010";

function encodingOf(transferSyntaxUID: string): Encoding {
  if (transferSyntaxUID === "1.2.840.10008.1.2") return { explicitVR: false, littleEndian: true };
  if (transferSyntaxUID === "1.2.840.10008.1.2.2") return { explicitVR: true, littleEndian: false };
  return { explicitVR: true, littleEndian: true };
}

/**
 * Where the Pixel Data value lies, or "absent" when the instance has none or is deflated (its structure is only
 * known after inflating, which dcmjs does).
 */
function pixelDataLocation(prefix: Buffer, header: InstanceHeader): PixelDataLocation | "absent" {
  const { transferSyntaxUID } = header.meta;
  if (!header.hasPixelData || transferSyntaxUID === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN) return "absent";
  try {
    return locatePixelData(prefix, datasetOffset(prefix), encodingOf(transferSyntaxUID));
  } catch (error) {
    throw new Part10Error("malformed", `data set structure is invalid: ${(error as Error).message}`);
  }
}

const truncated = () => new Part10Error("malformed", "Pixel Data extends past the end of the file (truncated instance)");

/**
 * Reads the header from the first bytes of a file already in memory, without touching the file. Returns
 * undefined when those bytes are not enough to decide (a long header, or encapsulated pixel data whose
 * fragments must be walked in the file): then use readInstanceHeader.
 */
export function readInstanceHeaderFromPrefix(prefix: Buffer, fileSize: number): InstanceHeader | undefined {
  const header = parseHeader(prefix, prefix.length === fileSize);
  if (!header) return undefined;
  const location = pixelDataLocation(prefix, header);
  if (location === "absent") return header;
  if (!location.found) throw truncated();
  if (location.length === UNDEFINED_LENGTH) return undefined;
  if (location.valueOffset + location.length > fileSize) throw truncated();
  return header;
}

/** Offset of the first data set element: after the preamble, "DICM" and the File Meta Information group. */
function datasetOffset(prefix: Buffer): number {
  return 144 + prefix.readUInt32LE(140);
}

/** Reads the header of a file, as much of it as needed, and checks that its Pixel Data ends within the file. */
export async function readInstanceHeader(filePath: string, fileSize: number): Promise<InstanceHeader> {
  const handle = await open(filePath, "r");
  try {
    let length = Math.min(fileSize, FIRST_READ_BYTES);
    for (;;) {
      const prefix = Buffer.alloc(length);
      await handle.read(prefix, 0, length, 0);
      const header = parseHeader(prefix, length === fileSize);
      if (header) {
        const location = pixelDataLocation(prefix, header);
        if (location === "absent") return header;
        const encoding = encodingOf(header.meta.transferSyntaxUID);
        if (!location.found || !(await pixelDataFits(handle, fileSize, location, encoding))) throw truncated();
        return header;
      }
      if (length >= MAX_HEADER_BYTES) {
        throw new Part10Error("header-too-large", `data set header exceeds ${MAX_HEADER_BYTES} bytes`);
      }
      length = Math.min(fileSize, length * 4, MAX_HEADER_BYTES);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Parses a file prefix. Returns undefined when the prefix ends before Pixel Data and more of the file exists,
 * so the caller reads further.
 */
export function parseHeader(prefix: Buffer, complete: boolean): InstanceHeader | undefined {
  checkPart10Signature(prefix);
  const transferSyntaxUID = readTransferSyntaxUID(prefix);
  if (!findTransferSyntax(transferSyntaxUID)) {
    throw new Part10Error("unsupported-transfer-syntax", `transfer syntax ${transferSyntaxUID} is not supported`);
  }
  // A deflated data set is one zlib stream: it can only be inflated from the whole file.
  if (transferSyntaxUID === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN && !complete) return undefined;
  const bytes = prefix.buffer.slice(prefix.byteOffset, prefix.byteOffset + prefix.byteLength) as ArrayBuffer;
  let parsed;
  try {
    parsed = readWithDcmjs(bytes);
  } catch (error) {
    if (!complete) return undefined;
    throw new Part10Error("malformed", `data set cannot be parsed: ${(error as Error).message}`);
  }
  const hasPixelData = PIXEL_DATA in parsed.dict;
  if (!hasPixelData && !complete) return undefined;
  const meta = toDicomJson(parsed.meta);
  return {
    meta: {
      mediaStorageSOPClassUID: stringValue(meta, "00020002"),
      mediaStorageSOPInstanceUID: stringValue(meta, "00020003"),
      transferSyntaxUID,
    },
    dataset: toDicomJson(parsed.dict),
    hasPixelData,
  };
}

function readWithDcmjs(bytes: ArrayBuffer) {
  const options = { untilTag: PIXEL_DATA, includeUntilTagValue: false };
  try {
    return dcmjs.data.DicomMessage.readFile(bytes, options);
  } catch (error) {
    // dcmjs refuses character sets it cannot decode (e.g. ISO 2022 code extensions); the structure is still
    // sound, so read it again tolerating that one problem rather than refusing the instance.
    if (!/character set/i.test((error as Error).message)) throw error;
    return dcmjs.data.DicomMessage.readFile(bytes, { ...options, ignoreErrors: true });
  }
}

function checkPart10Signature(prefix: Buffer): void {
  if (prefix.length < PREAMBLE_LENGTH + 4 + 12) {
    throw new Part10Error("malformed", "too short to be a DICOM Part 10 file");
  }
  if (prefix.toString("latin1", PREAMBLE_LENGTH, PREAMBLE_LENGTH + 4) !== "DICM") {
    throw new Part10Error("malformed", 'no "DICM" prefix after the 128-byte preamble');
  }
  // The first element must be File Meta Information Group Length (0002,0000) UL, explicit VR little endian.
  const group = prefix.readUInt16LE(132);
  const element = prefix.readUInt16LE(134);
  if (group !== 0x0002 || element !== 0x0000 || prefix.toString("latin1", 136, 138) !== "UL") {
    throw new Part10Error("malformed", "File Meta Information Group Length (0002,0000) missing");
  }
}

/** Walks the explicit-VR little-endian file meta group to its Transfer Syntax UID (0002,0010). */
function readTransferSyntaxUID(prefix: Buffer): string {
  const end = datasetOffset(prefix);
  if (end > prefix.length) throw new Part10Error("malformed", "File Meta Information group is truncated");
  let offset = 144;
  while (offset + 8 <= end) {
    const group = prefix.readUInt16LE(offset);
    const element = prefix.readUInt16LE(offset + 2);
    const vr = prefix.toString("latin1", offset + 4, offset + 6);
    const longForm = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"].includes(vr);
    const valueLength = longForm ? prefix.readUInt32LE(offset + 8) : prefix.readUInt16LE(offset + 6);
    const valueOffset = offset + (longForm ? 12 : 8);
    if (group !== 0x0002 || valueOffset + valueLength > end) break;
    if (element === 0x0010) {
      const uid = prefix.toString("latin1", valueOffset, valueOffset + valueLength).replace(/[\0 ]+$/, "");
      if (!uid) break;
      return uid;
    }
    offset = valueOffset + valueLength;
  }
  throw new Part10Error("malformed", "Transfer Syntax UID (0002,0010) missing from the File Meta Information");
}
