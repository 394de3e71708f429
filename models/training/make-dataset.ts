// Writes the training data of TRRG-mini: for each phantom study, its frontal image preprocessed exactly as the
// service preprocesses (src/pipeline/preprocess.ts) and its ground truth. Splits use disjoint seed ranges.
//   tsx models/training/make-dataset.ts --out DIR --train 5000 --val 600 --test 600 [--workers 2]
import { fork } from "node:child_process";
import { createWriteStream, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { DRAWN_OBSERVATIONS } from "../../src/phantom/groundTruth.js";
import { renderFrontal, type RenderOptions } from "../../src/phantom/render.js";
import { describePhantom } from "../../src/phantom/study.js";
import { uidFromName } from "../../src/dicom/uid.js";
import { FINDING_CODES } from "../../src/findings/codes.js";
import { preprocess, type PreprocessSpec } from "../../src/pipeline/preprocess.js";

const TRAINING_RENDER: RenderOptions = { rows: 512, columns: 512, pixelSpacingMm: 0.7, bitsStored: 12 };
/** Grey levels in [0, 1] are stored; the model's mean and std are applied by the trainer and by the service. */
const PREPROCESS: PreprocessSpec = { size: 160, windowing: "dicom", mean: 0.5, std: 0.25 };
const SPLIT_SEED_BASE: Record<string, number> = { train: 1, val: 1_000_001, test: 2_000_001 };

function writePart(dir: string, split: string, first: number, count: number, part: number): void {
  const images = `${dir}/${split}.part${part}.images.u16`;
  const records = `${dir}/${split}.part${part}.jsonl`;
  writeFileSync(images, "");
  writeFileSync(records, "");
  const grey: PreprocessSpec = { ...PREPROCESS, mean: 0, std: 1 };
  for (let i = first; i < first + count; i++) {
    const seed = (SPLIT_SEED_BASE[split] as number) + i;
    const { case: c, report } = describePhantom(seed);
    const image = renderFrontal(c, TRAINING_RENDER);
    const input = preprocess(
      {
        rows: image.rows,
        columns: image.columns,
        pixels: Float32Array.from(image.pixels),
        photometricInterpretation: "MONOCHROME2",
        window: { center: image.windowCenter, width: image.windowWidth },
      },
      grey,
    );
    const quantised = Uint16Array.from(input, (v) => Math.round(Math.min(1, Math.max(0, v)) * 65535));
    appendFileSync(images, Buffer.from(quantised.buffer));
    const record = {
      seed,
      studyInstanceUID: uidFromName(`trrg-phantom/${seed}/study`),
      findings: c.findings,
      labels: report.labels,
      report: { findings: report.findings, impression: report.impression },
    };
    appendFileSync(records, `${JSON.stringify(record)}\n`);
  }
}

async function concatenate(dir: string, split: string, parts: number): Promise<void> {
  for (const [suffix, name] of [["images.u16", `${split}.images.u16`], ["jsonl", `${split}.jsonl`]] as const) {
    const out = createWriteStream(`${dir}/${name}`);
    for (let part = 0; part < parts; part++) {
      const file = `${dir}/${split}.part${part}.${suffix}`;
      if (!out.write(readFileSync(file))) await once(out, "drain");
      rmSync(file);
    }
    out.end();
    await once(out, "finish");
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      train: { type: "string", default: "5000" },
      val: { type: "string", default: "600" },
      test: { type: "string", default: "600" },
      workers: { type: "string", default: "2" },
      part: { type: "string" },
    },
  });
  const dir = values.out;
  if (!dir) throw new Error("--out DIR is required");
  if (values.part) {
    const [split, first, count, part] = values.part.split(":");
    writePart(dir, split as string, Number(first), Number(count), Number(part));
    return;
  }
  const workers = Number(values.workers);
  for (const split of ["train", "val", "test"] as const) {
    const total = Number(values[split]);
    const children = Array.from({ length: workers }, (_, part) => {
      const first = Math.floor((total * part) / workers);
      const count = Math.floor((total * (part + 1)) / workers) - first;
      const child = fork(process.argv[1] as string, ["--out", dir, "--part", `${split}:${first}:${count}:${part}`]);
      return once(child, "exit").then(([code]) => {
        if (code !== 0) throw new Error(`${split} part ${part} exited with ${String(code)}`);
      });
    });
    await Promise.all(children);
    await concatenate(dir, split, workers);
    process.stdout.write(`${split}: ${total} studies\n`);
  }
  writeFileSync(
    `${dir}/meta.json`,
    `${JSON.stringify({ findings: DRAWN_OBSERVATIONS, snomed: Object.fromEntries(DRAWN_OBSERVATIONS.map((o) => [o, FINDING_CODES[o].snomed ?? null])), preprocess: PREPROCESS, render: TRAINING_RENDER, splitSeedBase: SPLIT_SEED_BASE }, null, 2)}\n`,
  );
}

await main();
