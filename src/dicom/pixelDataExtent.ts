// Finds where the top-level Pixel Data element lies in a Part 10 file and checks that its value fits in the
// file, so a truncated upload is refused even though its header parses. Walks the element structure of
// PS3.5 §7 (explicit and implicit VR, defined and undefined lengths, nested items) without decoding values.
import type { FileHandle } from "node:fs/promises";

export const UNDEFINED_LENGTH = 0xffffffff;
const LONG_FORM_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"]);
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

export interface Encoding {
  explicitVR: boolean;
  littleEndian: boolean;
}

interface ElementHeader {
  tag: number;
  vr: string | undefined;
  length: number;
  valueOffset: number;
}

class EndOfBuffer extends Error {}

function readHeader(buffer: Buffer, offset: number, encoding: Encoding): ElementHeader {
  if (offset + 8 > buffer.length) throw new EndOfBuffer();
  const u16 = (at: number) => (encoding.littleEndian ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at));
  const u32 = (at: number) => (encoding.littleEndian ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at));
  const tag = ((u16(offset) << 16) | u16(offset + 2)) >>> 0;
  // Item and delimitation tags have no VR in any transfer syntax.
  if (!encoding.explicitVR || tag >>> 16 === 0xfffe) {
    return { tag, vr: undefined, length: u32(offset + 4), valueOffset: offset + 8 };
  }
  const vr = buffer.toString("latin1", offset + 4, offset + 6);
  if (LONG_FORM_VRS.has(vr)) {
    if (offset + 12 > buffer.length) throw new EndOfBuffer();
    return { tag, vr, length: u32(offset + 8), valueOffset: offset + 12 };
  }
  return { tag, vr, length: u16(offset + 6), valueOffset: offset + 8 };
}

/** Skips an undefined-length value (a sequence of items) and returns the offset after its delimiter. */
function skipUndefinedLength(buffer: Buffer, offset: number, encoding: Encoding): number {
  for (;;) {
    const item = readHeader(buffer, offset, encoding);
    if (item.tag === SEQUENCE_DELIMITATION) return item.valueOffset;
    if (item.tag !== ITEM) throw new Error("malformed sequence: expected an item");
    offset = item.length === UNDEFINED_LENGTH ? skipItemElements(buffer, item.valueOffset, encoding) : item.valueOffset + item.length;
  }
}

function skipItemElements(buffer: Buffer, offset: number, encoding: Encoding): number {
  for (;;) {
    const element = readHeader(buffer, offset, encoding);
    if (element.tag === ITEM_DELIMITATION) return element.valueOffset;
    offset = skipValue(buffer, element, encoding);
  }
}

function skipValue(buffer: Buffer, element: ElementHeader, encoding: Encoding): number {
  if (element.length !== UNDEFINED_LENGTH) return element.valueOffset + element.length;
  // UN of undefined length holds implicit little endian content (PS3.5 §6.2.2).
  const inner = element.vr === "UN" ? { explicitVR: false, littleEndian: true } : encoding;
  return skipUndefinedLength(buffer, element.valueOffset, inner);
}

export type PixelDataLocation =
  | { found: true; valueOffset: number; length: number }
  | { found: false; complete: boolean };

/**
 * Walks the top-level data set in `prefix` from `datasetOffset`. Returns the Pixel Data value position, or
 * { found: false, complete: false } when the prefix ends first.
 */
export function locatePixelData(prefix: Buffer, datasetOffset: number, encoding: Encoding): PixelDataLocation {
  let offset = datasetOffset;
  try {
    while (offset < prefix.length) {
      const element = readHeader(prefix, offset, encoding);
      if (element.tag === PIXEL_DATA) return { found: true, valueOffset: element.valueOffset, length: element.length };
      if (element.tag > PIXEL_DATA) return { found: false, complete: true };
      offset = skipValue(prefix, element, encoding);
    }
    return { found: false, complete: offset === prefix.length };
  } catch (error) {
    if (error instanceof EndOfBuffer) return { found: false, complete: false };
    throw error;
  }
}

/** True when the Pixel Data value (native, or encapsulated fragments up to the delimiter) ends within the file. */
export async function pixelDataFits(
  handle: FileHandle,
  fileSize: number,
  location: { valueOffset: number; length: number },
  encoding: Encoding,
): Promise<boolean> {
  if (location.length !== UNDEFINED_LENGTH) return location.valueOffset + location.length <= fileSize;
  // Encapsulated: Basic Offset Table item, fragment items, then a Sequence Delimitation Item (PS3.5 §A.4).
  const header = Buffer.alloc(8);
  let offset = location.valueOffset;
  for (;;) {
    if (offset + 8 > fileSize) return false;
    await handle.read(header, 0, 8, offset);
    const item = readHeader(header, 0, { explicitVR: false, littleEndian: encoding.littleEndian });
    if (item.tag === SEQUENCE_DELIMITATION) return true;
    if (item.tag !== ITEM || item.length === UNDEFINED_LENGTH) return false;
    offset += 8 + item.length;
  }
}
