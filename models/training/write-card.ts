// Writes MODEL_CARD.md of a model set from its manifest, metrics.json (evaluate.ts) and training-run.json (run.sh).
//   tsx models/training/write-card.ts --model models/trrg-mini
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { ModelManifest } from "../../src/inference/manifest.js";

interface Metrics {
  studies: number;
  secondsPerStudy: number;
  model: { manifestSha256: string };
  perception: { auroc: Record<string, number>; macroAuroc: number; clueF1: Record<string, number>; macroClueF1: number };
  efficacy: {
    macro: { precision: number; recall: number; f1: number };
    micro: { precision: number; recall: number; f1: number };
    perReport: { precision: number; recall: number; f1: number };
    perObservation: Record<string, { precision: number; recall: number; f1: number; support: number }>;
    regeneratedStudies: number;
    firstPass: { macro: { f1: number }; micro: { f1: number }; perReport: { f1: number } };
  };
  text: { bleu4: number; rougeL: number };
  examples: { seed: number; reference: string; generated: string; clues: string[] }[];
}

const f3 = (x: number) => x.toFixed(3);

function card(manifest: ModelManifest, metrics: Metrics, run: Record<string, number | string>): string {
  const findings = manifest.findings
    .map((f) => {
      const e = metrics.efficacy.perObservation[f.name];
      return `| ${f.name} | ${f3(metrics.perception.auroc[f.name] ?? NaN)} | ${f3(f.threshold)} | ${f3(metrics.perception.clueF1[f.name] ?? 0)} | ${e?.support ?? 0} | ${f3(e?.precision ?? 0)} | ${f3(e?.recall ?? 0)} | ${f3(e?.f1 ?? 0)} |`;
    })
    .join("\n");
  const sizes = Object.entries(manifest.files).map(([name, f]) => `${name} ${(f.bytes / 1e6).toFixed(2)} MB`).join(", ");
  const total = Object.values(manifest.files).reduce((sum, f) => sum + f.bytes, 0);
  const example = metrics.examples[0];
  return `# Model card: ${manifest.name} ${manifest.version}

> **Not for clinical use.** This model was trained only on synthetic chest X-ray phantoms made by
> \`src/phantom/\`. It has never seen a real radiograph; its reports on real images are meaningless. It exists to
> prove and test every stage of the trrg-gateway pipeline end to end.

Manifest SHA-256 of the evaluated set: \`${metrics.model.manifestSha256}\`.

## Intended use
Demonstration, integration testing and conformance testing of trrg-gateway: a real ONNX model set in the
service's model contract (DESIGN §5), whose outputs tests can assert. Out of scope: any diagnostic or screening use,
any real patient data, any benchmark claim about radiology report generation.

## Model
A small TRRG-style model (Wang et al., "TRRG: Towards Truthful Radiology Report Generation With Cross-modal Disease
Clue Enhanced Large Language Models", arXiv:2408.12141):
- **vision**: a convolutional encoder, ${manifest.preprocess.size}×${manifest.preprocess.size} grey input → ${manifest.preprocess.size / 16}×${manifest.preprocess.size / 16} patch embeddings and a unit-length global embedding (mean and max pooled).
- **perception**: zero-shot disease clues. For each of the ${manifest.findings.length} findings, the probability is the softmax of the image
  embedding's similarity to a positive and a negative disease sentence embedding (ensembles of three sentences
  each, made by the stage-1 text encoder and shipped in the graph).
- **interaction**: clue injection and cross-modal clue interaction: the clue embeddings of the findings above their
  threshold (any number, zero included: a learned "no clue" token is always present) and the patch embeddings attend
  to each other in one bidirectional cross-attention block; both form the decoder's prefix.
- **embed_tokens + decoder**: a ${manifest.stages.decoder.layers}-layer causal transformer (hidden ${manifest.stages.decoder.hiddenSize}, ${manifest.stages.decoder.heads} heads) in place of the paper's LLM,
  with a KV cache in the Hugging Face Optimum layout; WordPiece tokenizer trained on the report corpus (\`tokenizer.json\`).
  Output: findings, the \`[IMPRESSION]\` token, impression, \`[EOS]\`.

Files: ${sizes}; ${(total / 1e6).toFixed(1)} MB in all.

## Training data
Synthetic phantom studies (\`trrg-gateway phantom\`): ${run.trainStudies} training studies (seeds 1..${run.trainStudies}),
600 validation (seeds from 1000001) and 600 test (seeds from 2000001), disjoint. Frontal views only, rendered at
512×512 (0.7 mm) and preprocessed by the service's own \`src/pipeline/preprocess.ts\` (DICOM window, letterbox,
area-average resize to ${manifest.preprocess.size}, normalised with mean ${manifest.preprocess.mean} and std ${manifest.preprocess.std}).
Reports come from the phantom report grammar; every reference report agrees with its ground truth by the findings labeler.
About 30% of studies are normal; each finding is drawn in roughly 8–20% of studies, several at once.

## Training procedure
1. **Stage 1, contrastive pre-training** (vision encoder + 2-layer text encoder): per-finding disease-sentence loss
   (the zero-shot score against sampled positive and negative sentences, binary cross-entropy) plus an
   image–impression InfoNCE loss (sentence-level alignment). Random translation of ±6 px; never flipped (laterality matters).
2. **Stage 2, fine-tuning** with the vision encoder and clue embeddings frozen: clue injection, interaction and
   decoder trained on next-token loss. Clues come from the ground truth (50%), from zero-shot perception (30%) or
   from the ground truth with each clue dropped at 30% (20%).
3. **Calibration**: each finding's threshold is the cut that maximises F1 on the validation split.

## Evaluation (held-out test split, ${metrics.studies} studies)
Measured by \`models/training/evaluate.ts\` through the service's own code (onnxruntime-node sessions, greedy
generation followed by the pipeline's truthfulness gate, \`tokenizer.json\` read by @huggingface/tokenizers): the
report the service would emit, labelled by the findings labeler and scored against the ground-truth labels,
positive-only (uncertain counts as negative). The gate regenerates a report (4 beams, the one contradicting the
clues least) when its first text contradicts a clue; the first-pass text alone is scored too.

| finding | perception AUROC | threshold | clue F1 | positives | precision | recall | F1 (generated text) |
| --- | --- | --- | --- | --- | --- | --- | --- |
${findings}

- Clue perception: **macro AUROC ${f3(metrics.perception.macroAuroc)}** (target ≥ 0.95); the clues themselves (probability at or
  above the threshold) reach macro F1 ${f3(metrics.perception.macroClueF1)}, which bounds what the text can reach.
- Clinical efficacy of the generated text over these ${manifest.findings.length} findings: **macro F1 ${f3(metrics.efficacy.macro.f1)}** (target ≥ 0.85);
  macro precision ${f3(metrics.efficacy.macro.precision)}, recall ${f3(metrics.efficacy.macro.recall)}; micro F1 ${f3(metrics.efficacy.micro.f1)}; per-report F1 ${f3(metrics.efficacy.perReport.f1)}.
  ${metrics.efficacy.regeneratedStudies} of ${metrics.studies} reports were regenerated by the gate; the first-pass text alone reaches macro F1
  ${f3(metrics.efficacy.firstPass.macro.f1)} (micro ${f3(metrics.efficacy.firstPass.micro.f1)}, per report ${f3(metrics.efficacy.firstPass.perReport.f1)}).
- Language: BLEU-4 ${f3(metrics.text.bleu4)}, ROUGE-L ${f3(metrics.text.rougeL)} against the reference reports.
- Speed: ${metrics.secondsPerStudy.toFixed(3)} s per study on the CPU (one process, greedy with the gate, ${run.cores} cores).

Example (test seed ${example?.seed ?? "-"}, clues: ${example?.clues.join(", ") || "none"}):

    reference: ${example?.reference.replaceAll("\n\n", " ") ?? ""}
    generated: ${example?.generated.replaceAll("\n\n", " ") ?? ""}

## Limits
- Synthetic only: phantom anatomy and findings are drawn shapes, far simpler than real radiographs; the numbers
  above say that the pipeline and the training method work, nothing about clinical accuracy.
- The report language is that of one grammar (about 200 words); the model cannot say anything else.
- Pneumonia is never drawn (a phantom cannot show it apart from consolidation); "No Finding" is derived. Both are
  outside the perception head. No lateral view is used.
- The subtle findings are the weak ones: small nodules (Lung Lesion), rib fractures, faint opacity and consolidation.
  Their perception AUROC is high but, at their low prevalence, the thresholded clues are often wrong, and the text
  follows its clues. The first-pass text loses a few points more against the clues (it sometimes leaves a clue
  unmentioned); the truthfulness gate wins most of them back.
- The reference labels and the scoring labeler are the same labeler, so labeler errors are invisible here.

## Reproduce
\`npm run train:model\` (models/training/run.sh) rebuilds this set from seed on the CPU. Last run (${run.cores} cores,
torch ${run.torch}): data set ${run.dataset} s, stage 1 ${run.stage1} s, stage 2 ${run.stage2} s, export ${run.export} s,
evaluation ${run.evaluate} s (other work shared the machine during parts of that run, so these are upper bounds). PyTorch's CPU kernels are not bit-for-bit deterministic across machines, so a
rerun elsewhere gives a close but not identical set; the parity references are rewritten with it.
`;
}

const { values } = parseArgs({ options: { model: { type: "string" } } });
if (!values.model) throw new Error("--model DIR is required");
const manifest = JSON.parse(readFileSync(`${values.model}/manifest.json`, "utf8")) as ModelManifest;
const metrics = JSON.parse(readFileSync(`${values.model}/metrics.json`, "utf8")) as Metrics;
const run = JSON.parse(readFileSync(`${values.model}/training-run.json`, "utf8")) as Record<string, number | string>;
writeFileSync(`${values.model}/MODEL_CARD.md`, card(manifest, metrics, run));
