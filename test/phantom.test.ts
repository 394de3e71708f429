// Phantom studies as a PACS would send them: valid DICOM that STOW-RS accepts, and the `phantom` command that
// writes them with their ground truth.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import dcmjs from "dcmjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makePhantomStudy } from "../src/phantom/study.js";
import { cli } from "./support/cli.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

const SMALL = { rows: 256, columns: 256, pixelSpacingMm: 1.4, bitsStored: 12 as const };

function naturalized(part10: Buffer): Record<string, unknown> {
  const dict = dcmjs.data.DicomMessage.readFile(new Uint8Array(part10).buffer);
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
}

describe("phantom studies", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it("are the same study, byte for byte, every time a seed is made", () => {
    const a = makePhantomStudy(7, SMALL);
    const b = makePhantomStudy(7, SMALL);
    expect(a.images.map((i) => i.part10)).toEqual(b.images.map((i) => i.part10));
    expect(makePhantomStudy(8, SMALL).studyInstanceUID).not.toBe(a.studyInstanceUID);
  });

  it("carry the attributes of a chest X-ray acquisition", () => {
    const study = makePhantomStudy(12, SMALL);
    const ds = naturalized(study.images[0]!.part10);
    expect(ds).toMatchObject({
      StudyInstanceUID: study.studyInstanceUID,
      PatientID: study.patientID,
      AccessionNumber: study.accessionNumber,
      BodyPartExamined: "CHEST",
      Rows: 256,
      Columns: 256,
      BitsAllocated: 16,
      BitsStored: 12,
      SamplesPerPixel: 1,
    });
    expect(["DX", "CR"]).toContain(ds.Modality);
    expect(["PA", "AP"]).toContain(ds.ViewPosition);
    expect(ds.PixelSpacing).toEqual([1.4, 1.4]);
    expect(typeof ds.WindowCenter).toBe("number");
  });

  it("include a lateral view in its own series when the case has one, and MONOCHROME1 for some CR", () => {
    const withLateral = [...Array(40).keys()].map((s) => makePhantomStudy(s + 1, SMALL)).find((s) => s.case.acquisition.withLateral);
    expect(withLateral).toBeDefined();
    const views = withLateral!.images.map((i) => naturalized(i.part10));
    expect(views.map((v) => v.ViewPosition)).toEqual([withLateral!.case.acquisition.viewPosition, "LL"]);
    expect(views[0]!.SeriesInstanceUID).not.toBe(views[1]!.SeriesInstanceUID);
    const monochrome1 = [...Array(60).keys()].map((s) => makePhantomStudy(s + 100, SMALL)).find((s) => s.images[0]!.photometricInterpretation === "MONOCHROME1");
    expect(monochrome1?.case.acquisition.modality).toBe("CR");
  });

  it("use the detector's Bits Stored of the case, 12 to 16, with every stored value inside it", () => {
    const seen = new Set<number>();
    for (let seed = 200; seed < 230; seed++) {
      const study = makePhantomStudy(seed, { rows: 128, columns: 128, pixelSpacingMm: 2.8 });
      const ds = naturalized(study.images[0]!.part10);
      const bits = ds.BitsStored as number;
      seen.add(bits);
      expect(ds.HighBit).toBe(bits - 1);
      expect(Math.max(...study.images[0]!.image.pixels)).toBeLessThan(2 ** bits);
    }
    expect([...seen].sort()).toEqual([12, 14, 16]);
  });

  it("are accepted whole by STOW-RS", async () => {
    const study = makePhantomStudy(3, SMALL);
    const response = await storeInstances(t, study.images.map((i) => i.part10));
    expect(response.status).toBe(200);
    expect(response.body["00081199"].Value).toHaveLength(study.images.length);
  });
});

describe("trrg-gateway phantom", () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), "trrg-phantom-"));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("writes N studies from seed S and one ground-truth line for each", async () => {
    const result = await cli(["phantom", "--count", "3", "--seed", "41", "--out", out, "--size", "128", "--png"]);
    expect(result.code).toBe(0);
    const lines = (await readFile(path.join(out, "ground-truth.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seed)).toEqual([41, 42, 43]);
    for (const line of lines) {
      expect(Object.keys(line.labels)).toHaveLength(14);
      expect(line.report.findings.length).toBeGreaterThan(10);
      const files = await readdir(path.join(out, line.accessionNumber));
      for (const f of line.files) expect(files).toContain(path.basename(f.path));
      expect(files).toContain("frontal.png");
    }
    // study 42 alone, made again, is the same study
    expect(lines[1].studyInstanceUID).toBe(makePhantomStudy(42, SMALL).studyInstanceUID);
  });

  it.each([
    [["--seed", "1", "--out", "x"], /--count must be a whole number/],
    [["--count", "0", "--out", "x"], /--count must be a whole number from 1/],
    [["--count", "2"], /--out DIR is required/],
    [["--count", "2", "--out", "x", "--size", "12"], /--size must be a whole number from 64/],
  ])("refuses %j with status 2 and the reason", async (args, message) => {
    const result = await cli(["phantom", ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
