// `trrg-gateway phantom --count N --seed S --out DIR`: writes N synthetic studies as DICOM Part 10 files and one
// ground-truth line per study. Study i has seed S + i, so any single study can be made again on its own.
import { mkdir, writeFile, appendFile } from "node:fs/promises";
import { join } from "node:path";
import { makePhantomStudy, DEFAULT_RENDER, type StudyRenderOptions } from "./study.js";
import { encodeGrayPng, windowToBytes } from "./png.js";

export interface PhantomCommandOptions {
  count: number;
  seed: number;
  out: string;
  /** Rows and columns of every image (pixel spacing scales so that the field of view stays 358 mm). */
  size?: number;
  /** Also write a windowed PNG of each image, for a quick look. */
  png?: boolean;
}

export const GROUND_TRUTH_FILE = "ground-truth.jsonl";

function renderOptions(size: number | undefined): StudyRenderOptions {
  if (size === undefined) return DEFAULT_RENDER;
  const field = DEFAULT_RENDER.rows * DEFAULT_RENDER.pixelSpacingMm;
  return { ...DEFAULT_RENDER, rows: size, columns: size, pixelSpacingMm: Math.round((field / size) * 1e4) / 1e4 };
}

export async function runPhantomCommand(options: PhantomCommandOptions, stdout: NodeJS.WritableStream): Promise<number> {
  const render = renderOptions(options.size);
  await mkdir(options.out, { recursive: true });
  const truthPath = join(options.out, GROUND_TRUTH_FILE);
  await writeFile(truthPath, "");
  for (let i = 0; i < options.count; i++) {
    const study = makePhantomStudy(options.seed + i, render);
    const folder = join(options.out, study.accessionNumber);
    await mkdir(folder, { recursive: true });
    const files = [];
    for (const image of study.images) {
      const file = join(study.accessionNumber, `${image.view}.dcm`);
      await writeFile(join(options.out, file), image.part10);
      if (options.png) await writeFile(join(folder, `${image.view}.png`), encodeGrayPng(windowToBytes(image.image), image.image.columns, image.image.rows));
      files.push({ view: image.view, path: file, sopInstanceUID: image.sopInstanceUID, seriesInstanceUID: image.seriesInstanceUID });
    }
    const line = {
      seed: study.case.seed,
      studyInstanceUID: study.studyInstanceUID,
      patientID: study.patientID,
      accessionNumber: study.accessionNumber,
      files,
      subject: study.case.subject,
      acquisition: study.case.acquisition,
      findings: study.case.findings,
      labels: study.report.labels,
      report: { findings: study.report.findings, impression: study.report.impression },
    };
    await appendFile(truthPath, `${JSON.stringify(line)}\n`);
  }
  stdout.write(`${options.count} phantom studies written to ${options.out} (ground truth in ${GROUND_TRUTH_FILE})\n`);
  return 0;
}
