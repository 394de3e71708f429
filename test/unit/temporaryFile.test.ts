// The file an instance is received into: what is written is what ends up on disk, through the page cache or with
// O_DIRECT, whatever the chunking, and the disk holds the writer back rather than memory growing.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { probeDirectWrites, TemporaryFile } from "../../src/store/temporaryFile.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-temporary-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bytes that differ from offset to offset, so a misplaced block shows. */
function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

async function writeInChunks(file: TemporaryFile, bytes: Buffer, sizes: number[]): Promise<void> {
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    await file.write(bytes.subarray(offset, offset + size));
    offset += size;
  }
  await file.finish();
}

const LENGTHS = [0, 1, 4095, 4096, 4097, 524_288, 524_289, 1_048_576, 2_100_000, 3_333_333];
const CHUNKINGS = [[65_536], [1, 7, 4096, 100_000], [2_000_000], [524_288]];

describe.each([
  { mode: "page cache", direct: false },
  { mode: "O_DIRECT", direct: true },
])("TemporaryFile through the $mode", ({ direct }) => {
  it("writes exactly the bytes it was given, for every length and chunking", async () => {
    if (direct) expect(await probeDirectWrites(dir)).toBe(true); // this test machine's /tmp takes O_DIRECT
    for (const length of LENGTHS) {
      for (const sizes of CHUNKINGS) {
        const bytes = pattern(length, length + sizes[0]!);
        const file = await TemporaryFile.create(dir, direct);
        expect(file.direct).toBe(direct);
        await writeInChunks(file, bytes, sizes);
        expect(file.size).toBe(length);
        const written = await readFile(file.path);
        expect(written.length).toBe(length);
        expect(written.equals(bytes)).toBe(true);
        await file.discard();
      }
    }
  });

  it("asks the caller to wait once a megabyte is held, and goes on when the disk has caught up", async () => {
    const file = await TemporaryFile.create(dir, direct);
    const bytes = pattern(4 << 20);
    let waits = 0;
    for (let offset = 0; offset < bytes.length; offset += 256 * 1024) {
      const waiting = file.write(bytes.subarray(offset, offset + 256 * 1024));
      if (waiting) {
        waits += 1;
        await waiting;
      }
    }
    await file.finish();
    expect(waits).toBeGreaterThan(0);
    expect((await readFile(file.path)).equals(bytes)).toBe(true);
  });

  it("writes from pooled memory only while there is some, and through the page cache beyond", async () => {
    if (!direct) return;
    const open = await Promise.all(Array.from({ length: 40 }, () => TemporaryFile.create(dir, true)));
    expect(open.filter((file) => file.direct).length).toBeLessThan(40);
    expect(open.filter((file) => file.direct).length).toBeGreaterThan(0);
    const bytes = pattern(1_200_000);
    await Promise.all(open.map((file) => writeInChunks(file, bytes, [65_536])));
    for (const file of open) expect((await readFile(file.path)).equals(bytes)).toBe(true);
    await Promise.all(open.map((file) => file.discard()));
    expect((await TemporaryFile.create(dir, true)).direct).toBe(true);
  });

  it("deletes the file when discarded mid-write, and refuses writes after", async () => {
    const file = await TemporaryFile.create(dir, direct);
    await file.write(pattern(1_500_000));
    await file.discard();
    expect((await TemporaryFile.create(dir, direct)).direct).toBe(direct); // its blocks went back
    await rm(path.join(dir, (await readdir(dir))[0]!));
    await file.discard();
    expect(await readdir(dir)).toEqual([]);
    expect(() => file.write(Buffer.from("x"))).toThrow(/closed/);
  });

  it("gives its memory back, so that many files one after another all get written the same way", async () => {
    for (let i = 0; i < 80; i++) {
      const file = await TemporaryFile.create(dir, direct);
      expect(file.direct).toBe(direct);
      const bytes = pattern(600_000, i);
      await writeInChunks(file, bytes, [65_536]);
      expect((await readFile(file.path)).equals(bytes)).toBe(true);
      await (i % 2 === 0 ? file.discard() : rm(file.path));
    }
  });
});
