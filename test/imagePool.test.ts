// Decoding and preprocessing on worker threads gives exactly what the main thread gives, errors included.
import { readFile } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { PixelDecodeError } from "../src/dicom/pixelData.js";
import { makePhantomStudy } from "../src/phantom/study.js";
import { ImagePool } from "../src/pipeline/imagePool.js";
import { prepareInThread } from "../src/pipeline/reportStudy.js";

const SPEC = { size: 128, windowing: "dicom" as const, mean: 0.5, std: 0.25 };
const pool = new ImagePool(2);
afterAll(async () => {
  await pool.close();
});

describe("the image worker pool", () => {
  it("prepares an image exactly as the main thread does", async () => {
    const part10 = makePhantomStudy(2_000_777, { rows: 256, columns: 256, pixelSpacingMm: 1.4 }).images[0]!.part10;
    const [inWorker, inThread] = await Promise.all([pool.prepare(part10, SPEC), prepareInThread(part10, SPEC)]);
    expect(inWorker.input).toEqual(inThread.input);
    expect(inWorker.decodeMs).toBeGreaterThan(0);
  });

  it("prepares several images at once, each answer going to its own request", async () => {
    const files = ["jpeg-lossless.dcm", "jpegls-lossless.dcm", "rle-8bit.dcm", "htj2k-lossless.dcm"];
    const buffers = await Promise.all(files.map((f) => readFile(`test/fixtures/generated/${f}`)));
    const inWorkers = await Promise.all(buffers.map((b) => pool.prepare(b, SPEC)));
    for (const [i, buffer] of buffers.entries()) expect(inWorkers[i]!.input).toEqual((await prepareInThread(buffer, SPEC)).input);
  });

  it("gives back a decoding failure as the PixelDecodeError, with its reason", async () => {
    const damaged = Buffer.from(await readFile("test/fixtures/generated/jpeg-baseline.dcm"));
    damaged.fill(0xff, damaged.length - 600, damaged.length - 300);
    const error = await pool.prepare(damaged, SPEC).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PixelDecodeError);
    expect((error as PixelDecodeError).reason).toBe("corrupt");
  });
});
