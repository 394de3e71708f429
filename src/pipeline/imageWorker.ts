// Worker thread body: decodes a DICOM image and preprocesses it, off the main thread, so that several studies can
// be prepared at once on a multi-core host while the main thread drives the model.
import { parentPort } from "node:worker_threads";
import { decodeFirstFrame } from "../dicom/pixelData.js";
import { preprocess, type PreprocessSpec } from "./preprocess.js";

export interface PrepareRequest {
  id: number;
  part10: Uint8Array;
  spec: PreprocessSpec;
}

export type PrepareReply =
  | { id: number; ok: true; input: Float32Array; decodeMs: number; preprocessMs: number }
  | { id: number; ok: false; name: string; message: string; reason?: string };

parentPort?.on("message", (request: PrepareRequest) => {
  void (async () => {
    try {
      const started = performance.now();
      const decoded = await decodeFirstFrame(Buffer.from(request.part10.buffer, request.part10.byteOffset, request.part10.byteLength));
      const decodedAt = performance.now();
      const input = preprocess(decoded, request.spec);
      const reply: PrepareReply = { id: request.id, ok: true, input, decodeMs: decodedAt - started, preprocessMs: performance.now() - decodedAt };
      parentPort?.postMessage(reply, [input.buffer as ArrayBuffer]);
    } catch (error) {
      const e = error as Error & { reason?: string };
      parentPort?.postMessage({ id: request.id, ok: false, name: e.name, message: e.message, ...(e.reason ? { reason: e.reason } : {}) } satisfies PrepareReply);
    }
  })();
});
