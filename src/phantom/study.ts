// A phantom study as a PACS would send it: DICOM Part 10 files (DX or CR, frontal and optionally lateral) with the
// attributes of a real chest X-ray acquisition, plus its ground truth and reference report.
import { DX_FOR_PRESENTATION_SOP_CLASS_UID, CR_IMAGE_SOP_CLASS_UID } from "../dicom/sopClass.js";
import { writePart10 } from "../dicom/part10Writer.js";
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../dicom/transferSyntax.js";
import { uidFromName } from "../dicom/uid.js";
import type { PhantomCase } from "./groundTruth.js";
import { sampleCase } from "./groundTruth.js";
import { Random } from "./random.js";
import { renderFrontal, renderLateral, type RenderedImage, type RenderOptions } from "./render.js";
import { writeReport, type ReferenceReport } from "./reportGrammar.js";

export interface PhantomImage {
  view: "frontal" | "lateral";
  sopInstanceUID: string;
  seriesInstanceUID: string;
  /** The rendered image before it was written, MONOCHROME2 stored values. */
  image: RenderedImage;
  photometricInterpretation: "MONOCHROME1" | "MONOCHROME2";
  part10: Buffer;
}

export interface PhantomStudy {
  case: PhantomCase;
  report: ReferenceReport;
  studyInstanceUID: string;
  patientID: string;
  accessionNumber: string;
  images: PhantomImage[];
}

/** Matrix and pixel spacing of every image of a study; Bits Stored is the case's own unless given. */
export type StudyRenderOptions = Omit<RenderOptions, "bitsStored"> & { bitsStored?: RenderOptions["bitsStored"] };

export const DEFAULT_RENDER: StudyRenderOptions = { rows: 1024, columns: 1024, pixelSpacingMm: 0.35 };

const FAMILY_NAMES = ["Phantom", "Testcase", "Synthetic", "Model", "Sample", "Example"] as const;
const GIVEN_NAMES = ["Alex", "Sam", "Robin", "Kim", "Jo", "Lee", "Pat", "Chris", "Dana", "Terry"] as const;

/** The identifiers of a phantom: derived from the seed, so the same seed gives the same study every time. */
function identifiers(seed: number) {
  const padded = String(seed).padStart(8, "0");
  return {
    studyInstanceUID: uidFromName(`trrg-phantom/${seed}/study`),
    patientID: `PH${padded}`,
    accessionNumber: `PHA${padded}`,
  };
}

function studyDateTime(rng: Random): { date: string; time: string } {
  const day = new Date(Date.UTC(2024, 0, 1) + rng.int(0, 2 * 365) * 86_400_000);
  const date = day.toISOString().slice(0, 10).replaceAll("-", "");
  const time = `${String(rng.int(0, 23)).padStart(2, "0")}${String(rng.int(0, 59)).padStart(2, "0")}${String(rng.int(0, 59)).padStart(2, "0")}`;
  return { date, time };
}

function birthDate(studyDate: string, ageYears: number, rng: Random): string {
  const year = Number(studyDate.slice(0, 4)) - ageYears - (rng.chance(0.5) ? 1 : 0);
  return `${year}${String(rng.int(1, 12)).padStart(2, "0")}${String(rng.int(1, 28)).padStart(2, "0")}`;
}

