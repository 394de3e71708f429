import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLabelCommand } from "../../src/findings/labelCommand.js";
import { OBSERVATIONS } from "../../src/findings/observations.js";

function collect() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-label-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("trrg-gateway label", () => {
  it("labels one report file as JSON with evidence", async () => {
    const file = path.join(dir, "report.txt");
    await writeFile(file, "FINDINGS: Small left pleural effusion. No pneumothorax.\nIMPRESSION: Small left effusion.");
    const out = collect();
    const err = collect();
    expect(await runLabelCommand({ source: file, jsonl: false }, out.stream, err.stream)).toBe(0);
    const labels = JSON.parse(out.text()) as Record<string, { status: string | null; laterality?: string; severity?: string }>;
    expect(labels["Pleural Effusion"]).toMatchObject({ status: "present", laterality: "left", severity: "small" });
    expect(labels.Pneumothorax?.status).toBe("absent");
  });

  it("turns JSON lines into one labels object per line with all 14 observations, from standard input", async () => {
    const input = Readable.from([
      `${JSON.stringify({ uid: "a", text: "No acute cardiopulmonary process." })}\n`,
      `${JSON.stringify({ uid: 2, text: "Cardiomegaly. Possible right lower lobe pneumonia." })}\n`,
    ]);
    const out = collect();
    const err = collect();
    expect(await runLabelCommand({ source: "-", jsonl: true }, out.stream, err.stream, input)).toBe(0);
    const lines = out.text().trim().split("\n").map((line) => JSON.parse(line) as { uid: unknown; labels: Record<string, string | null> });
    expect(lines.map((line) => line.uid)).toEqual(["a", 2]);
    for (const line of lines) expect(Object.keys(line.labels).sort()).toEqual([...OBSERVATIONS].sort());
    expect(lines[0]!.labels["No Finding"]).toBe("present");
    expect(lines[1]!.labels).toMatchObject({ Cardiomegaly: "present", Pneumonia: "uncertain", "No Finding": "absent" });
  });

  it("reports bad lines by number without echoing report text, and exits 1", async () => {
    const input = Readable.from([`{"uid":"x","text":"Secret^Name has no effusion"}\n`, "not json Secret^Name\n", `{"uid":"y"}\n`]);
    const out = collect();
    const err = collect();
    expect(await runLabelCommand({ source: "-", jsonl: true }, out.stream, err.stream, input)).toBe(1);
    expect(out.text().trim().split("\n")).toHaveLength(1);
    expect(err.text()).toContain("line 2: not a JSON object");
    expect(err.text()).toContain('line 3: no "text" string');
    expect(err.text()).not.toContain("Secret");
  });

  it("says which file it cannot read", async () => {
    const err = collect();
    expect(await runLabelCommand({ source: path.join(dir, "missing.txt"), jsonl: false }, collect().stream, err.stream)).toBe(1);
    expect(err.text()).toMatch(/cannot read .*missing\.txt/);
    const batch = collect();
    expect(await runLabelCommand({ source: path.join(dir, "missing.jsonl"), jsonl: true }, collect().stream, batch.stream)).toBe(1);
    expect(batch.text()).toMatch(/cannot read .*missing\.jsonl/);
  });
});
