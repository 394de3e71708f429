// Instance files on a local volume. A file is first written to a temporary name, flushed to disk, and only then
// linked under its final name: link(2) never replaces an existing file, so two writers of one SOP Instance UID
// cannot overwrite each other, and a crash leaves either the whole file or none.
import { constants, createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { link, mkdir, open, readdir, rm, statfs, unlink } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";

export class OutOfSpaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutOfSpaceError";
  }
}

const NO_SPACE_CODES = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);

export function isOutOfSpace(error: unknown): boolean {
  return error instanceof OutOfSpaceError || NO_SPACE_CODES.has((error as NodeJS.ErrnoException)?.code ?? "");
}

/**
 * A file being received. Chunks are queued in a write stream (up to 1 MiB ahead of the disk) so the network and
 * the disk work in parallel; `finish()` flushes the file to stable storage.
 */
export class TemporaryFile {
  size = 0;
  private ended = false;
  /** The first write error (e.g. ENOSPC); the stream destroys itself on it, and every later call reports it. */
  private failure: Error | undefined;

  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
  ) {
    stream.on("error", (error) => (this.failure ??= error));
  }

  static async create(directory: string): Promise<TemporaryFile> {
    const file = path.join(directory, `${randomUUID()}.part`);
    const stream = createWriteStream(file, { flags: "wx", mode: 0o600, highWaterMark: 1 << 20, flush: true });
    await once(stream, "ready");
    return new TemporaryFile(file, stream);
  }

  async write(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    if (this.ended) throw new Error("temporary file already closed");
    this.size += chunk.length;
    if (!this.stream.write(chunk) && !this.stream.destroyed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off("drain", done).off("close", done);
          resolve();
        };
        this.stream.on("drain", done).on("close", done);
      });
    }
    this.throwIfFailed();
  }

  /** Writes what is queued, flushes it to stable storage (fsync) and closes the file. */
  async finish(): Promise<void> {
    this.throwIfFailed();
    if (this.ended) return;
    this.ended = true;
    this.stream.end();
    await finished(this.stream).catch(() => undefined);
    this.throwIfFailed();
  }

  /** Closes and deletes the file; safe to call more than once and after a failure. */
  async discard(): Promise<void> {
    this.ended = true;
    this.stream.destroy();
    await finished(this.stream).catch(() => undefined);
    await rm(this.path, { force: true });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

export type CommitOutcome = "created" | "identical-exists" | "different-exists";

export class InstanceFileStore {
  readonly temporaryDirectory: string;

  constructor(readonly root: string) {
    this.temporaryDirectory = path.join(root, ".incoming");
  }

  /** Creates the folders and removes temporary files left by a process that died mid-upload. */
  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(this.temporaryDirectory, { recursive: true, force: true });
    await mkdir(this.temporaryDirectory, { recursive: true });
  }

  createTemporaryFile(): Promise<TemporaryFile> {
    return TemporaryFile.create(this.temporaryDirectory);
  }

  /** Path of an instance file relative to the store root; UIDs are digits and dots, so safe as names. */
  relativePathFor(studyUID: string, seriesUID: string, sopInstanceUID: string): string {
    return path.join(studyUID, seriesUID, `${sopInstanceUID}.dcm`);
  }

  absolutePath(relativePath: string): string {
    return path.join(this.root, relativePath);
  }

  /**
   * Gives a finished temporary file its final name, unless a file is already there; then reports whether that
   * file has the same bytes. The temporary file is removed in every case.
   */
  async commit(temporary: TemporaryFile, relativePath: string): Promise<CommitOutcome> {
    const target = this.absolutePath(relativePath);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      try {
        await link(temporary.path, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        return (await sameContent(temporary.path, target)) ? "identical-exists" : "different-exists";
      }
      await syncDirectory(path.dirname(target));
      return "created";
    } finally {
      await unlink(temporary.path).catch(() => undefined);
    }
  }

  /** Removes a committed file whose index row could not be written. */
  async remove(relativePath: string): Promise<void> {
    await rm(this.absolutePath(relativePath), { force: true });
  }

  read(relativePath: string): Readable {
    return createReadStream(this.absolutePath(relativePath));
  }

  async freeBytes(): Promise<number> {
    const stats = await statfs(this.root);
    return stats.bavail * stats.bsize;
  }

  /** Storage readiness: the folder exists and a file can be created in it. */
  async check(): Promise<void> {
    const probe = await this.createTemporaryFile();
    await probe.discard();
  }

  /** Temporary files now present, for tests and diagnostics. */
  async pendingTemporaryFiles(): Promise<string[]> {
    return readdir(this.temporaryDirectory);
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [first, second] = await Promise.all([open(a, "r"), open(b, "r")]);
  try {
    const [statA, statB] = await Promise.all([first.stat(), second.stat()]);
    if (statA.size !== statB.size) return false;
    const size = 1 << 20;
    const bufferA = Buffer.allocUnsafe(size);
    const bufferB = Buffer.allocUnsafe(size);
    for (let position = 0; position < statA.size; position += size) {
      const [readA, readB] = await Promise.all([
        first.read(bufferA, 0, size, position),
        second.read(bufferB, 0, size, position),
      ]);
      if (readA.bytesRead !== readB.bytesRead) return false;
      if (!bufferA.subarray(0, readA.bytesRead).equals(bufferB.subarray(0, readB.bytesRead))) return false;
    }
    return true;
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
}
