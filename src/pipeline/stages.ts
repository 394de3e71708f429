// The TRRG stages over a loaded model set, each a plain function from one named value to the next:
// pixel_values → ImageFeatures → CluePerception → ClueSet → DecoderPrefix (generation is in generate.ts).
import * as ort from "onnxruntime-node";
import type { LoadedModel } from "../inference/sessions.js";

export interface ImageFeatures {
  /** [1, N, C] */
  patchEmbeddings: ort.Tensor;
  /** [1, E], unit length */
  imageEmbedding: ort.Tensor;
}

export interface CluePerception {
  /** Probability per finding, in the manifest's finding order. */
  probabilities: number[];
  /** [F, E]: the clue embedding of each finding (its positive disease sentence, from pre-training). */
  clueTable: ort.Tensor;
}

export interface DecoderPrefix {
  /** [1, P, D] */
  embeddings: ort.Tensor;
  /** [1, P] int64 */
  mask: ort.Tensor;
}

function output(result: ort.InferenceSession.ReturnType, name: string): ort.Tensor {
  const tensor = result[name];
  if (!tensor) throw new Error(`model output ${name} is missing`);
  return tensor;
}

export async function encodeImage(model: LoadedModel, pixelValues: Float32Array): Promise<ImageFeatures> {
  const size = model.set.manifest.preprocess.size;
  const result = await model.sessions.vision.run({ pixel_values: new ort.Tensor("float32", pixelValues, [1, 1, size, size]) });
  return { patchEmbeddings: output(result, "patch_embeddings"), imageEmbedding: output(result, "image_embedding") };
}

export async function perceiveClues(model: LoadedModel, features: ImageFeatures): Promise<CluePerception> {
  const result = await model.sessions.perception.run({ image_embedding: features.imageEmbedding });
  return {
    probabilities: Array.from(output(result, "probabilities").data as Float32Array),
    clueTable: output(result, "clue_embeddings"),
  };
}

/** The findings whose probability reaches the manifest's threshold, as indices into the finding list. */
export function confidentClues(model: LoadedModel, perception: CluePerception): number[] {
  return model.set.manifest.findings.flatMap((f, i) => ((perception.probabilities[i] as number) >= f.threshold ? [i] : []));
}

export async function interact(model: LoadedModel, features: ImageFeatures, perception: CluePerception, clues: readonly number[]): Promise<DecoderPrefix> {
  const [, width] = perception.clueTable.dims as [number, number];
  const table = perception.clueTable.data as Float32Array;
  const chosen = new Float32Array(clues.length * width);
  clues.forEach((finding, k) => chosen.set(table.subarray(finding * width, (finding + 1) * width), k * width));
  const result = await model.sessions.interaction.run({
    patch_embeddings: features.patchEmbeddings,
    clue_embeddings: new ort.Tensor("float32", chosen, [1, clues.length, width]),
    clue_mask: new ort.Tensor("int64", new BigInt64Array(clues.length).fill(1n), [1, clues.length]),
  });
  return { embeddings: output(result, "prefix_embeddings"), mask: output(result, "prefix_mask") };
}
