// TRRG pipeline latency and throughput on the bundled model, over phantom studies the model was not trained on
// (test seeds), read from DICOM Part 10 bytes as the service reads them.
//   - per-study latency p50/p95 of each stage: decode, preprocess, vision, perception, interaction, generation
//     (and per generated token), labelling;
//   - studies per minute with 1, 2 and 4 studies in flight (one process, one set of ONNX sessions), decoding
//     images on the main thread or on 2 worker threads, generating each report alone or in batches of the
//     reports in flight (GreedyBatcher, TRRG_GENERATION_BATCH);
//   - peak resident memory.
// Target (issue 6): p50 under 300 ms per study on this 2-core machine, throughput growing with concurrency until
// the cores are full. No peer runs beside it: no other TRRG implementation is installed here.
//
//   npx tsx bench/pipeline.ts            (BENCH_QUICK=1 for a short run; TRRG_INTRA_OP_THREADS=N as the service reads
//                                         it, 0 = ONNX Runtime's choice, which fills the cores with one study)
import { loadModelSet } from "../src/inference/manifest.js";
import { BUNDLED_MODEL_DIR } from "../src/inference/modelLocation.js";
import { closeModel, openModel } from "../src/inference/sessions.js";
import { loadTokenizer } from "../src/inference/tokenizer.js";
import { makePhantomStudy } from "../src/phantom/study.js";
import { GreedyBatcher } from "../src/pipeline/greedyBatcher.js";
import { ImagePool } from "../src/pipeline/imagePool.js";
import { reportStudy, type PipelineOptions, type StageTimings } from "../src/pipeline/reportStudy.js";
import { studyImageFromPart10 } from "../src/pipeline/studyImages.js";

const QUICK = process.env.BENCH_QUICK === "1";
const STUDIES = QUICK ? 12 : 60;
const ROUNDS = QUICK ? 1 : 3;
const FIRST_TEST_SEED = 2_000_001;
const RENDER = { rows: 1024, columns: 1024, pixelSpacingMm: 0.35 };

const median = (values: readonly number[]) => percentile(values, 50);

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function main(): Promise<void> {
  const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(FIRST_TEST_SEED + i, RENDER).images.map((im) => im.part10));
  const set = await loadModelSet(BUNDLED_MODEL_DIR);
  const intraOpThreads = Number(process.env.TRRG_INTRA_OP_THREADS ?? 0);
  const model = await openModel(set, { executionProviders: ["cpu"], intraOpThreads });
  const tokenizer = await loadTokenizer(set);
  let peakRss = process.memoryUsage().rss;
  const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

  const runStudy = async (files: Buffer[], options: PipelineOptions = {}) => {
    const started = performance.now();
    const images = files.map(studyImageFromPart10);
    const headerMs = performance.now() - started;
    const result = await reportStudy(model, tokenizer, images, options);
    return { headerMs, totalMs: performance.now() - started, timings: result.timings };
  };

  await runStudy(studies[0] as Buffer[]); // warm-up: first session runs allocate
  const rows: { headerMs: number; totalMs: number; timings: StageTimings }[] = [];
  for (const files of studies) rows.push(await runStudy(files));
  const stages: [string, (r: (typeof rows)[number]) => number][] = [
    ["read headers (all images)", (r) => r.headerMs],
    ["decode (frontal image)", (r) => r.timings.decodeMs],
    ["preprocess", (r) => r.timings.preprocessMs],
    ["vision", (r) => r.timings.visionMs],
    ["perception", (r) => r.timings.perceptionMs],
    ["interaction", (r) => r.timings.interactionMs],
    ["generation", (r) => r.timings.generationMs],
    ["generation per token", (r) => r.timings.generationMs / Math.max(r.timings.generatedTokens, 1)],
    ["labelling", (r) => r.timings.labelMs],
    ["whole study", (r) => r.totalMs],
  ];
  const lines = [
    `# Pipeline benchmark (${new Date().toISOString().slice(0, 10)}, ${STUDIES} phantom studies, 1024x1024, model ${set.manifest.name} ${set.manifest.version}, intra-op threads ${intraOpThreads || "ONNX Runtime's choice"})`,
    "",
    "| stage | p50 ms | p95 ms |",
    "| --- | --- | --- |",
    ...stages.map(([name, f]) => `| ${name} | ${percentile(rows.map(f), 50).toFixed(1)} | ${percentile(rows.map(f), 95).toFixed(1)} |`),
    "",
    `Studies per minute, median of ${ROUNDS} rounds:`,
    "",
    "| studies in flight | studies per minute, decoding on the main thread | with 2 image workers | main thread, batched generation | 2 image workers, batched generation |",
    "| --- | --- | --- | --- | --- |",
  ];
  const pool = new ImagePool(2);
  const throughput = async (concurrency: number, options: PipelineOptions) => {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < studies.length) await runStudy(studies[next++] as Buffer[], options);
      }),
    );
    return (studies.length / (performance.now() - started)) * 60_000;
  };
  const withPool: PipelineOptions = { prepareImage: (part10, spec) => pool.prepare(part10, spec) };
  const greedyBatcher = new GreedyBatcher(model, 4);
  await runStudy(studies[0] as Buffer[], withPool); // warm the workers
  // Side by side: each round runs every variant once, in an order rotated each round; the table gives medians.
  const variants: PipelineOptions[] = [{}, withPool, { greedyBatcher }, { ...withPool, greedyBatcher }];
  for (const concurrency of [1, 2, 4]) {
    const runs: number[][] = variants.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < variants.length; k++) {
        const v = (k + round) % variants.length;
        (runs[v] as number[]).push(await throughput(concurrency, variants[v] as PipelineOptions));
      }
    }
    lines.push(`| ${concurrency} | ${runs.map((r) => median(r).toFixed(0)).join(" | ")} |`);
  }
  await pool.close();
  clearInterval(sample);
  lines.push("", `Peak resident memory: ${(peakRss / 2 ** 20).toFixed(0)} MiB.`);
  process.stdout.write(`${lines.join("\n")}\n`);
  await closeModel(model);
}

await main();
