// `trrg-gateway label <file|->`: one report's labels as JSON; with --jsonl, one {"uid","text"} object per input
// line to one {"uid","labels"} object per output line (all 14 observation names as keys), for batch scoring.
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { labelReport, labelStatuses } from "./labeler.js";

export interface LabelCommandOptions {
  /** A file path, or "-" for standard input. */
  source: string;
  jsonl: boolean;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function runLabelCommand(
  options: LabelCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  stdin: Readable = process.stdin,
): Promise<number> {
  if (!options.jsonl) {
    let text: string;
    try {
      text = options.source === "-" ? await readAll(stdin) : await readFile(options.source, "utf8");
    } catch (error) {
      err.write(`label: cannot read ${options.source}: ${(error as Error).message}\n`);
      return 1;
    }
    out.write(`${JSON.stringify(labelReport(text), null, 2)}\n`);
    return 0;
  }
  const input = options.source === "-" ? stdin : createReadStream(options.source);
  let line = 0;
  let failures = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line += 1;
      if (text.trim() === "") continue;
      const parsed = parseLine(text);
      if (typeof parsed === "string") {
        // Name the line, never echo it: it holds report text.
        err.write(`label: line ${line}: ${parsed}\n`);
        failures += 1;
        continue;
      }
      out.write(`${JSON.stringify({ uid: parsed.uid, labels: labelStatuses(parsed.text) })}\n`);
    }
  } catch (error) {
    err.write(`label: cannot read ${options.source}: ${(error as Error).message}\n`);
    return 1;
  }
  return failures > 0 ? 1 : 0;
}

function parseLine(text: string): { uid: unknown; text: string } | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not a JSON object";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const record = value as Record<string, unknown>;
  if (typeof record.text !== "string") return 'no "text" string';
  if (!("uid" in record)) return 'no "uid"';
  return { uid: record.uid, text: record.text };
}
