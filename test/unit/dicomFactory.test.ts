import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import {
  CR_SOP_CLASS,
  DX_FOR_PRESENTATION_SOP_CLASS,
  makeInstance,
  makeMultipartRelated,
  newUid,
} from '../fixtures/dicomFactory.js';

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

function parse(file: Buffer): { meta: Record<string, unknown>; ds: Record<string, unknown> } {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const dict = DicomMessage.readFile(ab);
  return {
    meta: DicomMetaDictionary.naturalizeDataset(dict.meta),
    ds: DicomMetaDictionary.naturalizeDataset(dict.dict),
  };
}

/** Offset of the first data set element (after preamble, DICM and the file meta group). */
function datasetOffset(file: Buffer): number {
  expect(file.readUInt32LE(132)).toBe(0x00000002); // (0002,0000)
  return 132 + 12 + file.readUInt32LE(140);
}

describe('newUid', () => {
  it('is a fresh 2.25 UID of at most 64 chars', () => {
    const a = newUid();
    expect(a).toMatch(/^2\.25\.(0|[1-9]\d*)$/);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(newUid()).not.toBe(a);
  });
});

describe('makeInstance', () => {
  it('writes a Part 10 file with defaults (DX, 16-bit, MONOCHROME2, explicit LE)', () => {
    const file = makeInstance();
    expect(file.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(file.toString('latin1', 128, 132)).toBe('DICM');
    const { meta, ds } = parse(file);
    expect(meta.TransferSyntaxUID).toBe('1.2.840.10008.1.2.1');
    expect(meta.MediaStorageSOPClassUID).toBe(DX_FOR_PRESENTATION_SOP_CLASS);
    expect(meta.MediaStorageSOPInstanceUID).toBe(ds.SOPInstanceUID);
    expect(meta.ImplementationClassUID).toMatch(/^2\.25\./);
    expect(ds).toMatchObject({
      SOPClassUID: DX_FOR_PRESENTATION_SOP_CLASS,
      Modality: 'DX',
      Rows: 64,
      Columns: 64,
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      BodyPartExamined: 'CHEST',
      ViewPosition: 'PA',
    });
    expect((ds.PixelData as [ArrayBuffer])[0].byteLength).toBe(64 * 64 * 2);
  });

  it.each([
    { bitsAllocated: 8, photometricInterpretation: 'MONOCHROME1', transferSyntaxUID: '1.2.840.10008.1.2', modality: 'CR' },
    { bitsAllocated: 8, photometricInterpretation: 'MONOCHROME2', transferSyntaxUID: '1.2.840.10008.1.2.1', modality: 'DX' },
    { bitsAllocated: 16, photometricInterpretation: 'MONOCHROME1', transferSyntaxUID: '1.2.840.10008.1.2.1', modality: 'CR' },
    { bitsAllocated: 16, photometricInterpretation: 'MONOCHROME2', transferSyntaxUID: '1.2.840.10008.1.2', modality: 'DX' },
  ] as const)('honours $bitsAllocated-bit $photometricInterpretation $modality $transferSyntaxUID', (opts) => {
    const file = makeInstance({ ...opts, rows: 10, columns: 12 });
    const { meta, ds } = parse(file);
    expect(meta.TransferSyntaxUID).toBe(opts.transferSyntaxUID);
    expect(ds.BitsAllocated).toBe(opts.bitsAllocated);
    expect(ds.BitsStored).toBe(opts.bitsAllocated === 8 ? 8 : 12);
    expect(ds.PhotometricInterpretation).toBe(opts.photometricInterpretation);
    expect(ds.SOPClassUID).toBe(opts.modality === 'CR' ? CR_SOP_CLASS : DX_FOR_PRESENTATION_SOP_CLASS);
    expect((ds.PixelData as [ArrayBuffer])[0].byteLength).toBe(10 * 12 * (opts.bitsAllocated / 8));
    // First data set element is (0008,0005) CS: explicit VR puts "CS" after the tag, implicit a 32-bit length.
    const at = datasetOffset(file);
    expect(file.readUInt32LE(at)).toBe(0x00050008);
    if (opts.transferSyntaxUID === '1.2.840.10008.1.2') expect(file.readUInt32LE(at + 4)).toBe(10);
    else expect(file.toString('latin1', at + 4, at + 6)).toBe('CS');
  });

  it('is deterministic for fixed UIDs and seed, and pixels depend on the seed', () => {
    const uids = { studyInstanceUID: '1.2.3', seriesInstanceUID: '1.2.3.4', sopInstanceUID: '1.2.3.4.5' };
    expect(makeInstance({ ...uids, seed: 7 }).equals(makeInstance({ ...uids, seed: 7 }))).toBe(true);
    expect(makeInstance({ ...uids, seed: 7 }).equals(makeInstance({ ...uids, seed: 8 }))).toBe(false);
  });

  it('can write a meta/dataset SOP class mismatch', () => {
    const { meta, ds } = parse(makeInstance({ mediaStorageSOPClassUID: CR_SOP_CLASS }));
    expect(meta.MediaStorageSOPClassUID).toBe(CR_SOP_CLASS);
    expect(ds.SOPClassUID).toBe(DX_FOR_PRESENTATION_SOP_CLASS);
  });
});

describe('makeMultipartRelated', () => {
  it('builds the exact RFC 2387 body', () => {
    const { body, contentType } = makeMultipartRelated(
      [Buffer.from('AB'), { body: Buffer.from('xyz'), headers: { 'Content-ID': '<p2>' } }],
      { boundary: 'b1', partContentLength: true },
    );
    expect(contentType).toBe('multipart/related; type="application/dicom"; boundary=b1');
    expect(body.toString('latin1')).toBe(
      '--b1\r\nContent-Type: application/dicom\r\nContent-Length: 2\r\n\r\nAB\r\n' +
        '--b1\r\nContent-Type: application/dicom\r\nContent-Length: 3\r\nContent-ID: <p2>\r\n\r\nxyz\r\n' +
        '--b1--\r\n',
    );
  });

  it('lets the part content type be overridden globally and per part', () => {
    const { body } = makeMultipartRelated(
      [Buffer.from('A'), { body: Buffer.from('B'), headers: { 'content-type': 'application/octet-stream' } }],
      { boundary: 'xx', partContentType: 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1' },
    );
    expect(body.toString('latin1')).toBe(
      '--xx\r\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\nA\r\n' +
        '--xx\r\ncontent-type: application/octet-stream\r\n\r\nB\r\n' +
        '--xx--\r\n',
    );
  });

  it('generates a boundary when none is given', () => {
    const { body, contentType } = makeMultipartRelated([Buffer.from('A')]);
    const boundary = /boundary=(\S+)$/.exec(contentType)?.[1];
    expect(boundary).toBeDefined();
    expect(body.toString('latin1').startsWith(`--${boundary}\r\n`)).toBe(true);
    expect(body.toString('latin1').endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
  });
});
