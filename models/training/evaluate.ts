// Measures the exported model set on the held-out test split, through the service's own code: ONNX Runtime
// sessions, generation with the truthfulness gate (the text the service emits), the tokenizer from tokenizer.json
// and the findings labeler. The first-pass text (before any regeneration) is scored too. Writes metrics.json.
//   tsx models/training/evaluate.ts --data DIR --model models/trrg-mini [--limit N]
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { scoreLabels, type StatusMap } from "../../src/findings/efficacy.js";
import { labelStatuses } from "../../src/findings/labeler.js";
import type { ObservationName } from "../../src/findings/observations.js";
import { loadModelSet } from "../../src/inference/manifest.js";
import { closeModel, openModel } from "../../src/inference/sessions.js";
import { loadTokenizer } from "../../src/inference/tokenizer.js";
import { generateCheckedReport, reportText } from "../../src/pipeline/reportStudy.js";
import { confidentClues, encodeImage, interact, perceiveClues } from "../../src/pipeline/stages.js";
import { auroc, corpusBleu4, meanRougeL } from "./evaluationMetrics.js";

interface TestRecord {
  seed: number;
  findings: { observation: string }[];
  labels: StatusMap;
  report: { findings: string; impression: string };
}


async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: "string" }, model: { type: "string" }, limit: { type: "string" } } });
  if (!values.data || !values.model) throw new Error("--data DIR and --model DIR are required");
  const set = await loadModelSet(values.model);
  const model = await openModel(set, { executionProviders: ["cpu"], intraOpThreads: 0 });
  const tokenizer = await loadTokenizer(set);
  const { size, mean, std } = set.manifest.preprocess;
  const findingNames = set.manifest.findings.map((f) => f.name);
  let records = readFileSync(`${values.data}/test.jsonl`, "utf8").trim().split("\n").map((l) => JSON.parse(l) as TestRecord);
  if (values.limit) records = records.slice(0, Number(values.limit));
  const pixels = new Uint16Array(readFileSync(`${values.data}/test.images.u16`).buffer.slice(0));

  const probabilities: number[][] = [];
  const pairs: { reference: StatusMap; generated: StatusMap }[] = [];
  const firstPassPairs: { reference: StatusMap; generated: StatusMap }[] = [];
  let regenerated = 0;
  const texts: { reference: string; candidate: string }[] = [];
  const examples: { seed: number; reference: string; generated: string; clues: string[] }[] = [];
  const started = performance.now();
  for (const [n, record] of records.entries()) {
    const input = Float32Array.from(pixels.subarray(n * size * size, (n + 1) * size * size), (v) => (v / 65535 - mean) / std);
    const features = await encodeImage(model, input);
    const perception = await perceiveClues(model, features);
    const clues = confidentClues(model, perception);
    const prefix = await interact(model, features, perception, clues);
    const checked = await generateCheckedReport(model, tokenizer, prefix, perception);
    const generated = reportText(checked.report);
    const reference = reportText(record.report);
    probabilities.push(perception.probabilities);
    pairs.push({ reference: record.labels, generated: labelStatuses(generated) });
    firstPassPairs.push({ reference: record.labels, generated: labelStatuses(reportText(checked.firstReport)) });
    if (checked.regenerated) regenerated++;
    texts.push({ reference, candidate: generated });
    if (n < 5) examples.push({ seed: record.seed, reference, generated, clues: clues.map((i) => findingNames[i] as string) });
  }
  const seconds = (performance.now() - started) / 1000;

  const perceptionAuroc = Object.fromEntries(
    findingNames.map((name, j) => [name, auroc(probabilities.map((p) => p[j] as number), records.map((r) => r.findings.some((f) => f.observation === name)))]),
  );
  const aurocs = Object.values(perceptionAuroc).filter((a) => !Number.isNaN(a));
  // F1 of the clues themselves (probability at or above the threshold), to tell perception errors from generation ones.
  const clueF1 = Object.fromEntries(
    set.manifest.findings.map((f, j) => {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      records.forEach((r, n) => {
        const truth = r.findings.some((x) => x.observation === f.name);
        const clue = (probabilities[n]?.[j] as number) >= f.threshold;
        if (clue && truth) tp++;
        else if (clue) fp++;
        else if (truth) fn++;
      });
      return [f.name, tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)];
    }),
  );
  const observations = findingNames as ObservationName[];
  const efficacy = scoreLabels(pairs, { observations });
  const firstPass = scoreLabels(firstPassPairs, { observations });
  const metrics = {
    model: { name: set.manifest.name, version: set.manifest.version, manifestSha256: set.manifestSha256 },
    studies: records.length,
    secondsPerStudy: seconds / records.length,
    perception: {
      auroc: perceptionAuroc,
      macroAuroc: aurocs.reduce((a, b) => a + b, 0) / aurocs.length,
      clueF1,
      macroClueF1: Object.values(clueF1).reduce((a, b) => a + b, 0) / findingNames.length,
    },
    efficacy: {
      observations,
      macro: efficacy.macro,
      micro: efficacy.micro,
      perReport: efficacy.perReport,
      perObservation: Object.fromEntries(observations.map((o) => [o, efficacy.perObservation[o]])),
      regeneratedStudies: regenerated,
      firstPass: { macro: firstPass.macro, micro: firstPass.micro, perReport: firstPass.perReport },
    },
    text: { bleu4: corpusBleu4(texts), rougeL: meanRougeL(texts) },
    examples,
  };
  writeFileSync(`${values.model}/metrics.json`, `${JSON.stringify(metrics, null, 2)}\n`);
  process.stdout.write(
    `studies ${records.length}, ${metrics.secondsPerStudy.toFixed(3)} s/study\n` +
      `perception macro AUROC ${metrics.perception.macroAuroc.toFixed(4)}, clue macro F1 ${metrics.perception.macroClueF1.toFixed(4)}\n` +
      `efficacy macro F1 ${efficacy.macro.f1.toFixed(4)} (micro ${efficacy.micro.f1.toFixed(4)}, per report ${efficacy.perReport.f1.toFixed(4)}; ` +
      `${regenerated} regenerated; first pass alone macro F1 ${firstPass.macro.f1.toFixed(4)})\n` +
      `BLEU-4 ${metrics.text.bleu4.toFixed(4)}, ROUGE-L ${metrics.text.rougeL.toFixed(4)}\n`,
  );
  await closeModel(model);
}

await main();
