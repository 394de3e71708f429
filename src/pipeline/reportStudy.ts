// The TRRG pipeline for one study, top to bottom: pick the frontal image, preprocess it, encode it, perceive the
// disease clues, build the decoder prefix from patches and clues, generate the report, label the text, and check
// that the text tells the truth about the clues (regenerating once when it does not, and flagging for review
// what still disagrees).
import type { LabelStatus, Laterality, Severity } from "../findings/labeler.js";
import { labelReport } from "../findings/labeler.js";
import type { ObservationName } from "../findings/observations.js";
import type { LoadedModel } from "../inference/sessions.js";
import type { ReportTokenizer } from "../inference/tokenizer.js";
import { generateBeams, type Beam, type GeneratedTokens, type GenerationOptions } from "./generate.js";
import type { GreedyBatcher } from "./greedyBatcher.js";
import { decodeFirstFrame } from "../dicom/pixelData.js";
import type { PreparedImage } from "./imagePool.js";
import { preprocess, type PreprocessSpec } from "./preprocess.js";
import { confidentClues, encodeImage, interact, perceiveClues, type CluePerception, type DecoderPrefix } from "./stages.js";

export interface StudyImage {
  sopInstanceUID: string;
  seriesInstanceUID: string;
  /** (0018,5101) View Position: PA, AP, LL, RL, LATERAL, ... */
  viewPosition?: string;
  /** (0008,103E) Series Description, for images without a View Position. */
  seriesDescription?: string;
  /** The Part 10 bytes, read when the image is chosen: only the frontal image is decoded. */
  read(): Promise<Buffer>;
}

export interface GeneratedReport {
  findings: string;
  impression: string;
}

export interface FindingResult {
  name: ObservationName;
  probability: number;
  threshold: number;
  /** Perception found it: probability at or above the threshold, so it was given to the decoder as a clue. */
  clue: boolean;
  /** What the generated text says (null: not mentioned). */
  textStatus: LabelStatus | null;
  laterality?: Laterality;
  severity?: Severity;
  /** The sentence that supports textStatus. */
  evidence?: string;
  /** The text contradicts perception (or leaves out a clue) even after regeneration: a person must look. */
  needsReview: boolean;
}

export interface StageTimings {
  decodeMs: number;
  preprocessMs: number;
  visionMs: number;
  perceptionMs: number;
  interactionMs: number;
  generationMs: number;
  generatedTokens: number;
  labelMs: number;
}

export interface PipelineResult {
  model: { name: string; version: string; manifestSha256: string };
  image: { sopInstanceUID: string; seriesInstanceUID: string; viewPosition?: string };
  report: GeneratedReport;
  findings: FindingResult[];
  /** The findings given to the decoder as clues. */
  clues: ObservationName[];
  /** True when the first text contradicted the clues and the report was generated again. */
  regenerated: boolean;
  timings: StageTimings;
}

export class NoFrontalImageError extends Error {
  override name = "NoFrontalImageError";
}

const FRONTAL_VIEWS = ["PA", "AP"];
const LATERAL_VIEWS = ["LL", "RL", "LATERAL", "LAT", "RLD", "LLD"];

/**
 * The frontal image: View Position PA (preferred, less magnified) or AP; else a series described as PA, AP or
 * frontal; else any image not marked lateral.
 */
export function selectFrontal(images: readonly StudyImage[]): StudyImage | undefined {
  const view = (i: StudyImage) => i.viewPosition?.trim().toUpperCase() ?? "";
  const described = (i: StudyImage, words: RegExp) => words.test(i.seriesDescription ?? "");
  for (const wanted of FRONTAL_VIEWS) {
    const match = images.find((i) => view(i) === wanted);
    if (match) return match;
  }
  const byDescription = images.find((i) => view(i) === "" && described(i, /\b(PA|AP|FRONTAL)\b/i) && !described(i, /\bLAT/i));
  if (byDescription) return byDescription;
  return images.find((i) => !LATERAL_VIEWS.includes(view(i)) && !described(i, /\bLAT/i));
}

