// Instance files on a local volume. A file is first written to a temporary name, flushed to disk, and only then
// linked under its final name: link(2) never replaces an existing file, so two writers of one SOP Instance UID
// cannot overwrite each other, and a crash leaves either the whole file or none. A committed file is durable
// once its name is: the directory holding it is flushed, and so is each new directory's entry in its parent.
// The store root may be a volume shared by several processes (API replicas, workers): each process receives into
// a temporary folder of its own under .incoming, so that one starting up never removes another's uploads.
import { constants, createReadStream } from "node:fs";
import { link, mkdir, open, readdir, rm, stat, statfs, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { probeDirectWrites, TemporaryFile } from "./temporaryFile.js";

export { TemporaryFile };

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

export type CommitOutcome = "created" | "identical-exists" | "different-exists";

/** A process's temporary folder left untouched this long belongs to a process that is gone (no upload lasts a day). */
const ABANDONED_AFTER_MS = 24 * 3_600_000;

/**
 * This process's own temporary folder name: the host (a pod's name in Kubernetes) and the process id, so that a
 * process restarted in the same container clears what its predecessor left.
 */
function incomingFolderName(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Directories remembered as durable at most; past this, some are flushed again (harmless, only slower). */
const DURABLE_DIRECTORIES_KEPT = 10_000;

export class InstanceFileStore {
  readonly temporaryDirectory: string;
  /** Directories whose own entry, and every ancestor's, is known to be on stable storage. */
  private readonly durableDirectories = new Set<string>();
  /** Flushes under way of a directory's parent, so that concurrent commits into it wait for the same one. */
  private readonly durableSoon = new Map<string, Promise<void>>();
  private readonly directoryFlushes = new DirectoryFlushes();
  /** Whether temporary files are written with O_DIRECT (see temporaryFile.ts): probed when the store opens. */
  private directWrites = false;
  /** The free-space query in flight, shared by the requests that ask while it runs. */
  private freeBytesQuery: Promise<number> | undefined;

  constructor(
    readonly root: string,
    owner = incomingFolderName(),
  ) {
    this.temporaryDirectory = path.join(root, ".incoming", owner);
  }

  /**
   * Creates the folders and removes temporary files left by a process that died mid-upload: this process's own
   * earlier ones, and the folders of other processes untouched for a day.
   */
  async open(): Promise<void> {
    const created = await mkdir(this.root, { recursive: true });
    // A new store root is made durable at once: every instance's name hangs off it.
    if (created !== undefined) {
      for (let made = path.resolve(this.root); ; made = path.dirname(made)) {
        await syncDirectory(path.dirname(made));
        if (made === path.resolve(created) || made === path.dirname(made)) break;
      }
    }
    await rm(this.temporaryDirectory, { recursive: true, force: true });
    await mkdir(this.temporaryDirectory, { recursive: true });
    await removeAbandonedFolders(path.dirname(this.temporaryDirectory), Date.now() - ABANDONED_AFTER_MS);
    this.directWrites = await probeDirectWrites(this.temporaryDirectory);
  }

  createTemporaryFile(): Promise<TemporaryFile> {
    return TemporaryFile.create(this.temporaryDirectory, this.directWrites);
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
   * file has the same bytes. The temporary file is removed in every case. "created" is only reported once the
   * new name is durable: its directory is flushed, and so is the entry of every directory made for it.
   */
  async commit(temporary: TemporaryFile, relativePath: string): Promise<CommitOutcome> {
    const target = this.absolutePath(relativePath);
    const directory = path.dirname(target);
    let unlinked: Promise<void> | undefined;
    try {
      try {
        await this.linkInto(directory, temporary.path, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        return (await sameContent(temporary.path, target)) ? "identical-exists" : "different-exists";
      }
      // The temporary name goes while the new one is made durable.
      unlinked = unlink(temporary.path).catch(() => undefined);
      await Promise.all([this.directoryFlushes.flush(directory), this.makeDurable(directory), unlinked]);
      return "created";
    } finally {
      await (unlinked ?? unlink(temporary.path).catch(() => undefined));
    }
  }

  /** link(2), creating the directory first unless this process has already seen it durable. */
  private async linkInto(directory: string, existingPath: string, newPath: string): Promise<void> {
    if (this.durableDirectories.has(directory)) {
      try {
        await link(existingPath, newPath);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        // Removed since: made again, and flushed again, below.
        this.durableDirectories.delete(directory);
      }
    }
    await mkdir(directory, { recursive: true });
    await link(existingPath, newPath);
  }

  /**
   * Makes the entry of `directory` in its parent durable, and its parent's, up to the root: each is flushed once
   * in this process (the first commit into a directory, whoever made it, flushes its parent).
   */
  private async makeDurable(directory: string): Promise<void> {
    const inside = path.relative(this.root, directory);
    if (inside === "" || inside.startsWith("..") || path.isAbsolute(inside) || this.durableDirectories.has(directory)) return;
    let flushing = this.durableSoon.get(directory);
    if (!flushing) {
      const parent = path.dirname(directory);
      flushing = Promise.all([this.directoryFlushes.flush(parent), this.makeDurable(parent)]).then(() => {
        if (this.durableDirectories.size >= DURABLE_DIRECTORIES_KEPT) this.durableDirectories.clear();
        this.durableDirectories.add(directory);
      });
      this.durableSoon.set(directory, flushing);
      void flushing.finally(() => this.durableSoon.delete(directory)).catch(() => undefined);
    }
    await flushing;
  }

  /** Removes a committed file whose index row could not be written. */
  async remove(relativePath: string): Promise<void> {
    await rm(this.absolutePath(relativePath), { force: true });
  }

  read(relativePath: string): Readable {
    return createReadStream(this.absolutePath(relativePath));
  }

  /** Free bytes on the volume; callers that ask while a query is under way share its answer. */
  freeBytes(): Promise<number> {
    this.freeBytesQuery ??= statfs(this.root)
      .then((stats) => stats.bavail * stats.bsize)
      .finally(() => (this.freeBytesQuery = undefined));
    return this.freeBytesQuery;
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

/**
 * Directory flushes shared by the commits that need them: a commit into a directory waits for a flush that began
 * after its own change, so it joins the next flush, never one already under way; all that ask while one runs
 * share the one after it. Concurrent instances of one series then cost one fsync of its directory, not one each.
 */
class DirectoryFlushes {
  private readonly flushes = new Map<string, { running: Promise<void>; next: Promise<void> | undefined }>();

  /** Settles once a flush of `directory` that began after this call has completed. */
  flush(directory: string): Promise<void> {
    const state = this.flushes.get(directory);
    if (!state) return this.start(directory);
    const retry = () => this.start(directory);
    state.next ??= state.running.then(retry, retry);
    return state.next;
  }

  private start(directory: string): Promise<void> {
    const state = { running: syncDirectory(directory), next: undefined as Promise<void> | undefined };
    this.flushes.set(directory, state);
    const settled = () => {
      if (this.flushes.get(directory) === state && state.next === undefined) this.flushes.delete(directory);
    };
    state.running.then(settled, settled);
    return state.running;
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

/**
 * Removes what under `parent` last changed before `before`: a gone process's folder, or a loose temporary file of
 * a version that received into `parent` itself.
 */
async function removeAbandonedFolders(parent: string, before: number): Promise<void> {
  for (const name of await readdir(parent)) {
    const entry = path.join(parent, name);
    const changed = await stat(entry).then((s) => s.mtimeMs, () => Date.now());
    if (changed < before) await rm(entry, { recursive: true, force: true });
  }
}
