export const CR_IMAGE_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.1";
export const DX_FOR_PRESENTATION_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.1.1";

// Storage SOP Classes (PS3.4 Annex B.5) whose instances are images: they must carry the Image Pixel Module.
const IMAGE_STORAGE_SOP_CLASSES: ReadonlyMap<string, string> = new Map([
  [CR_IMAGE_SOP_CLASS_UID, "Computed Radiography Image Storage"],
  [DX_FOR_PRESENTATION_SOP_CLASS_UID, "Digital X-Ray Image Storage - For Presentation"],
  ["1.2.840.10008.5.1.4.1.1.1.1.1", "Digital X-Ray Image Storage - For Processing"],
  ["1.2.840.10008.5.1.4.1.1.1.2", "Digital Mammography X-Ray Image Storage - For Presentation"],
  ["1.2.840.10008.5.1.4.1.1.1.2.1", "Digital Mammography X-Ray Image Storage - For Processing"],
  ["1.2.840.10008.5.1.4.1.1.1.3", "Digital Intra-Oral X-Ray Image Storage - For Presentation"],
  ["1.2.840.10008.5.1.4.1.1.1.3.1", "Digital Intra-Oral X-Ray Image Storage - For Processing"],
  ["1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7.1", "Multi-frame Single Bit Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7.2", "Multi-frame Grayscale Byte Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7.3", "Multi-frame Grayscale Word Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7.4", "Multi-frame True Color Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.12.1", "X-Ray Angiographic Image Storage"],
]);

export function isImageStorageSOPClass(uid: string): boolean {
  return IMAGE_STORAGE_SOP_CLASSES.has(uid);
}

/** Attributes of the Image Pixel Module (PS3.3 C.7.6.3) that are Type 1. */
export const IMAGE_PIXEL_TYPE1 = {
  SamplesPerPixel: "00280002",
  PhotometricInterpretation: "00280004",
  Rows: "00280010",
  Columns: "00280011",
  BitsAllocated: "00280100",
  BitsStored: "00280101",
  HighBit: "00280102",
  PixelRepresentation: "00280103",
} as const;
