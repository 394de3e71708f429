// Autoregressive generation over the decoder graph with its KV cache (past_key_values.* in, present.* out, the
// Optimum layout): the prefix from clue interaction and the BOS token go in first, then one token per step.
import * as ort from "onnxruntime-node";
import type { LoadedModel } from "../inference/sessions.js";
import type { DecoderPrefix } from "./stages.js";

export interface GenerationOptions {
  maxNewTokens: number;
  /** Token ids that end generation (the EOS token at least). */
  stopTokenIds: readonly number[];
}

export interface GeneratedTokens {
  tokenIds: number[];
  /** Why generation ended: a stop token, or the token limit. */
  finish: "stop" | "length";
}

type Cache = Record<string, ort.Tensor>;

function emptyCache(model: LoadedModel, batch = 1): Cache {
  const { layers, heads, headDim } = model.set.manifest.stages.decoder;
  const cache: Cache = {};
  for (let i = 0; i < layers; i++) {
    for (const kind of ["key", "value"]) cache[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [batch, heads, 0, headDim]);
  }
  return cache;
}

function nextCache(result: ort.InferenceSession.ReturnType): Cache {
  const cache: Cache = {};
  for (const [name, tensor] of Object.entries(result)) {
    if (name.startsWith("present.")) cache[`past_key_values.${name.slice("present.".length)}`] = tensor;
  }
  return cache;
}

