// Metrics of the model card: AUROC of clue perception, and BLEU-4 and ROUGE-L of generated text against the
// reference, computed the way report-generation papers compute them (pycocoevalcap conventions).

/** Lower-cased words and punctuation marks, as the COCO caption tokenizer leaves them (punctuation dropped). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:[.'-][a-z0-9]+)*/g) ?? [];
}

function ngrams(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/**
 * Corpus BLEU-4 (Papineni et al., 2002): clipped n-gram precisions for n = 1..4 pooled over the corpus, their
 * geometric mean, times the brevity penalty exp(1 - r/c) when the candidates are shorter than the references.
 */
export function corpusBleu4(pairs: readonly { reference: string; candidate: string }[]): number {
  const matched = [0, 0, 0, 0];
  const total = [0, 0, 0, 0];
  let referenceLength = 0;
  let candidateLength = 0;
  for (const { reference, candidate } of pairs) {
    const ref = words(reference);
    const cand = words(candidate);
    referenceLength += ref.length;
    candidateLength += cand.length;
    for (let n = 1; n <= 4; n++) {
      const refCounts = ngrams(ref, n);
      for (const [gram, count] of ngrams(cand, n)) matched[n - 1]! += Math.min(count, refCounts.get(gram) ?? 0);
      total[n - 1]! += Math.max(cand.length - n + 1, 0);
    }
  }
  if (matched.some((m) => m === 0)) return 0;
  const logPrecision = matched.reduce((sum, m, i) => sum + Math.log(m / (total[i] as number)), 0) / 4;
  const brevity = candidateLength >= referenceLength ? 1 : Math.exp(1 - referenceLength / Math.max(candidateLength, 1));
  return brevity * Math.exp(logPrecision);
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0);
  for (const word of a) {
    const current = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      current[j] = word === b[j - 1] ? (previous[j - 1] as number) + 1 : Math.max(previous[j] as number, current[j - 1] as number);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** ROUGE-L F-measure (Lin, 2004) with beta = 1.2 as pycocoevalcap uses, averaged over the pairs. */
export function meanRougeL(pairs: readonly { reference: string; candidate: string }[]): number {
  const beta = 1.2;
  let sum = 0;
  for (const { reference, candidate } of pairs) {
    const ref = words(reference);
    const cand = words(candidate);
    const lcs = lcsLength(ref, cand);
    if (lcs === 0) continue;
    const precision = lcs / cand.length;
    const recall = lcs / ref.length;
    sum += ((1 + beta ** 2) * precision * recall) / (recall + beta ** 2 * precision);
  }
  return pairs.length === 0 ? 0 : sum / pairs.length;
}

/** Area under the ROC curve by the Mann-Whitney U statistic, ties sharing their mean rank. NaN with one class. */
export function auroc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const positives = positive.filter(Boolean).length;
  const negatives = positive.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  const rankSum = ranks.reduce((sum, r, i) => sum + (positive[i] ? r : 0), 0);
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
