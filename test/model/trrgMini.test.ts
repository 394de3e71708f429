// The bundled model set, run through onnxruntime-node, must reproduce what PyTorch computed for the same input
// when the set was exported (models/trrg-mini/reference, written by models/training/export.py).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { loadModelSet } from "../../src/inference/manifest.js";
import { closeModel, openModel, type LoadedModel } from "../../src/inference/sessions.js";
import { loadTokenizer, type ReportTokenizer } from "../../src/inference/tokenizer.js";
import { generateBeams, generateGreedy, generateGreedyBatch } from "../../src/pipeline/generate.js";
import { GreedyBatcher } from "../../src/pipeline/greedyBatcher.js";
import { encodeImage, interact, perceiveClues } from "../../src/pipeline/stages.js";

const MODEL_DIR = "models/trrg-mini";
const REFERENCE_DIR = `${MODEL_DIR}/reference`;
const TOLERANCE = 1e-4;

interface TensorEntry {
  dtype: "float32" | "int64";
  shape: number[];
}
interface Reference extends Record<string, unknown> {
  greedy: { clues: number[]; token_ids: number[] };
  tokenizer: { text: string; ids: number[] };
}

const reference = JSON.parse(readFileSync(`${REFERENCE_DIR}/reference.json`, "utf8")) as Reference;

function referenceTensor(name: string): ort.Tensor {
  const entry = reference[name] as TensorEntry;
  const bytes = readFileSync(`${REFERENCE_DIR}/${name}.bin`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return entry.dtype === "int64"
    ? new ort.Tensor("int64", new BigInt64Array(buffer), entry.shape)
    : new ort.Tensor("float32", new Float32Array(buffer), entry.shape);
}

function expectClose(actual: ort.Tensor, name: string): void {
  const expected = referenceTensor(name);
  expect(actual.dims, name).toEqual(expected.dims);
  const a = actual.data as Float32Array | BigInt64Array;
  const e = expected.data as Float32Array | BigInt64Array;
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(e[i])));
  expect(worst, `${name}: largest difference`).toBeLessThanOrEqual(TOLERANCE);
}

