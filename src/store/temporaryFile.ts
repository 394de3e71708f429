// The file an instance is received into before it is committed (src/store/fileStore.ts). Where the volume allows
// it, the file is written with O_DIRECT: the received bytes go from page-aligned blocks straight to the disk,
// without a second copy into the page cache. Instances are written once and read back rarely, so that copy buys
// nothing, and it is the largest cost of a store: on a virtual machine whose memory the host reclaims, every new
// page-cache page is a host page fault, some milliseconds for a 2 MB instance. Durability is the same either way:
// `finish()` fsyncs the file before it is linked under its name.
import { constants } from "node:fs";
import { open, rm, type FileHandle } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import path from "node:path";

// The engine's WebAssembly API, of which only Memory is used here (this project's TypeScript libraries omit it).
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum?: number }) => { readonly buffer: ArrayBuffer } };

/** Bytes held in memory, per file, beyond which write() waits for the disk. */
const HIGH_WATER_BYTES = 1 << 20;
/** Buffered files: received bytes are written in batches of at least this much, one write in flight at a time. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** Direct files: each writes from two blocks of this size in turn, one filling while the other is written. */
const BLOCK_BYTES = HIGH_WATER_BYTES / 2;
/** Direct writes start, and are as long as, a multiple of this (the largest logical block size of disks). */
const DIRECT_ALIGNMENT = 4096;
/** Blocks in the process's pool (32 MiB of address space, resident only as far as used): 32 files at once. */
const POOL_BLOCKS = 64;

/**
 * Page-aligned blocks for direct writes, shared by the whole process. They are cut from one WebAssembly.Memory:
 * the one kind of ArrayBuffer whose start the engine maps at a page boundary (O_DIRECT needs aligned memory).
 */
class AlignedBlocks {
  private static shared: AlignedBlocks | null | undefined;
  private readonly free: Buffer[] = [];

  private constructor(memory: { readonly buffer: ArrayBuffer }) {
    for (let i = 0; i < POOL_BLOCKS; i++) this.free.push(Buffer.from(memory.buffer, i * BLOCK_BYTES, BLOCK_BYTES));
  }

  /** The pool, or undefined where WebAssembly is off (node --jitless). */
  static get(): AlignedBlocks | undefined {
    if (AlignedBlocks.shared === undefined) {
      try {
        const pages = (POOL_BLOCKS * BLOCK_BYTES) / 65536;
        AlignedBlocks.shared = new AlignedBlocks(new WebAssembly.Memory({ initial: pages, maximum: pages }));
      } catch {
        AlignedBlocks.shared = null;
      }
    }
    return AlignedBlocks.shared ?? undefined;
  }

  /** `count` blocks, or undefined when fewer are free (the file is then written through the page cache). */
  take(count: number): Buffer[] | undefined {
    return this.free.length >= count ? this.free.splice(-count) : undefined;
  }

  give(blocks: Buffer[]): void {
    this.free.push(...blocks);
  }
}

/**
 * Whether files in `directory` can be written with O_DIRECT from the pool's blocks: a probe file is written and
 * removed. Not on every volume (tmpfs, some network and FUSE file systems refuse it).
 */
