// A model set is refused whole, with the reason, when its files do not match its manifest or the model contract.
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadModelSet, ModelSetError } from "../../src/inference/manifest.js";
import { closeModel, openModel } from "../../src/inference/sessions.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-modelset-"));
  await cp("models/trrg-mini", dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface ManifestJson {
  preprocess: Record<string, unknown>;
  stages: Record<string, { file: string }>;
  files: Record<string, unknown>;
}

async function editManifest(edit: (m: ManifestJson) => void): Promise<void> {
  const file = path.join(dir, "manifest.json");
  const manifest = JSON.parse(await readFile(file, "utf8")) as ManifestJson;
  edit(manifest);
  await writeFile(file, JSON.stringify(manifest));
}

describe("loading a model set", () => {
  it("loads the bundled set and names it by the manifest's SHA-256", async () => {
    const set = await loadModelSet(dir);
    expect(set.manifest.name).toBe("trrg-mini");
    expect(set.manifestSha256).toBe(createHash("sha256").update(await readFile(path.join(dir, "manifest.json"))).digest("hex"));
  });

  it("refuses a set with a file missing, naming the file", async () => {
    await unlink(path.join(dir, "decoder.onnx"));
    await expect(loadModelSet(dir)).rejects.toThrow(/decoder\.onnx cannot be read \(ENOENT\)/);
  });

  it("refuses a file whose SHA-256 differs from the manifest", async () => {
    const file = path.join(dir, "tokenizer.json");
    await writeFile(file, (await readFile(file, "utf8")).replace("[UNK]", "[UNX]"));
    await expect(loadModelSet(dir)).rejects.toThrow(/tokenizer\.json: SHA-256 [0-9a-f]{64} does not match/);
  });

  it("refuses a manifest without a folder of its own", async () => {
    await expect(loadModelSet(path.join(dir, "nowhere"))).rejects.toThrow(ModelSetError);
  });

  it("refuses a manifest that is not JSON or misses a field, saying where", async () => {
    await writeFile(path.join(dir, "manifest.json"), "{ not json");
    await expect(loadModelSet(dir)).rejects.toThrow(/is not JSON/);
    await cp("models/trrg-mini/manifest.json", path.join(dir, "manifest.json"));
    await editManifest((m) => delete m.preprocess.size);
    await expect(loadModelSet(dir)).rejects.toThrow(/invalid at preprocess\.size/);
  });

  it("refuses a stage file that the manifest does not list", async () => {
    await editManifest((m) => {
      m.stages.vision!.file = "other.onnx";
    });
    await expect(loadModelSet(dir)).rejects.toThrow(/stage vision: other\.onnx is not listed/);
  });

  it("refuses a graph whose input and output names are not the contract's", async () => {
    // perception.onnx in the place of vision.onnx, its checksum updated: the files match, the contract does not
    const perception = await readFile(path.join(dir, "perception.onnx"));
    await writeFile(path.join(dir, "vision.onnx"), perception);
    await editManifest((m) => {
      m.files["vision.onnx"] = { sha256: createHash("sha256").update(perception).digest("hex"), bytes: perception.length };
    });
    const set = await loadModelSet(dir);
    await expect(openModel(set, { executionProviders: ["cpu"], intraOpThreads: 1 })).rejects.toThrow(
      /stage vision: input names do not match the model contract; missing pixel_values; unexpected image_embedding/,
    );
  });

  it("falls back to the CPU with a warning when CUDA is asked for and cannot load", async () => {
    const warnings: unknown[] = [];
    const model = await openModel(await loadModelSet(dir), {
      executionProviders: ["cuda", "cpu"],
      intraOpThreads: 1,
      logger: { warn: (...args: unknown[]) => warnings.push(args) },
    });
    expect(model.executionProviders).toEqual(["cpu"]);
    expect(warnings.length).toBeGreaterThan(0);
    await closeModel(model);
  });
});
