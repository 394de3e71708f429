// Instance files on a volume shared by several processes: each receives into a temporary folder of its own, so one
// starting up never removes another's upload in progress, while a gone process's leftovers are cleared after a day.
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { InstanceFileStore } from "../../src/store/fileStore.js";

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "trrg-shared-store-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

it("keeps another process's upload in progress when a second process opens the same store", async () => {
  const first = new InstanceFileStore(root, "host-a-100");
  await first.open();
  const upload = await first.createTemporaryFile();
  await upload.write(Buffer.from("DICM half an instance"));
  const second = new InstanceFileStore(root, "host-b-200");
  await second.open();
  await upload.finish();
  expect(await first.commit(upload, "1.2/3.4/5.6.dcm")).toBe("created");
  expect(await readdir(path.join(root, "1.2", "3.4"))).toEqual(["5.6.dcm"]);
  expect(await readdir(path.join(root, ".incoming"))).toEqual(["host-a-100", "host-b-200"]);
});

it("clears its own leftovers at start, and a gone process's folder untouched for a day, but not a recent one", async () => {
  const incoming = path.join(root, ".incoming");
  for (const owner of ["host-a-100", "gone-1", "busy-2"]) {
    await mkdir(path.join(incoming, owner), { recursive: true });
    await writeFile(path.join(incoming, owner, "x.part"), "partial");
  }
  await writeFile(path.join(incoming, "loose-from-an-older-version.part"), "partial");
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3_600_000);
  await utimes(path.join(incoming, "gone-1"), twoDaysAgo, twoDaysAgo);
  await utimes(path.join(incoming, "loose-from-an-older-version.part"), twoDaysAgo, twoDaysAgo);
  await new InstanceFileStore(root, "host-a-100").open();
  expect((await readdir(incoming)).sort()).toEqual(["busy-2", "host-a-100"]);
  expect(await readdir(path.join(incoming, "host-a-100"))).toEqual([]);
  expect(await readdir(path.join(incoming, "busy-2"))).toEqual(["x.part"]);
});