/** Generated tokens to text: the findings, then the impression after the section token. */
export function decodeReport(tokenizer: ReportTokenizer, tokenIds: readonly number[], sectionTokenId: number): GeneratedReport {
  const split = tokenIds.indexOf(sectionTokenId);
  return split < 0
    ? { findings: tokenizer.decode(tokenIds), impression: "" }
    : { findings: tokenizer.decode(tokenIds.slice(0, split)), impression: tokenizer.decode(tokenIds.slice(split + 1)) };
}

export function reportText(report: GeneratedReport): string {
  return `FINDINGS: ${report.findings}\n\nIMPRESSION: ${report.impression}`;
}

/**
 * Where the text and perception disagree: the text calls a clue absent or leaves it out, or calls present a
 * finding perception did not find. An uncertain mention of a clue is not a disagreement.
 */
export function findDisagreements(
  findings: readonly { name: string; threshold: number }[],
  probabilities: readonly number[],
  labels: ReturnType<typeof labelReport>,
): Set<ObservationName> {
  const out = new Set<ObservationName>();
  findings.forEach((f, i) => {
    const name = f.name as ObservationName;
    const status = labels[name]?.status ?? null;
    const clue = (probabilities[i] as number) >= f.threshold;
    if ((clue && (status === "absent" || status === null)) || (!clue && status === "present")) out.add(name);
  });
  return out;
}

/** Decodes and preprocesses the chosen image; in this thread by default, or on a worker pool (imagePool.ts). */
export type PrepareImage = (part10: Buffer, spec: PreprocessSpec) => Promise<PreparedImage>;

export const prepareInThread: PrepareImage = async (part10, spec) => {
  const started = performance.now();
  const decoded = await decodeFirstFrame(part10);
  const decodedAt = performance.now();
  const input = preprocess(decoded, spec);
  return { input, decodeMs: decodedAt - started, preprocessMs: performance.now() - decodedAt };
};

export interface PipelineOptions {
  prepareImage?: PrepareImage;
  /** Beams for the first generation; 1 is greedy. */
  numBeams?: number;
  /** Beams for the regeneration after a contradiction. */
  regenerationBeams?: number;
  /** Greedy first passes of concurrent studies decoded as one batch (with numBeams 1). */
  greedyBatcher?: GreedyBatcher;
}

async function timed<T>(work: () => Promise<T> | T): Promise<[T, number]> {
  const start = performance.now();
  const value = await work();
  return [value, performance.now() - start];
}

/** Token limit and stop tokens of a report, from the model's manifest. */
export function reportGenerationOptions(model: LoadedModel): GenerationOptions {
  const { eosTokenId, maxNewTokens } = model.set.manifest.generation;
  return { maxNewTokens, stopTokenIds: [eosTokenId] };
}

export interface CheckedReport {
  report: GeneratedReport;
  /** The first text generated, before any regeneration (the same as report when none was needed). */
  firstReport: GeneratedReport;
  labels: ReturnType<typeof labelReport>;
  /** Findings on which the chosen text still contradicts perception. */
  disagreements: Set<ObservationName>;
  regenerated: boolean;
  generationMs: number;
  generatedTokens: number;
  labelMs: number;
}

/**
 * Generates the report from the decoder prefix and checks it against perception (the truthfulness gate): when the
 * text contradicts a clue, it is generated again with several beams and the best-ranked beam that contradicts
 * the fewest is kept. This is the text the service emits, and the one the model evaluation scores.
 */