export async function probeDirectWrites(directory: string): Promise<boolean> {
  const blocks = AlignedBlocks.get()?.take(1);
  if (!blocks) return false;
  const probe = path.join(directory, `${randomUUID()}.probe`);
  try {
    const handle = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    try {
      const { bytesWritten } = await handle.write(blocks[0]!.fill(0, 0, DIRECT_ALIGNMENT), 0, DIRECT_ALIGNMENT, 0);
      return bytesWritten === DIRECT_ALIGNMENT;
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  } finally {
    AlignedBlocks.get()!.give(blocks);
    await rm(probe, { force: true });
  }
}

/** How a TemporaryFile gets its bytes to the disk. */
interface FileWriter {
  /** Takes the chunk (copying it or keeping it); a promise when the caller must wait for the disk first. */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Writes what is left and fsyncs; the file may still be closing when this settles. */
  finish(): Promise<void>;
  /** Stops writing and closes; the caller removes the file. */
  abandon(): Promise<void>;
}

/**
 * A file being received. Chunks are written while the next ones arrive, at most 1 MiB ahead of the disk, so the
 * network and the disk work in parallel; `finish()` flushes the file to stable storage.
 */
export class TemporaryFile {
  size = 0;
  private ended = false;

  private constructor(
    readonly path: string,
    private readonly writer: FileWriter,
    /** Whether the file is written with O_DIRECT (for diagnostics and tests). */
    readonly direct: boolean,
  ) {}

  /** A new file in `directory`, written with O_DIRECT when `direct` (see probeDirectWrites) and blocks are free. */
  static async create(directory: string, direct = false): Promise<TemporaryFile> {
    const file = path.join(directory, `${randomUUID()}.part`);
    const pool = direct ? AlignedBlocks.get() : undefined;
    const blocks = pool?.take(2);
    if (!blocks) return new TemporaryFile(file, new BufferedWriter(await open(file, "wx", 0o600)), false);
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    } catch (error) {
      pool!.give(blocks);
      throw error;
    }
    return new TemporaryFile(file, new DirectWriter(handle, blocks, () => pool!.give(blocks)), true);
  }

  /** Takes a chunk; returns a promise only when the caller must wait for the disk before sending more. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.ended) throw new Error("temporary file already closed");
    if (chunk.length === 0) return undefined;
    const waiting = this.writer.write(chunk);
    this.size += chunk.length;
    return waiting;
  }

  /** Writes what is queued, flushes it to stable storage (fsync) and closes the file. */
  async finish(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.writer.finish();
  }

  /** Closes and deletes the file; safe to call more than once and after a failure. */
  async discard(): Promise<void> {
    this.ended = true;
    await this.writer.abandon().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

/** The parts every writer shares: the handle, one write in flight, waiting callers, the first error. */
abstract class WriterBase implements FileWriter {
  protected writing: Promise<void> | undefined;
  /** Callers waiting for the disk to catch up. */
  private waiting: (() => void)[] = [];
  /** The first write error (e.g. ENOSPC); every later call reports it. */
  protected failure: Error | undefined;
  protected abandoned = false;
  private closed = false;

  constructor(protected readonly handle: FileHandle) {}

  abstract write(chunk: Buffer): Promise<void> | undefined;
  protected abstract writeRest(): Promise<void>;

  async finish(): Promise<void> {
    this.throwIfFailed();
    try {
      await this.writeRest();
      this.throwIfFailed();
      await this.handle.sync();
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
    // Durable once synced: the close need not hold up the commit.
    this.close().catch(() => undefined);
  }

  async abandon(): Promise<void> {
    this.abandoned = true;
    await this.writing;
    await this.close();
  }

  /** Runs one write; when it is done, `then` may start the next, and waiting callers go on if there is room. */
  protected startWrite(run: () => Promise<void>, then: () => void): void {
    this.writing = run().then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error as Error;
      },
    ).then(() => {
      this.writing = undefined;
      then();
      if (this.failure || this.hasRoom()) for (const resume of this.waiting.splice(0)) resume();
    });
  }

  /** A promise that settles once there is room again (or the file failed), then reports any failure. */
  protected waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.throwIfFailed());
  }

  protected abstract hasRoom(): boolean;

  protected throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  protected async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Writes through the page cache: the received chunks themselves are queued, and written with writev. */
class BufferedWriter extends WriterBase {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private writingBytes = 0;
  private ending = false;

  write(chunk: Buffer): Promise<void> | undefined {
    this.throwIfFailed();
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.writing && this.queuedBytes >= WRITE_BATCH_BYTES) this.writeQueued();
    return this.hasRoom() ? undefined : this.waitForRoom();
  }

  protected hasRoom(): boolean {
    return this.queuedBytes + this.writingBytes < HIGH_WATER_BYTES;
  }

  protected async writeRest(): Promise<void> {
    this.ending = true;
    // A finished write starts the next batch itself: wait until nothing is left.
    while (this.writing || (this.queuedBytes > 0 && !this.failure)) {
      if (!this.writing) this.writeQueued();
      await this.writing;
    }
  }

  override async abandon(): Promise<void> {
    this.queued = [];
    this.queuedBytes = 0;
    await super.abandon();
  }

  /** One writev of every queued chunk; when it is done, the next batch starts if one is ready. */
  private writeQueued(): void {
    const batch = this.queued;
    const bytes = this.queuedBytes;
    this.queued = [];
    this.queuedBytes = 0;
    this.writingBytes = bytes;
    this.startWrite(
      () => writevAll(this.handle, batch, bytes),
      () => {
        this.writingBytes = 0;
        if (!this.failure && !this.abandoned && this.queuedBytes >= (this.ending ? 1 : WRITE_BATCH_BYTES)) this.writeQueued();
      },
    );
  }
}