/** Stored values of a MONOCHROME2 image rewritten as MONOCHROME1 (PS3.3 §C.7.6.3.1.2: minimum is white). */
function invertForMonochrome1(image: RenderedImage): { pixels: Uint16Array; windowCenter: number } {
  const max = 2 ** image.bitsStored - 1;
  const pixels = new Uint16Array(image.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = max - (image.pixels[i] as number);
  return { pixels, windowCenter: max - image.windowCenter };
}

/** The case and its reference report for a seed, without images. */
export function describePhantom(seed: number): { case: PhantomCase; report: ReferenceReport } {
  const c = sampleCase(seed);
  return { case: c, report: writeReport(c, new Random(seed).fork("report")) };
}

/** Builds the whole study; `render` sets the matrix and pixel spacing of every image. */
export function makePhantomStudy(seed: number, options: StudyRenderOptions = DEFAULT_RENDER): PhantomStudy {
  const { case: c, report } = describePhantom(seed);
  const render: RenderOptions = { ...options, bitsStored: options.bitsStored ?? c.acquisition.bitsStored };
  const rng = new Random(seed).fork("study");
  const ids = identifiers(seed);
  const { date, time } = studyDateTime(rng);
  const { subject, acquisition } = c;
  const monochrome1 = acquisition.modality === "CR" && rng.chance(0.3);
  const common: Record<string, unknown> = {
    SpecificCharacterSet: "ISO_IR 192",
    StudyDate: date,
    StudyTime: time,
    SeriesDate: date,
    ContentDate: date,
    AcquisitionDate: date,
    AccessionNumber: ids.accessionNumber,
    Modality: acquisition.modality,
    Manufacturer: "TRRG Phantom",
    ManufacturerModelName: "trrg-gateway phantom generator",
    SoftwareVersions: "1",
    InstitutionName: "Phantom General Hospital",
    StationName: acquisition.viewPosition === "AP" ? "PORTABLE1" : "XRROOM2",
    ReferringPhysicianName: "Referrer^Phantom",
    StudyDescription: acquisition.viewPosition === "AP" ? "XR CHEST 1 VIEW PORTABLE" : acquisition.withLateral ? "XR CHEST PA AND LATERAL" : "XR CHEST PA",
    PatientName: `${rng.pick(FAMILY_NAMES)}^${rng.pick(GIVEN_NAMES)}`,
    PatientID: ids.patientID,
    IssuerOfPatientID: "TRRG-PHANTOM",
    PatientBirthDate: birthDate(date, subject.ageYears, rng),
    PatientSex: subject.sex,
    PatientAge: `${String(subject.ageYears).padStart(3, "0")}Y`,
    BodyPartExamined: "CHEST",
    StudyInstanceUID: ids.studyInstanceUID,
    StudyID: String(seed % 100000),
    KVP: acquisition.viewPosition === "AP" ? 90 : 120,
    DistanceSourceToDetector: acquisition.viewPosition === "AP" ? 1000 : 1800,
    BurnedInAnnotation: "NO",
    LossyImageCompression: "00",
  };
  const views: ("frontal" | "lateral")[] = acquisition.withLateral ? ["frontal", "lateral"] : ["frontal"];
  const images = views.map((view, index): PhantomImage => {
    const image = view === "frontal" ? renderFrontal(c, render) : renderLateral(c, render);
    const sopInstanceUID = uidFromName(`trrg-phantom/${seed}/${view}/instance`);
    const seriesInstanceUID = uidFromName(`trrg-phantom/${seed}/${view}/series`);
    const stored = monochrome1 ? invertForMonochrome1(image) : { pixels: image.pixels, windowCenter: image.windowCenter };
    const viewPosition = view === "lateral" ? "LL" : acquisition.viewPosition;
    const dataset: Record<string, unknown> = {
      ...common,
      ImageType: ["ORIGINAL", "PRIMARY"],
      SOPClassUID: acquisition.modality === "DX" ? DX_FOR_PRESENTATION_SOP_CLASS_UID : CR_IMAGE_SOP_CLASS_UID,
      SOPInstanceUID: sopInstanceUID,
      SeriesInstanceUID: seriesInstanceUID,
      SeriesNumber: index + 1,
      InstanceNumber: 1,
      SeriesTime: time,
      ContentTime: time,
      SeriesDescription: `CHEST ${viewPosition}`,
      ViewPosition: viewPosition,
      // Columns run toward the patient's left (frontal) or posterior (left lateral); rows toward the feet.
      PatientOrientation: view === "frontal" ? ["L", "F"] : ["P", "F"],
      ImageLaterality: "U",
      SamplesPerPixel: 1,
      PhotometricInterpretation: monochrome1 ? "MONOCHROME1" : "MONOCHROME2",
      Rows: image.rows,
      Columns: image.columns,
      PixelSpacing: [image.pixelSpacingMm, image.pixelSpacingMm],
      ImagerPixelSpacing: [image.pixelSpacingMm, image.pixelSpacingMm],
      BitsAllocated: 16,
      BitsStored: image.bitsStored,
      HighBit: image.bitsStored - 1,
      PixelRepresentation: 0,
      RescaleIntercept: 0,
      RescaleSlope: 1,
      RescaleType: "US",
      WindowCenter: Math.round(stored.windowCenter),
      WindowWidth: Math.round(image.windowWidth),
      VOILUTFunction: "LINEAR",
      PixelData: [stored.pixels.buffer.slice(stored.pixels.byteOffset, stored.pixels.byteOffset + stored.pixels.byteLength)],
      _vrMap: { PixelData: "OW" },
    };
    if (acquisition.modality === "DX") dataset.PresentationIntentType = "FOR PRESENTATION";
    const part10 = writePart10(dataset, { transferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN });
    return { view, sopInstanceUID, seriesInstanceUID, image, photometricInterpretation: monochrome1 ? "MONOCHROME1" : "MONOCHROME2", part10 };
  });
  return { case: c, report, ...ids, images };
}
