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

function emptyCache(model: LoadedModel): Cache {
  const { layers, heads, headDim } = model.set.manifest.stages.decoder;
  const cache: Cache = {};
  for (let i = 0; i < layers; i++) {
    for (const kind of ["key", "value"]) cache[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, headDim]);
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

function concatSequence(a: ort.Tensor, b: ort.Tensor): ort.Tensor {
  const [, lengthA, width] = a.dims as [number, number, number];
  const [, lengthB] = b.dims as [number, number, number];
  const data = new Float32Array((lengthA + lengthB) * width);
  data.set(a.data as Float32Array, 0);
  data.set(b.data as Float32Array, lengthA * width);
  return new ort.Tensor("float32", data, [1, lengthA + lengthB, width]);
}

function argmaxOfLastRow(logits: ort.Tensor): number {
  const [, length, vocab] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  let best = 0;
  let bestValue = -Infinity;
  for (let v = 0, offset = (length - 1) * vocab; v < vocab; v++) {
    const value = data[offset + v] as number;
    if (value > bestValue) {
      bestValue = value;
      best = v;
    }
  }
  return best;
}

/** Greedy decoding: the most likely token at every step. */
export async function generateGreedy(model: LoadedModel, prefix: DecoderPrefix, options: GenerationOptions): Promise<GeneratedTokens> {
  const { bosTokenId } = model.set.manifest.generation;
  const maxPositions = model.set.manifest.stages.decoder.maxPositions;
  const prefixMask = Array.from(prefix.mask.data as BigInt64Array);
  const mask: bigint[] = [...prefixMask, 1n];
  let position = prefixMask.filter((m) => m === 1n).length;
  let inputs = concatSequence(prefix.embeddings, await embedTokens(model, [bosTokenId]));
  let positions = BigInt64Array.from({ length: inputs.dims[1] as number }, (_, i) => BigInt(Math.min(i, position)));
  let cache = emptyCache(model);
  const tokenIds: number[] = [];
  while (tokenIds.length < options.maxNewTokens && position < maxPositions) {
    const result = await model.sessions.decoder.run({
      inputs_embeds: inputs,
      attention_mask: new ort.Tensor("int64", BigInt64Array.from(mask), [1, mask.length]),
      position_ids: new ort.Tensor("int64", positions, [1, positions.length]),
      ...cache,
    });
    const logits = result.logits;
    if (!logits) throw new Error("model output logits is missing");
    const token = argmaxOfLastRow(logits);
    if (options.stopTokenIds.includes(token)) return { tokenIds, finish: "stop" };
    tokenIds.push(token);
    cache = nextCache(result);
    inputs = await embedTokens(model, [token]);
    position += 1;
    positions = BigInt64Array.of(BigInt(position));
    mask.push(1n);
  }
  return { tokenIds, finish: "length" };
}
