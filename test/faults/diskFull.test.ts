// Fault: the instance volume fills up during STOW-RS. The API replica's TRRG_STORAGE_DIR is a small tmpfs, and the
// free-space reserve is off (TRRG_STORAGE_MIN_FREE=0), so the real ENOSPC of write(2) is what stops it. What did
// not fit must be refused with Failure Reason 0xA700 (Out of Resources; PS3.18 §10.5.3.1 Table 10.5.3-1 for the
// HTTP status, Annex I §I.2.2 for the reason), and nothing may be half-stored: every index row has its whole file,
// every file has its row, no temporary file is left in .incoming, no refused instance is indexed. Once the volume
// is grown (remounted bigger: nothing is deleted), the sender's retry of the refused instances must succeed and
// every study must be reported.
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FailureReason } from "../../src/dicomweb/storeResponse.js";
import { makePhantomStudy, type PhantomStudy } from "../../src/phantom/study.js";
import { countOf, printCounts, SMALL_PHANTOM, startCluster, storeStudy, untilReported, type Cluster } from "../support/cluster.js";

const STUDIES = 24;
const BIG = "64m";
const PAGE = 4096;

const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(3_600_000 + i, SMALL_PHANTOM));
const pages = (bytes: number) => Math.ceil(bytes / PAGE);

/**
 * A volume (about 3 MiB) that fills in the middle of a request: the first two-image study past the middle finds
 * room for its first instance and half its second, so one STOW-RS meets ENOSPC mid-write and is answered 202.
 * tmpfs counts file pages only (directories take none).
 */
function smallVolumePages(): { pages: number; splitStudy: number } {
  const splitStudy = studies.findIndex((s, i) => i >= STUDIES / 2 && s.images.length === 2);
  const before = studies.slice(0, splitStudy).flatMap((s) => s.images);
  const [first, second] = studies[splitStudy]!.images;
  const fitting = [...before, first!].reduce((sum, image) => sum + pages(image.part10.length), 0);
  return { pages: fitting + Math.floor(pages(second!.part10.length) / 2), splitStudy };
}

let cluster: Cluster;
let mountPoint: string | undefined;

