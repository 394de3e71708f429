// `trrg-gateway report`: the pipeline without a server, run as an operator runs it.
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPhantomCommand } from "../src/phantom/phantomCommand.js";
import { cli } from "./support/cli.js";

describe("trrg-gateway report", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "trrg-report-"));
    const sink = { write: () => true } as unknown as NodeJS.WritableStream;
    await runPhantomCommand({ count: 2, seed: 2_000_501, out: path.join(dir, "studies"), size: 256 }, sink);
    await mkdir(path.join(dir, "junk"));
    await writeFile(path.join(dir, "junk", "notes.txt"), "not DICOM");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints a report per study of a folder, a progress line each, and writes the results as JSON", async () => {
    const out = path.join(dir, "results.json");
    const result = await cli(["report", path.join(dir, "studies"), "--out", out]);
    expect(result.code).toBe(0);
    expect(result.stdout.match(/^FINDINGS: /gm)).toHaveLength(2);
    expect(result.stdout).toMatch(/IMPRESSION: /);
    expect(result.stderr).toMatch(/\[1\/2\] .* ms/);
    expect(result.stderr).toMatch(/skipped .*ground-truth\.jsonl/);
    const results = JSON.parse(await readFile(out, "utf8")) as { studyInstanceUID: string; findings: unknown[] }[];
    expect(results).toHaveLength(2);
    for (const r of results) expect(r.findings).toHaveLength(12);
  });

  it("fails with status 1 when no file is a readable DICOM image", async () => {
    const result = await cli(["report", path.join(dir, "junk")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no readable DICOM image/);
  });

  it("asks for files with status 2", async () => {
    const result = await cli(["report"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/give one or more DICOM files or folders/);
  });
});
