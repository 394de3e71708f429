// One ONNX Runtime session per stage of a model set, created once. Execution providers come from config: "cuda"
// is tried first when asked for and the set falls back to the CPU with a warning when CUDA cannot be loaded (an
// onnxruntime-node install without its CUDA libraries, or a host without a GPU).
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { Logger } from "pino";
import { ModelSetError, STAGE_CONTRACT, type ModelSet, type StageName } from "./manifest.js";

export type ExecutionProvider = "cuda" | "cpu";

export interface SessionOptions {
  executionProviders: readonly ExecutionProvider[];
  /** Threads inside one operator; 0 lets ONNX Runtime choose. */
  intraOpThreads: number;
  logger?: Pick<Logger, "warn">;
}

export type StageSessions = Readonly<Record<StageName, ort.InferenceSession>>;

export interface LoadedModel {
  set: ModelSet;
  sessions: StageSessions;
  /** The providers actually in use, after any fallback. */
  executionProviders: ExecutionProvider[];
}

function expectedNames(set: ModelSet, stage: StageName): { inputs: string[]; outputs: string[] } {
  const contract = STAGE_CONTRACT[stage];
  if (stage !== "decoder") return { inputs: [...contract.inputs], outputs: [...contract.outputs] };
  const layers = Array.from({ length: set.manifest.stages.decoder.layers }, (_, i) => i);
  return {
    inputs: [...contract.inputs, ...layers.flatMap((i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`])],
    outputs: [...contract.outputs, ...layers.flatMap((i) => [`present.${i}.key`, `present.${i}.value`])],
  };
}

function checkNames(stage: StageName, session: ort.InferenceSession, expected: { inputs: string[]; outputs: string[] }): void {
  for (const [kind, actual, wanted] of [
    ["input", session.inputNames, expected.inputs],
    ["output", session.outputNames, expected.outputs],
  ] as const) {
    const missing = wanted.filter((n) => !actual.includes(n));
    const extra = actual.filter((n) => !wanted.includes(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new ModelSetError(
        `stage ${stage}: ${kind} names do not match the model contract` +
          (missing.length ? `; missing ${missing.join(", ")}` : "") +
          (extra.length ? `; unexpected ${extra.join(", ")}` : ""),
      );
    }
  }
}

async function createSession(path: string, providers: ExecutionProvider[], intraOpThreads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, {
    executionProviders: providers,
    intraOpNumThreads: intraOpThreads,
    graphOptimizationLevel: "all",
  });
}

/** Creates the five sessions; throws ModelSetError when a graph does not have the contract's names. */
export async function openModel(set: ModelSet, options: SessionOptions): Promise<LoadedModel> {
  let providers = [...options.executionProviders];
  const sessions: Partial<Record<StageName, ort.InferenceSession>> = {};
  for (const stage of Object.keys(STAGE_CONTRACT) as StageName[]) {
    const path = join(set.directory, set.manifest.stages[stage].file);
    let session: ort.InferenceSession;
    try {
      session = await createSession(path, providers, options.intraOpThreads);
    } catch (error) {
      if (!providers.includes("cuda")) throw error;
      options.logger?.warn({ stage, err: error }, "CUDA execution provider unavailable: falling back to the CPU");
      providers = providers.filter((p) => p !== "cuda");
      if (providers.length === 0) providers = ["cpu"];
      session = await createSession(path, providers, options.intraOpThreads);
    }
    checkNames(stage, session, expectedNames(set, stage));
    sessions[stage] = session;
  }
  return { set, sessions: sessions as StageSessions, executionProviders: providers };
}

export async function closeModel(model: LoadedModel): Promise<void> {
  await Promise.all(Object.values(model.sessions).map((s) => s.release()));
}