beforeAll(async () => {
  cluster = await startCluster();
  mountPoint = await mkdtemp(path.join(tmpdir(), "trrg-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${smallVolumePages().pages * PAGE},mode=0700`, "tmpfs", mountPoint]);
});
afterAll(async () => {
  try {
    await cluster?.stop();
  } finally {
    if (mountPoint) {
      execFileSync("umount", [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  }
});

interface SopReference {
  sopInstanceUID: string | undefined;
  failureReason?: number;
}

/** The Referenced SOP Sequence (0008,1199) and Failed SOP Sequence (0008,1198) of a Store Instances Response. */
function storeResponse(body: unknown): { stored: SopReference[]; failed: SopReference[] } {
  const dataset = (body ?? {}) as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
  const items = (tag: string) => dataset[tag]?.Value ?? [];
  const reference = (item: Record<string, { Value?: unknown[] }>): SopReference => ({
    sopInstanceUID: item["00081155"]?.Value?.[0] as string | undefined,
    ...(item["00081197"] ? { failureReason: item["00081197"].Value?.[0] as number } : {}),
  });
  return { stored: items("00081199").map(reference), failed: items("00081198").map(reference) };
}

/** Every plain file under the volume, relative to it. */
async function filesOn(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name))).sort();
}

/**
 * The invariants of "nothing half-stored", over the instances sent so far: each index row has its file, of the size
 * recorded and with the bytes sent; each file on the volume is a row's; nothing else is indexed.
 */
async function checkNothingHalfStored(root: string, sent: Map<string, Buffer>, studies: readonly PhantomStudy[]) {
  const rows = await cluster.db
    .selectFrom("instances")
    .select(["sop_instance_uid", "file_path", "file_size"])
    .where("study_instance_uid", "in", studies.map((s) => s.studyInstanceUID))
    .execute();
  const mismatched: string[] = [];
  for (const row of rows) {
    const bytes = sent.get(row.sop_instance_uid);
    const onDisk = await readFile(path.join(root, row.file_path)).catch(() => undefined);
    if (!bytes || !onDisk || Number(row.file_size) !== bytes.length || (await stat(path.join(root, row.file_path))).size !== bytes.length || !onDisk.equals(bytes)) {
      mismatched.push(row.sop_instance_uid);
    }
  }
  const files = await filesOn(root);
  const indexed = new Set(rows.map((r) => r.file_path));
  return {
    rows: rows.length,
    files: files.length,
    mismatched,
    unindexedFiles: files.filter((f) => !indexed.has(f) && !f.startsWith(`.incoming${path.sep}`)),
    // Each process receives into .incoming/<host>-<pid>/ (fileStore.ts): no file may be left in any of them.
    temporaryFiles: files.filter((f) => f.startsWith(`.incoming${path.sep}`)),
    indexedUIDs: new Set(rows.map((r) => r.sop_instance_uid)),
  };
}

it("refuses what does not fit on a full volume with 0xA700, half-stores nothing, and stores it on retry", async () => {
  const root = mountPoint!;
  const started = Date.now();
  const api = await cluster.startApi("api-small-disk", { TRRG_STORAGE_DIR: root, TRRG_STORAGE_MIN_FREE: "0" });
  const token = await cluster.token(api);
  const { pages: volumePages, splitStudy } = smallVolumePages();
  const sent = new Map(studies.flatMap((s) => s.images.map((image) => [image.sopInstanceUID, image.part10] as const)));

  // One STOW-RS request per study, as a modality sends them, until every study was offered once.
  const statuses: number[] = [];
  const failureReasons: number[] = [];
  const refused = new Map<string, Buffer[]>();
  let failedWithoutUID = 0;
  for (const study of studies) {
    const { status, body } = await storeStudy(api, token, study.images.map((image) => image.part10));
    statuses.push(status);
    const response = storeResponse(body);
    const stored = new Set(response.stored.map((r) => r.sopInstanceUID));
    failureReasons.push(...response.failed.map((f) => f.failureReason ?? -1));
    failedWithoutUID += response.failed.filter((f) => f.sopInstanceUID === undefined).length;
    // PS3.18 §10.5.3.1: 200 all stored, 202 some, 409 none; every instance is accounted for once.
    expect(status).toBe(response.failed.length === 0 ? 200 : stored.size === 0 ? 409 : 202);
    expect(response.stored.length + response.failed.length).toBe(study.images.length);
    const notStored = study.images.filter((image) => !stored.has(image.sopInstanceUID));
    // Each failed item names its instance (PS3.3 Table 10-11: Referenced SOP Instance UID is Type 1).
    expect(response.failed.map((f) => f.sopInstanceUID ?? "none").sort()).toEqual(notStored.map((image) => image.sopInstanceUID).sort());
    if (notStored.length > 0) refused.set(study.studyInstanceUID, notStored.map((image) => image.part10));
  }
  const whenFull = await checkNothingHalfStored(root, sent, studies);
  const refusedImages = studies.flatMap((s) => s.images.filter((image) => refused.get(s.studyInstanceUID)?.includes(image.part10)));
  const storedCount = sent.size - refusedImages.length;
  const studiesWithNothingStored = studies.filter((s) => refused.get(s.studyInstanceUID)?.length === s.images.length).map((s) => s.studyInstanceUID);
  const jobsOfEmptyStudies = studiesWithNothingStored.length === 0 ? [] : await cluster.db.selectFrom("jobs").select("id").where("study_instance_uid", "in", studiesWithNothingStored).execute();
  const studyRowsOfEmptyStudies = studiesWithNothingStored.length === 0 ? [] : await cluster.db.selectFrom("studies").select("study_instance_uid").where("study_instance_uid", "in", studiesWithNothingStored).execute();

  // The volume grows; nothing on it is touched. The sender retries what was refused.
  execFileSync("mount", ["-o", `remount,size=${BIG}`, root]);
  const retryStatuses: number[] = [];
  for (const [studyUID, instances] of refused) {
    const study = studies.find((s) => s.studyInstanceUID === studyUID)!;
    const { status, body } = await storeStudy(api, token, instances);
    retryStatuses.push(status);
    expect(storeResponse(body).stored.map((r) => r.sopInstanceUID).sort()).toEqual(study.images.filter((i) => instances.includes(i.part10)).map((i) => i.sopInstanceUID).sort());
  }
  const afterRetry = await checkNothingHalfStored(root, sent, studies);

  // Reported only now, with every instance in place: a worker reading the same volume.
  await cluster.startWorker("worker-1", { TRRG_STORAGE_DIR: root });
  const outcomes = await untilReported(cluster.db, studies.map((s) => s.studyInstanceUID), 180_000);

  const counts = {
    studies: STUDIES,
    instancesSent: sent.size,
    volumeKiB: (volumePages * PAGE) / 1024,
    splitStudy,
    statuses: countOf(statuses),
    stored: storedCount,
    failedWith0xA700: failureReasons.filter((r) => r === FailureReason.OutOfResources).length,
    failureReasons: countOf(failureReasons.map((r) => `0x${r.toString(16).toUpperCase()}`)),
    failedItemsWithoutSOPInstanceUID: failedWithoutUID,
    whenFull: { rows: whenFull.rows, files: whenFull.files, mismatched: whenFull.mismatched.length, unindexedFiles: whenFull.unindexedFiles.length, temporaryFiles: whenFull.temporaryFiles.length },
    studiesWithNothingStored: studiesWithNothingStored.length,
    retried: { studies: refused.size, instances: refusedImages.length, statuses: countOf(retryStatuses) },
    afterRetry: { rows: afterRetry.rows, files: afterRetry.files, mismatched: afterRetry.mismatched.length, unindexedFiles: afterRetry.unindexedFiles.length, temporaryFiles: afterRetry.temporaryFiles.length },
    outcomes,
    ms: Date.now() - started,
  };
  printCounts("disk full during STOW", counts);

  // The volume really filled: some instances were stored, some refused, every refusal is 0xA700.
  // Everything before the split study, and its first instance; nothing after.
  expect(statuses).toEqual(studies.map((_, i) => (i < splitStudy ? 200 : i === splitStudy ? 202 : 409)));
  expect(storedCount).toBe(studies.slice(0, splitStudy).reduce((sum, s) => sum + s.images.length, 0) + 1);
  expect(failureReasons).toHaveLength(refusedImages.length);
  expect(new Set(failureReasons)).toEqual(new Set([FailureReason.OutOfResources]));
  // Nothing half-stored when full.
  expect(whenFull).toMatchObject({ rows: storedCount, files: storedCount, mismatched: [], unindexedFiles: [], temporaryFiles: [] });
  for (const image of refusedImages) expect(whenFull.indexedUIDs.has(image.sopInstanceUID)).toBe(false);
  expect(jobsOfEmptyStudies).toEqual([]);
  expect(studyRowsOfEmptyStudies).toEqual([]);
  // The retry stored all of it, still whole.
  expect(new Set(retryStatuses)).toEqual(new Set([200]));
  expect(afterRetry).toMatchObject({ rows: sent.size, files: sent.size, mismatched: [], unindexedFiles: [], temporaryFiles: [] });
  expect(outcomes).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, reports: STUDIES, instances: sent.size });
});
