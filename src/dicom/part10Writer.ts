// Writes DICOM Part 10 files (PS3.10 §7.1: 128-byte preamble, "DICM", File Meta Information group, data set)
// from a naturalized data set, through dcmjs.
import dcmjs from "dcmjs";

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

/** Our implementation class (PS3.7 §D.3.3.2), a 2.25 UID fixed for the product. */
export const IMPLEMENTATION_CLASS_UID = "2.25.199326841350373052413424860536296574121";
export const IMPLEMENTATION_VERSION_NAME = "TRRG_GATEWAY_1";

export interface Part10Options {
  transferSyntaxUID: string;
  /** File meta overrides, e.g. a deliberately wrong MediaStorageSOPClassUID in a test fixture. */
  meta?: Record<string, unknown>;
  implementationClassUID?: string;
  implementationVersionName?: string;
}

/**
 * `dataset` is in dcmjs naturalized form (keywords as keys); binary values that dcmjs cannot infer the VR of
 * (PixelData) need an explicit `_vrMap` entry.
 */
export function writePart10(dataset: Record<string, unknown>, options: Part10Options): Buffer {
  const meta = DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: options.transferSyntaxUID,
    ImplementationClassUID: options.implementationClassUID ?? IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: options.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME,
    ...options.meta,
    _vrMap: { FileMetaInformationVersion: "OB" },
  });
  const dict = new DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}
