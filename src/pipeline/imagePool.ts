// A small pool of worker threads that decode and preprocess images (imageWorker.ts). Errors come back as the
// same error classes the in-thread path throws, so callers handle both alike.
import { Worker } from "node:worker_threads";
import { PixelDecodeError, type PixelDecodeReason } from "../dicom/pixelData.js";
import type { PreprocessSpec } from "./preprocess.js";
import type { PrepareReply, PrepareRequest } from "./imageWorker.js";

export interface PreparedImage {
  input: Float32Array;
  decodeMs: number;
  preprocessMs: number;
}

/**
 * The built service runs imageWorker.js directly. Under tsx (tests, benchmarks) the worker thread does not inherit
 * tsx's module hooks, so it registers them before importing imageWorker.ts.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./imageWorker.js", import.meta.url));
  const source = new URL("./imageWorker.ts", import.meta.url).href;
  const bootstrap = `import("tsx/esm/api").then((api) => { api.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { eval: true });
}

interface Pending {
  resolve: (image: PreparedImage) => void;
  reject: (error: Error) => void;
}

export class ImagePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private nextWorker = 0;
  private closing = false;

  constructor(size: number) {
    for (let slot = 0; slot < size; slot++) this.workers.push(this.spawn(slot));
  }

  /** A worker that dies (a crash in a codec) fails what it held and is replaced, so the pool keeps working. */
  private spawn(slot: number): Worker {
    const worker = startWorker();
    worker.on("message", (reply: PrepareReply) => this.settle(reply));
    worker.on("error", (error) => this.failAll(error));
    worker.on("exit", (code) => {
      if (this.closing) return;
      this.failAll(new Error(`image worker stopped (exit code ${code})`));
      this.workers[slot] = this.spawn(slot);
    });
    return worker;
  }

  private settle(reply: PrepareReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (reply.ok) {
      pending.resolve({ input: reply.input, decodeMs: reply.decodeMs, preprocessMs: reply.preprocessMs });
    } else if (reply.name === "PixelDecodeError") {
      pending.reject(new PixelDecodeError((reply.reason ?? "malformed") as PixelDecodeReason, reply.message));
    } else {
      const error = new Error(reply.message);
      error.name = reply.name;
      pending.reject(error);
    }
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  /** Decodes and preprocesses one Part 10 image on the next worker, round robin. */
  prepare(part10: Buffer, spec: PreprocessSpec): Promise<PreparedImage> {
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length] as Worker;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // One copy (the Buffer may share a pooled ArrayBuffer), then moved to the worker rather than cloned again.
      const bytes = new Uint8Array(part10);
      worker.postMessage({ id, part10: bytes, spec } satisfies PrepareRequest, [bytes.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
