// `trrg-gateway report <files or folders> [--out result.json] [--fhir]`: the pipeline without a server. Reads DICOM
// files, groups them by study, and prints each study's generated report and findings; --out also writes the full
// results as JSON; --fhir prints instead the FHIR transaction Bundle the service would deliver (validated against
// our profiles): pretty JSON for one study, one Bundle per line (NDJSON) for several. A progress line per study
// goes to stderr when more than one study is read.
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FhirConfig } from "../config.js";
import { assertValid } from "../fhir/publishReport.js";
import { buildReportResources } from "../fhir/reportResources.js";
import { transactionBundle } from "../fhir/transactionBundle.js";
import { loadModelSet } from "../inference/manifest.js";
import { closeModel, openModel, type ExecutionProvider } from "../inference/sessions.js";
import { loadTokenizer } from "../inference/tokenizer.js";
import { reportStudy, reportText, type PipelineResult } from "./reportStudy.js";
import { studyImageFromFile, type StudyFile } from "./studyImages.js";

export interface ReportCommandOptions {
  paths: string[];
  out?: string;
  modelDir: string;
  executionProviders: ExecutionProvider[];
  /** Print each study's FHIR transaction Bundle, built with these settings, instead of the text. */
  fhir?: FhirConfig;
}

interface Streams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

async function listFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(
    entries.filter((e) => !e.name.startsWith(".")).sort((a, b) => a.name.localeCompare(b.name)).map((e) => listFiles(join(path, e.name))),
  );
  return nested.flat();
}

function describe(result: PipelineResult & { studyInstanceUID: string }): string {
  const lines = result.findings.map((f) => {
    const said = f.textStatus ?? "not mentioned";
    const review = f.needsReview ? "  REVIEW: text contradicts perception" : "";
    return `  ${f.name.padEnd(28)}${said.padEnd(15)}p=${f.probability.toFixed(3)}${f.clue ? " clue" : ""}${review}`;
  });
  return [
    `Study ${result.studyInstanceUID} (image ${result.image.sopInstanceUID}, model ${result.model.name} ${result.model.version})`,
    reportText(result.report),
    "Findings:",
    ...lines,
    "",
  ].join("\n");
}

export async function runReportCommand(options: ReportCommandOptions, { stdout, stderr }: Streams): Promise<number> {
  const files = (await Promise.all(options.paths.map(listFiles))).flat();
  const studies = new Map<string, StudyFile[]>();
  let unreadable = 0;
  for (const file of files) {
    try {
      const image = await studyImageFromFile(file);
      studies.set(image.studyInstanceUID, [...(studies.get(image.studyInstanceUID) ?? []), image]);
    } catch (error) {
      unreadable++;
      stderr.write(`skipped ${file}: ${(error as Error).message}\n`);
    }
  }
  if (studies.size === 0) {
    stderr.write("report: no readable DICOM image among the files given\n");
    return 1;
  }
  const set = await loadModelSet(options.modelDir);
  const model = await openModel(set, { executionProviders: options.executionProviders, intraOpThreads: 0 });
  const tokenizer = await loadTokenizer(set);
  const results: (PipelineResult & { studyInstanceUID: string })[] = [];
  let failed = 0;
  try {
    let n = 0;
    for (const [studyInstanceUID, images] of studies) {
      n++;
      const started = performance.now();
      try {
        const result = { studyInstanceUID, ...(await reportStudy(model, tokenizer, images)) };
        results.push(result);
        if (options.fhir) {
          const resources = buildReportResources(result, { studyInstanceUID, ...images[0]?.study }, options.fhir, new Date());
          assertValid(resources);
          stdout.write(`${JSON.stringify(transactionBundle(resources), null, studies.size === 1 ? 2 : undefined)}\n`);
        } else {
          stdout.write(describe(result));
        }
        if (studies.size > 1) stderr.write(`[${n}/${studies.size}] ${studyInstanceUID}: ${Math.round(performance.now() - started)} ms\n`);
      } catch (error) {
        failed++;
        stderr.write(`[${n}/${studies.size}] ${studyInstanceUID}: failed: ${(error as Error).message}\n`);
      }
    }
  } finally {
    await closeModel(model);
  }
  if (options.out) await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
  if (unreadable > 0) stderr.write(`${unreadable} file(s) skipped as unreadable\n`);
  return failed > 0 ? 1 : 0;
}