async function embedTokens(model: LoadedModel, ids: readonly number[]): Promise<ort.Tensor> {
  const result = await model.sessions.embedTokens.run({
    input_ids: new ort.Tensor("int64", BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
  });
  const embeds = result.inputs_embeds;
  if (!embeds) throw new Error("model output inputs_embeds is missing");
  return embeds;
}

/** The first decoder pass of one prefix (see firstBatchPass), and the position the next token will have. */
async function firstPass(model: LoadedModel, prefix: DecoderPrefix) {
  const batch = await firstBatchPass(model, [prefix]);
  return {
    inputs: batch.inputs as ort.Tensor,
    positions: batch.positions.data as BigInt64Array,
    mask: batch.mask[0] as bigint[],
    position: batch.nextPositions[0] as number,
  };
}

/** Greedy decoding: the most likely token at every step. */
export async function generateGreedy(model: LoadedModel, prefix: DecoderPrefix, options: GenerationOptions): Promise<GeneratedTokens> {
  const [generated] = await generateGreedyBatch(model, [prefix], options);
  return generated as GeneratedTokens;
}

/**
 * The first decoder pass of several prefixes as one batch: each prefix is padded at its end to the longest one
 * (padded slots masked and given no position), then followed by the BOS token. Masked keys get no attention
 * weight, so every row decodes as it would alone.
 */
async function firstBatchPass(model: LoadedModel, prefixes: readonly DecoderPrefix[]) {
  const width = prefixes[0]?.embeddings.dims[2] as number;
  const longest = Math.max(...prefixes.map((p) => p.embeddings.dims[1] as number));
  const length = longest + 1;
  const bos = (await embedTokens(model, [model.set.manifest.generation.bosTokenId])).data as Float32Array;
  const data = new Float32Array(prefixes.length * length * width);
  const mask = new BigInt64Array(prefixes.length * length);
  const positions = new BigInt64Array(prefixes.length * length);
  const nextPositions = prefixes.map((prefix, row) => {
    const prefixMask = prefix.mask.data as BigInt64Array;
    const real = prefixMask.filter((m) => m === 1n).length;
    data.set(prefix.embeddings.data as Float32Array, row * length * width);
    data.set(bos, (row * length + longest) * width);
    mask.set(prefixMask, row * length);
    mask[row * length + longest] = 1n;
    for (let i = 0; i < length; i++) positions[row * length + i] = BigInt(i === longest ? real : Math.min(i, real));
    return real;
  });
  return {
    inputs: new ort.Tensor("float32", data, [prefixes.length, length, width]),
    mask: Array.from({ length: prefixes.length }, (_, row) => Array.from(mask.subarray(row * length, (row + 1) * length))),
    positions: new ort.Tensor("int64", positions, [prefixes.length, length]),
    nextPositions,
  };
}

/** The most likely token of each row, read from the last position of the logits [B, T, V]. */
function argmaxOfLastRows(logits: ort.Tensor): number[] {
  const [batch, length, vocab] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  return Array.from({ length: batch }, (_, row) => {
    let best = 0;
    let bestValue = -Infinity;
    for (let v = 0, offset = (row * length + length - 1) * vocab; v < vocab; v++) {
      const value = data[offset + v] as number;
      if (value > bestValue) {
        bestValue = value;
        best = v;
      }
    }
    return best;
  });
}

/**
 * Greedy decoding of several reports at once, one decoder run per step for the whole batch: on a CPU a step of
 * a few rows costs little more than a step of one (bench/pipeline.ts measures it). A row that has stopped rides
 * along until every row has stopped, its tokens no longer recorded.
 */
export async function generateGreedyBatch(
  model: LoadedModel,
  prefixes: readonly DecoderPrefix[],
  options: GenerationOptions,
): Promise<GeneratedTokens[]> {
  const { maxPositions } = model.set.manifest.stages.decoder;
  if (options.maxNewTokens < 1) return prefixes.map(() => ({ tokenIds: [], finish: "length" }));
  const first = await firstBatchPass(model, prefixes);
  const masks = first.mask;
  const rowPositions = [...first.nextPositions];
  let inputs: ort.Tensor = first.inputs;
  let positions: ort.Tensor = first.positions;
  let cache = emptyCache(model, prefixes.length);
  const results: (GeneratedTokens | undefined)[] = prefixes.map(() => undefined);
  const tokens: number[][] = prefixes.map(() => []);
  for (let step = 0; results.some((r) => r === undefined); step++) {
    const result = await model.sessions.decoder.run({
      inputs_embeds: inputs,
      attention_mask: new ort.Tensor("int64", BigInt64Array.from(masks.flat()), [prefixes.length, (masks[0] as bigint[]).length]),
      position_ids: positions,
      ...cache,
    });
    const logits = result.logits;
    if (!logits) throw new Error("model output logits is missing");
    const next = argmaxOfLastRows(logits);
    next.forEach((token, row) => {
      if (results[row] !== undefined) return;
      if (options.stopTokenIds.includes(token)) results[row] = { tokenIds: tokens[row] as number[], finish: "stop" };
      else {
        (tokens[row] as number[]).push(token);
        const atLimit = step + 1 >= options.maxNewTokens || (rowPositions[row] as number) + 1 >= maxPositions;
        if (atLimit) results[row] = { tokenIds: tokens[row] as number[], finish: "length" };
      }
    });
    if (results.every((r) => r !== undefined)) break;
    cache = nextCache(result);
    const embeds = await model.sessions.embedTokens.run({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(next.map(BigInt)), [prefixes.length, 1]),
    });
    inputs = embeds.inputs_embeds as ort.Tensor;
    rowPositions.forEach((p, row) => (rowPositions[row] = p + 1));
    positions = new ort.Tensor("int64", BigInt64Array.from(rowPositions.map(BigInt)), [prefixes.length, 1]);
    for (const mask of masks) mask.push(1n);
  }
  return results as GeneratedTokens[];
}

export interface BeamOptions extends GenerationOptions {
  numBeams: number;
  /** Scores are divided by length^lengthPenalty when beams are compared (Hugging Face's convention; 1 = mean). */
  lengthPenalty: number;
}

export interface Beam extends GeneratedTokens {
  /** Sum of the tokens' log-probabilities. */
  logProbability: number;
  /** logProbability / length^lengthPenalty: what the beams are ranked by. */
  score: number;
}

interface LiveBeam {
  tokenIds: number[];
  logProbability: number;
}

/** Log-softmax of one row of logits. */
function logSoftmaxRow(data: Float32Array, offset: number, vocab: number): Float32Array {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, data[offset + v] as number);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp((data[offset + v] as number) - max);
  const logZ = max + Math.log(sum);
  const out = new Float32Array(vocab);
  for (let v = 0; v < vocab; v++) out[v] = (data[offset + v] as number) - logZ;
  return out;
}

