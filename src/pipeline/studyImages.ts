// Study images from DICOM Part 10 files: the attributes the pipeline chooses the frontal view by, and the bytes
// it decodes once it has chosen.
import { readFile } from "node:fs/promises";
import { stringValue } from "../dicom/dicomJson.js";
import { parseHeader, Part10Error } from "../dicom/part10.js";
import type { StudyImage } from "./reportStudy.js";

export interface StudyFile extends StudyImage {
  studyInstanceUID: string;
  /** The study attributes a FHIR report needs (src/fhir/reportResources.ts ReportedStudy). */
  study: { patientId?: string; issuerOfPatientId?: string; studyDate?: string; studyTime?: string; timezoneOffset?: string };
}

const TAG = {
  StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E",
  SOPInstanceUID: "00080018",
  ViewPosition: "00185101",
  SeriesDescription: "0008103E",
  PatientID: "00100020",
  IssuerOfPatientID: "00100021",
  StudyDate: "00080020",
  StudyTime: "00080030",
  TimezoneOffsetFromUTC: "00080201",
} as const;

function attributesOf(part10: Buffer): Omit<StudyFile, "read"> {
  // The whole file is in memory: its header parses without walking encapsulated fragments (decoding does that).
  const header = parseHeader(part10, true);
  if (!header) throw new Part10Error("malformed", "the DICOM header is incomplete");
  const value = (tag: string) => stringValue(header.dataset, tag);
  const viewPosition = value(TAG.ViewPosition);
  const seriesDescription = value(TAG.SeriesDescription);
  const study = Object.fromEntries(
    (
      [
        ["patientId", TAG.PatientID],
        ["issuerOfPatientId", TAG.IssuerOfPatientID],
        ["studyDate", TAG.StudyDate],
        ["studyTime", TAG.StudyTime],
        ["timezoneOffset", TAG.TimezoneOffsetFromUTC],
      ] as const
    ).flatMap(([key, tag]) => {
      const v = value(tag);
      return v ? [[key, v]] : [];
    }),
  ) as StudyFile["study"];
  return {
    study,
    studyInstanceUID: value(TAG.StudyInstanceUID) ?? "",
    seriesInstanceUID: value(TAG.SeriesInstanceUID) ?? "",
    sopInstanceUID: value(TAG.SOPInstanceUID) ?? "",
    ...(viewPosition ? { viewPosition } : {}),
    ...(seriesDescription ? { seriesDescription } : {}),
  };
}

/**
 * Reads the header of one instance (throws Part10Error when it is not DICOM); the pixel data is decoded by the
 * pipeline once it has chosen the image (PixelDecodeError then).
 */
export function studyImageFromPart10(part10: Buffer): StudyFile {
  return { ...attributesOf(part10), read: () => Promise.resolve(part10) };
}

/** As studyImageFromPart10, without holding the file in memory until it is chosen. */
export async function studyImageFromFile(path: string): Promise<StudyFile> {
  return { ...attributesOf(await readFile(path)), read: () => readFile(path) };
}