describe("trrg-mini model set: ONNX Runtime reproduces the PyTorch reference within 1e-4", () => {
  let model: LoadedModel;
  let tokenizer: ReportTokenizer;

  beforeAll(async () => {
    const set = await loadModelSet(MODEL_DIR);
    model = await openModel(set, { executionProviders: ["cpu"], intraOpThreads: 1 });
    tokenizer = await loadTokenizer(set);
  });
  afterAll(async () => {
    if (model) await closeModel(model);
  });

  it("vision: patch embeddings and the global image embedding", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    expectClose(features.patchEmbeddings, "patch_embeddings");
    expectClose(features.imageEmbedding, "image_embedding");
  });

  it("clue perception: a probability per finding and the clue embeddings", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    expectClose(new ort.Tensor("float32", Float32Array.from(perception.probabilities), [1, perception.probabilities.length]), "probabilities");
    expectClose(perception.clueTable, "clue_embeddings");
    expect(perception.probabilities).toHaveLength(model.set.manifest.findings.length);
  });

  it("clue interaction: the decoder prefix from patches and three clues, and from no clue at all", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    const prefix = await interact(model, features, perception, [0, 2, 5]);
    expectClose(prefix.embeddings, "prefix_embeddings");
    expectClose(prefix.mask, "prefix_mask");
    const bare = await interact(model, features, perception, []);
    expectClose(bare.embeddings, "prefix_embeddings.no_clues");
  });

  it("token embeddings and the decoder, first pass and one cached step", async () => {
    const embeds = (await model.sessions.embedTokens.run({ input_ids: referenceTensor("input_ids") })).inputs_embeds as ort.Tensor;
    expectClose(embeds, "inputs_embeds");
    const prefix = referenceTensor("prefix_embeddings");
    const [, prefixLength, width] = prefix.dims as [number, number, number];
    const [, tokens] = embeds.dims as [number, number];
    const inputs = new Float32Array((prefixLength + tokens) * width);
    inputs.set(prefix.data as Float32Array);
    inputs.set(embeds.data as Float32Array, prefixLength * width);
    const total = prefixLength + tokens;
    const { layers, heads, headDim } = model.set.manifest.stages.decoder;
    const emptyPast: Record<string, ort.Tensor> = {};
    for (let i = 0; i < layers; i++) {
      for (const kind of ["key", "value"]) emptyPast[`past_key_values.${i}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, headDim]);
    }
    const first = await model.sessions.decoder.run({
      inputs_embeds: new ort.Tensor("float32", inputs, [1, total, width]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from({ length: total }, (_, i) => BigInt(i)), [1, total]),
      ...emptyPast,
    });
    expectClose(first.logits as ort.Tensor, "decoder.first.logits");
    expectClose(first["present.0.key"] as ort.Tensor, "decoder.first.present.0.key");
    const step = (await model.sessions.embedTokens.run({ input_ids: new ort.Tensor("int64", BigInt64Array.of(9n), [1, 1]) })).inputs_embeds as ort.Tensor;
    const past: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(first)) if (name.startsWith("present.")) past[`past_key_values.${name.slice(8)}`] = tensor;
    const second = await model.sessions.decoder.run({
      inputs_embeds: step,
      attention_mask: new ort.Tensor("int64", new BigInt64Array(total + 1).fill(1n), [1, total + 1]),
      position_ids: new ort.Tensor("int64", BigInt64Array.of(BigInt(total)), [1, 1]),
      ...past,
    });
    expectClose(second.logits as ort.Tensor, "decoder.second.logits");
  });

  it("greedy generation gives the same tokens as the PyTorch generation loop", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    const prefix = await interact(model, features, perception, reference.greedy.clues);
    const { eosTokenId, maxNewTokens } = model.set.manifest.generation;
    const generated = await generateGreedy(model, prefix, { maxNewTokens, stopTokenIds: [eosTokenId] });
    expect(generated.tokenIds).toEqual(reference.greedy.token_ids);
  });

  it("batched greedy generation gives each report the tokens it gets alone, whatever its prefix length", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    // Different clue sets give prefixes of different lengths, padded to the longest in the batch.
    const clueSets = [[], reference.greedy.clues, [0, 1, 8, 11], [4]];
    const prefixes = await Promise.all(clueSets.map((clues) => interact(model, features, perception, clues)));
    const { eosTokenId, maxNewTokens } = model.set.manifest.generation;
    const options = { maxNewTokens, stopTokenIds: [eosTokenId] };
    const alone = await Promise.all(prefixes.map((prefix) => generateGreedy(model, prefix, options)));
    expect(new Set(alone.map((g) => g.tokenIds.join(","))).size).toBeGreaterThan(1);
    expect(await generateGreedyBatch(model, prefixes, options)).toEqual(alone);
    const short = await generateGreedyBatch(model, prefixes, { ...options, maxNewTokens: 5 });
    expect(short.every((g) => g.finish === "length" && g.tokenIds.length === 5)).toBe(true);
    expect(await generateGreedyBatch(model, prefixes, { ...options, maxNewTokens: 0 })).toEqual(prefixes.map(() => ({ tokenIds: [], finish: "length" })));
  });

  it("a greedy batcher decodes concurrent requests together, each with the tokens it gets alone", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    const prefixes = await Promise.all([[], reference.greedy.clues, [4]].map((clues) => interact(model, features, perception, clues)));
    const { eosTokenId, maxNewTokens } = model.set.manifest.generation;
    const options = { maxNewTokens, stopTokenIds: [eosTokenId] };
    const alone = await Promise.all(prefixes.map((prefix) => generateGreedy(model, prefix, options)));
    const decoder = model.sessions.decoder;
    const run = decoder.run.bind(decoder);
    const batchSizes: number[] = [];
    decoder.run = ((feeds: Record<string, ort.Tensor>, ...rest: never[]) => {
      batchSizes.push(feeds.inputs_embeds?.dims[0] as number);
      return run(feeds, ...rest);
    }) as typeof decoder.run;
    try {
      const batcher = new GreedyBatcher(model, 2);
      const batched = await Promise.all(prefixes.map((prefix) => batcher.generate(prefix)));
      expect(batched).toEqual(alone);
      // The first two requests share one batch; the third, over the limit, runs alone after it.
      expect(batchSizes[0]).toBe(2);
      expect(new Set(batchSizes)).toEqual(new Set([2, 1]));
      expect(batchSizes.filter((b) => b === 1)).toHaveLength(Math.max(...alone.slice(2).map((g) => g.tokenIds.length + 1)));
    } finally {
      decoder.run = run;
    }
    expect(() => new GreedyBatcher(model, 0)).toThrow(/maxBatch/);
  });

  it("beam search with one beam is greedy decoding; with four, distinct beams ranked by score", async () => {
    const features = await encodeImage(model, referenceTensor("pixel_values").data as Float32Array);
    const perception = await perceiveClues(model, features);
    const prefix = await interact(model, features, perception, reference.greedy.clues);
    const { eosTokenId, maxNewTokens } = model.set.manifest.generation;
    const options = { maxNewTokens, stopTokenIds: [eosTokenId], lengthPenalty: 1 };
    const [single] = await generateBeams(model, prefix, { ...options, numBeams: 1 });
    expect(single?.tokenIds).toEqual(reference.greedy.token_ids);
    const beams = await generateBeams(model, prefix, { ...options, numBeams: 4 });
    expect(beams).toHaveLength(4);
    expect(new Set(beams.map((b) => b.tokenIds.join(","))).size).toBe(4);
    for (let i = 1; i < beams.length; i++) expect(beams[i - 1]!.score).toBeGreaterThanOrEqual(beams[i]!.score);
    expect(beams.every((b) => b.finish === "stop")).toBe(true);
  });

  it("tokenizer.json read by @huggingface/tokenizers encodes as the trainer's tokenizer did", () => {
    expect(tokenizer.encode(reference.tokenizer.text)).toEqual(reference.tokenizer.ids);
  });
});