/**
 * Writes with O_DIRECT from two aligned blocks: chunks are copied into one while the other is being written, at
 * block-aligned offsets. The last block is padded to the alignment, and the file then truncated to its length.
 */
class DirectWriter extends WriterBase {
  private filling: Buffer;
  private filled = 0;
  /** The other block, when it is not being written. */
  private spare: Buffer | undefined;
  /** File offset of the next block. */
  private position = 0;
  private length = 0;
  private released = false;

  constructor(
    handle: FileHandle,
    blocks: Buffer[],
    private readonly release: () => void,
  ) {
    super(handle);
    [this.filling, this.spare] = blocks as [Buffer, Buffer];
  }

  write(chunk: Buffer): Promise<void> | undefined {
    this.throwIfFailed();
    // Also for the rest of a chunk that waited for the disk: once abandoned, the blocks may be another file's.
    if (this.abandoned) throw new Error("temporary file already closed");
    let offset = 0;
    while (offset < chunk.length) {
      if (this.filled === BLOCK_BYTES) {
        if (this.writing) {
          // Both blocks in use: the rest of the chunk waits for the disk.
          const rest = chunk.subarray(offset);
          return this.waitForRoom().then(() => this.write(rest));
        }
        this.writeFilled();
      }
      const copied = chunk.copy(this.filling, this.filled, offset);
      this.filled += copied;
      this.length += copied;
      offset += copied;
    }
    if (this.filled === BLOCK_BYTES && !this.writing) this.writeFilled();
    return undefined;
  }

  protected hasRoom(): boolean {
    return this.filled < BLOCK_BYTES || this.spare !== undefined;
  }

  protected async writeRest(): Promise<void> {
    try {
      while (this.writing) await this.writing;
      this.throwIfFailed();
      if (this.filled === BLOCK_BYTES) {
        this.writeFilled();
        while (this.writing) await this.writing;
        this.throwIfFailed();
      }
      if (this.filled > 0) {
        const padded = Math.ceil(this.filled / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
        this.filling.fill(0, this.filled, padded);
        // Tracked as the write in flight, so that abandon() waits for it before the blocks go back.
        this.writing = writeAt(this.handle, this.filling, padded, this.position);
        try {
          await this.writing;
        } finally {
          this.writing = undefined;
        }
        this.position += padded;
      }
      if (this.position !== this.length) await this.handle.truncate(this.length);
    } finally {
      if (!this.writing) this.releaseBlocks();
    }
  }

  override async abandon(): Promise<void> {
    try {
      await super.abandon();
    } finally {
      this.releaseBlocks();
    }
  }

  /** Writes the full block; the spare one becomes the block being filled. */
  private writeFilled(): void {
    const block = this.filling;
    const at = this.position;
    this.position += BLOCK_BYTES;
    this.filling = this.spare!;
    this.spare = undefined;
    this.filled = 0;
    this.startWrite(
      () => writeAt(this.handle, block, BLOCK_BYTES, at),
      () => {
        this.spare = block;
        if (!this.failure && !this.abandoned && this.filled === BLOCK_BYTES) this.writeFilled();
      },
    );
  }

  /** Gives the blocks back to the pool, once: callers make sure no write still reads from them. */
  private releaseBlocks(): void {
    if (this.released) return;
    this.released = true;
    this.release();
  }
}

/**
 * Writes `length` bytes of the block at `position`. A volume that fills up mid-write answers with a short count
 * (whole blocks): the rest is written again, which then fails with the real reason (ENOSPC).
 */
async function writeAt(handle: FileHandle, block: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await handle.write(block, done, length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    done += bytesWritten;
  }
}

/** Writes the buffers in order at the current position, resuming after a short write until all are written. */
async function writevAll(handle: FileHandle, buffers: Buffer[], total: number): Promise<void> {
  let remaining = buffers;
  let left = total;
  for (;;) {
    const { bytesWritten } = await handle.writev(remaining);
    left -= bytesWritten;
    if (left <= 0) return;
    if (bytesWritten === 0) throw new Error("write made no progress");
    remaining = dropBytes(remaining, bytesWritten);
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let skip = count;
  let first = 0;
  while (first < buffers.length && skip >= buffers[first]!.length) skip -= buffers[first++]!.length;
  const rest = buffers.slice(first);
  if (skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}
