// Clinical efficacy of generated reports: label the reference and the generated report of each study with the
// same labeler and compare the labels, as report-generation papers do (R2Gen, TRRG and most since, with the
// CheXpert labeler or CheXbert). Two ways are reported, because papers use both:
//
// 1. Per observation ("positive-only"): a label is positive when the observation is present; uncertain, absent
//    and not mentioned are negative (uncertainAs: "positive" turns that choice round). For each of the 14
//    observations, precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = their harmonic mean, counted over
//    all studies; micro = the same over the pooled counts of the 14; macro = the unweighted mean over the 14.
//    A ratio whose denominator is 0 is 0 (scikit-learn's zero_division=0).
// 2. Per report ("example-based"): precision, recall and F1 over the 14 binary labels of one study, then the
//    mean over studies. A study where neither report has a positive label agrees fully and scores 1.
import { labelStatuses, type LabelStatus } from "./labeler.js";
import { OBSERVATIONS, type ObservationName } from "./observations.js";

export type StatusMap = Record<ObservationName, LabelStatus | null>;

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export interface Prf {
  precision: number;
  recall: number;
  f1: number;
}

export interface ObservationScore extends Prf, Counts {
  /** Studies whose reference is positive for the observation. */
  support: number;
}

export interface EfficacyScores {
  perObservation: Record<ObservationName, ObservationScore>;
  micro: Prf;
  macro: Prf;
  /** Mean over studies of each study's precision, recall and F1 over its 14 labels. */
  perReport: Prf;
  studies: number;
}

export interface EfficacyOptions {
  /** How an uncertain label counts: "negative" (default, as most papers) or "positive". */
  uncertainAs?: "negative" | "positive";
  /** The observations micro, macro and per-report scores run over (default all 14), e.g. those a data set has. */
  observations?: readonly ObservationName[];
}

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);
const harmonic = (p: number, r: number): number => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

function prf({ tp, fp, fn }: Counts): Prf {
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return { precision, recall, f1: harmonic(precision, recall) };
}

/** Scores already-labelled pairs (reference first). */
export function scoreLabels(
  pairs: readonly { reference: StatusMap; generated: StatusMap }[],
  options: EfficacyOptions = {},
): EfficacyScores {
  const positive = (s: LabelStatus | null): boolean =>
    s === "present" || (s === "uncertain" && options.uncertainAs === "positive");
  const scored = options.observations ?? OBSERVATIONS;
  const counts = {} as Record<ObservationName, Counts>;
  for (const o of OBSERVATIONS) counts[o] = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const perReport: Prf = { precision: 0, recall: 0, f1: 0 };

  for (const { reference, generated } of pairs) {
    const study: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    for (const o of OBSERVATIONS) {
      const ref = positive(reference[o]);
      const gen = positive(generated[o]);
      const key = ref ? (gen ? "tp" : "fn") : gen ? "fp" : "tn";
      counts[o][key]++;
      if (scored.includes(o)) study[key]++;
    }
    const s = study.tp + study.fp + study.fn === 0 ? { precision: 1, recall: 1, f1: 1 } : prf(study);
    perReport.precision += s.precision;
    perReport.recall += s.recall;
    perReport.f1 += s.f1;
  }

  const perObservation = {} as Record<ObservationName, ObservationScore>;
  const pooled: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const macro: Prf = { precision: 0, recall: 0, f1: 0 };
  for (const o of OBSERVATIONS) {
    const c = counts[o];
    perObservation[o] = { ...prf(c), ...c, support: c.tp + c.fn };
  }
  for (const o of scored) {
    const c = counts[o];
    const score = prf(c);
    pooled.tp += c.tp;
    pooled.fp += c.fp;
    pooled.fn += c.fn;
    pooled.tn += c.tn;
    macro.precision += score.precision / scored.length;
    macro.recall += score.recall / scored.length;
    macro.f1 += score.f1 / scored.length;
  }
  const n = pairs.length;
  return {
    perObservation,
    micro: prf(pooled),
    macro,
    perReport: {
      precision: ratio(perReport.precision, n),
      recall: ratio(perReport.recall, n),
      f1: ratio(perReport.f1, n),
    },
    studies: n,
  };
}

/** Labels each reference and generated report with labelReport, then scores them. */
export function scoreReports(
  pairs: readonly { reference: string; generated: string }[],
  options: EfficacyOptions = {},
): EfficacyScores {
  return scoreLabels(
    pairs.map((p) => ({ reference: labelStatuses(p.reference), generated: labelStatuses(p.generated) })),
    options,
  );
}
