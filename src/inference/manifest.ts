// A model set (DESIGN §5): manifest.json beside its ONNX graphs and tokenizer. Loading checks every file against
// the manifest's SHA-256, so that a set is refused whole, with the reason, rather than run half-replaced.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const stage = z.object({
  file: z.string().min(1),
  inputs: z.array(z.string().min(1)),
  outputs: z.array(z.string().min(1)),
});

const manifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  intendedUse: z.string(),
  views: z.array(z.enum(["frontal", "lateral"])).min(1),
  findings: z
    .array(
      z.object({
        name: z.string().min(1),
        snomed: z.object({ code: z.string(), display: z.string() }).nullable(),
        threshold: z.number().min(0).max(1),
      }),
    )
    .min(1),
  preprocess: z.object({
    size: z.number().int().positive(),
    windowing: z.enum(["dicom", "percentile"]),
    mean: z.number(),
    std: z.number().positive(),
  }),
  stages: z.object({
    vision: stage,
    perception: stage,
    interaction: stage,
    embedTokens: stage,
    decoder: stage.extend({
      layers: z.number().int().positive(),
      heads: z.number().int().positive(),
      headDim: z.number().int().positive(),
      hiddenSize: z.number().int().positive(),
      maxPositions: z.number().int().positive(),
    }),
  }),
  generation: z.object({
    bosTokenId: z.number().int().nonnegative(),
    eosTokenId: z.number().int().nonnegative(),
    padTokenId: z.number().int().nonnegative(),
    sectionTokenId: z.number().int().nonnegative(),
    maxNewTokens: z.number().int().positive(),
    numBeams: z.number().int().positive(),
  }),
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int() })),
});

export type ModelManifest = z.infer<typeof manifestSchema>;
export type StageName = keyof ModelManifest["stages"];

/** Input and output names each stage must have: the contract the pipeline is written against. */
export const STAGE_CONTRACT: Readonly<Record<StageName, { inputs: readonly string[]; outputs: readonly string[] }>> = {
  vision: { inputs: ["pixel_values"], outputs: ["patch_embeddings", "image_embedding"] },
  perception: { inputs: ["image_embedding"], outputs: ["probabilities", "clue_embeddings"] },
  interaction: { inputs: ["patch_embeddings", "clue_embeddings", "clue_mask"], outputs: ["prefix_embeddings", "prefix_mask"] },
  embedTokens: { inputs: ["input_ids"], outputs: ["inputs_embeds"] },
  decoder: { inputs: ["inputs_embeds", "attention_mask", "position_ids"], outputs: ["logits"] },
};

export class ModelSetError extends Error {
  override name = "ModelSetError";
}

export interface ModelSet {
  directory: string;
  manifest: ModelManifest;
  /** The manifest file's own SHA-256: the identity of the set, recorded with every result it makes. */
  manifestSha256: string;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

async function readOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelSetError(`${what} ${path} cannot be read (${code ?? String(error)})`);
  }
}

/** Reads and checks a model set: schema, every file present with its SHA-256, every stage file listed. */
export async function loadModelSet(directory: string): Promise<ModelSet> {
  const raw = await readOrFail(join(directory, "manifest.json"), "model manifest");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    throw new ModelSetError(`model manifest ${join(directory, "manifest.json")} is not JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ModelSetError(`model manifest is invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "unknown"}`);
  }
  const manifest = result.data;
  for (const [name, stageSpec] of Object.entries(manifest.stages)) {
    if (!(stageSpec.file in manifest.files)) throw new ModelSetError(`stage ${name}: ${stageSpec.file} is not listed in the manifest's files`);
  }
  if (!("tokenizer.json" in manifest.files)) throw new ModelSetError("tokenizer.json is not listed in the manifest's files");
  for (const [file, expected] of Object.entries(manifest.files)) {
    const actual = sha256(await readOrFail(join(directory, file), `model file`));
    if (actual !== expected.sha256) {
      throw new ModelSetError(`model file ${file}: SHA-256 ${actual} does not match the manifest's ${expected.sha256}`);
    }
  }
  return { directory, manifest, manifestSha256: sha256(raw) };
}