export async function generateCheckedReport(
  model: LoadedModel,
  tokenizer: ReportTokenizer,
  prefix: DecoderPrefix,
  perception: CluePerception,
  options: Pick<PipelineOptions, "numBeams" | "regenerationBeams" | "greedyBatcher"> = {},
): Promise<CheckedReport> {
  const { manifest } = model.set;
  const { sectionTokenId } = manifest.generation;
  const generate = (numBeams: number) =>
    generateBeams(model, prefix, { ...reportGenerationOptions(model), numBeams, lengthPenalty: 1 });
  let generationMs = 0;
  let generatedTokens = 0;
  let labelMs = 0;
  const judge = async (beam: GeneratedTokens) => {
    const report = decodeReport(tokenizer, beam.tokenIds, sectionTokenId);
    const [labels, ms] = await timed(() => labelReport(reportText(report)));
    labelMs += ms;
    return { report, labels, disagreements: findDisagreements(manifest.findings, perception.probabilities, labels) };
  };

  const numBeams = options.numBeams ?? manifest.generation.numBeams;
  const batcher = numBeams === 1 ? options.greedyBatcher : undefined;
  const [firstText, firstMs] = await timed(async () => (batcher ? batcher.generate(prefix) : ((await generate(numBeams))[0] as Beam)));
  generationMs += firstMs;
  generatedTokens += firstText.tokenIds.length;
  let chosen = await judge(firstText);
  const firstReport = chosen.report;
  let regenerated = false;
  if (chosen.disagreements.size > 0) {
    regenerated = true;
    const [beams, ms] = await timed(() => generate(options.regenerationBeams ?? 4));
    generationMs += ms;
    generatedTokens += beams.reduce((sum, b) => sum + b.tokenIds.length, 0);
    for (const beam of beams) {
      const candidate = await judge(beam);
      if (candidate.disagreements.size < chosen.disagreements.size) chosen = candidate;
      if (chosen.disagreements.size === 0) break;
    }
  }
  return { ...chosen, firstReport, regenerated, generationMs, generatedTokens, labelMs };
}

/** Runs the whole pipeline on the images of one study. */
export async function reportStudy(
  model: LoadedModel,
  tokenizer: ReportTokenizer,
  images: readonly StudyImage[],
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  const frontal = selectFrontal(images);
  if (!frontal) throw new NoFrontalImageError("the study has no frontal chest image (View Position PA or AP)");
  const { manifest } = model.set;
  const prepare = options.prepareImage ?? prepareInThread;
  const { input, decodeMs, preprocessMs } = await prepare(await frontal.read(), manifest.preprocess);
  const [features, visionMs] = await timed(() => encodeImage(model, input));
  const [perception, perceptionMs] = await timed(() => perceiveClues(model, features));
  const clueIndices = confidentClues(model, perception);
  const [prefix, interactionMs] = await timed(() => interact(model, features, perception, clueIndices));
  const chosen = await generateCheckedReport(model, tokenizer, prefix, perception, options);
  const { regenerated, generationMs, generatedTokens, labelMs } = chosen;

  const findings = manifest.findings.map((f, i): FindingResult => {
    const name = f.name as ObservationName;
    const label = chosen.labels[name];
    return {
      name,
      probability: perception.probabilities[i] as number,
      threshold: f.threshold,
      clue: clueIndices.includes(i),
      textStatus: label?.status ?? null,
      ...(label?.laterality ? { laterality: label.laterality } : {}),
      ...(label?.severity ? { severity: label.severity } : {}),
      ...(label?.evidence ? { evidence: label.evidence.sentence } : {}),
      needsReview: chosen.disagreements.has(name),
    };
  });
  return {
    model: { name: manifest.name, version: manifest.version, manifestSha256: model.set.manifestSha256 },
    image: { sopInstanceUID: frontal.sopInstanceUID, seriesInstanceUID: frontal.seriesInstanceUID, ...(frontal.viewPosition ? { viewPosition: frontal.viewPosition } : {}) },
    report: chosen.report,
    findings,
    clues: clueIndices.map((i) => manifest.findings[i]?.name as ObservationName),
    regenerated,
    timings: { decodeMs, preprocessMs, visionMs, perceptionMs, interactionMs, generationMs, generatedTokens, labelMs },
  };
}