/** The cache rows of the beams that survive, in their new order (the batch axis is the beam). */
function reorderCache(cache: Cache, origins: readonly number[]): Cache {
  const out: Cache = {};
  for (const [name, tensor] of Object.entries(cache)) {
    const [, heads, length, headDim] = tensor.dims as [number, number, number, number];
    const row = heads * length * headDim;
    const source = tensor.data as Float32Array;
    const data = new Float32Array(origins.length * row);
    origins.forEach((origin, i) => data.set(source.subarray(origin * row, (origin + 1) * row), i * row));
    out[name] = new ort.Tensor("float32", data, [origins.length, heads, length, headDim]);
  }
  return out;
}

function ranked(beam: LiveBeam, lengthPenalty: number, finish: GeneratedTokens["finish"]): Beam {
  const length = Math.max(beam.tokenIds.length, 1);
  return { ...beam, finish, score: beam.logProbability / length ** lengthPenalty };
}

/**
 * Beam search: keeps the numBeams most likely continuations at every step, all beams run as one batch over the
 * decoder. Returns the finished beams, best first. With numBeams 1 it is greedy decoding.
 */
export async function generateBeams(model: LoadedModel, prefix: DecoderPrefix, options: BeamOptions): Promise<Beam[]> {
  const maxPositions = model.set.manifest.stages.decoder.maxPositions;
  let { inputs, positions, mask, position } = await firstPass(model, prefix);
  let cache = emptyCache(model);
  let live: LiveBeam[] = [{ tokenIds: [], logProbability: 0 }];
  const finished: Beam[] = [];
  for (let step = 0; step < options.maxNewTokens && position < maxPositions && live.length > 0; step++) {
    const result = await model.sessions.decoder.run({
      inputs_embeds: inputs,
      attention_mask: new ort.Tensor("int64", BigInt64Array.from({ length: live.length * mask.length }, (_, i) => mask[i % mask.length] as bigint), [live.length, mask.length]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from({ length: live.length * positions.length }, (_, i) => positions[i % positions.length] as bigint), [live.length, positions.length]),
      ...cache,
    });
    const logits = result.logits;
    if (!logits) throw new Error("model output logits is missing");
    const [, length, vocab] = logits.dims as [number, number, number];
    const candidates: { origin: number; token: number; logProbability: number }[] = [];
    live.forEach((beam, origin) => {
      const logp = logSoftmaxRow(logits.data as Float32Array, (origin * length + length - 1) * vocab, vocab);
      // Only the 2 * numBeams best tokens of a beam can make the next 2 * numBeams candidates.
      const best = Array.from(logp.keys()).sort((a, b) => (logp[b] as number) - (logp[a] as number)).slice(0, 2 * options.numBeams);
      for (const token of best) candidates.push({ origin, token, logProbability: beam.logProbability + (logp[token] as number) });
    });
    candidates.sort((a, b) => b.logProbability - a.logProbability);
    const next: { origin: number; beam: LiveBeam }[] = [];
    for (const c of candidates) {
      if (next.length === options.numBeams) break;
      const beam = { tokenIds: [...(live[c.origin] as LiveBeam).tokenIds], logProbability: c.logProbability };
      if (options.stopTokenIds.includes(c.token)) finished.push(ranked(beam, options.lengthPenalty, "stop"));
      else next.push({ origin: c.origin, beam: { ...beam, tokenIds: [...beam.tokenIds, c.token] } });
    }
    live = next.map((n) => n.beam);
    if (finished.length >= options.numBeams) return finished.sort((a, b) => b.score - a.score).slice(0, options.numBeams);
    if (live.length === 0) break;
    cache = reorderCache(nextCache(result), next.map((n) => n.origin));
    const embeds = await model.sessions.embedTokens.run({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(live.map((b) => BigInt(b.tokenIds[b.tokenIds.length - 1] as number))), [live.length, 1]),
    });
    inputs = embeds.inputs_embeds as ort.Tensor;
    position += 1;
    positions = BigInt64Array.of(BigInt(position));
    mask = [...mask, 1n];
  }
  for (const beam of live) finished.push(ranked(beam, options.lengthPenalty, "length"));
  return finished.sort((a, b) => b.score - a.score).slice(0, options.numBeams);
}
