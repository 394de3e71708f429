// Dynamic batching of greedy generation across the studies in flight: reports that reach generation while
// another batch is decoding wait for it and then decode together, one decoder run per step for all of them. With
// one study at a time nothing waits (the batch is cut on the next turn of the event loop), so latency stays that
// of generating alone.
import type { LoadedModel } from "../inference/sessions.js";
import { generateGreedyBatch, type GeneratedTokens, type GenerationOptions } from "./generate.js";
import { reportGenerationOptions } from "./reportStudy.js";
import type { DecoderPrefix } from "./stages.js";

interface Pending {
  prefix: DecoderPrefix;
  resolve: (tokens: GeneratedTokens) => void;
  reject: (error: unknown) => void;
}

export class GreedyBatcher {
  private readonly queue: Pending[] = [];
  private draining = false;
  /** The model's own generation settings, the same as for a report generated alone. */
  private readonly options: GenerationOptions;

  constructor(
    private readonly model: LoadedModel,
    /** The most reports decoded in one batch. */
    private readonly maxBatch: number,
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`maxBatch must be a positive integer, not ${maxBatch}`);
    this.options = reportGenerationOptions(model);
  }

  generate(prefix: DecoderPrefix): Promise<GeneratedTokens> {
    return new Promise((resolve, reject) => {
      this.queue.push({ prefix, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await generateGreedyBatch(this.model, batch.map((p) => p.prefix), this.options);
        batch.forEach((pending, i) => pending.resolve(results[i] as GeneratedTokens));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.draining = false;
  }
}
