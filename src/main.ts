#!/usr/bin/env node
// trrg-gateway command line.
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, SETTINGS_HELP } from "./config.js";
import { runAuditVerify } from "./audit/verifyCommand.js";
import { runDeliveriesCommand } from "./fhir/deliveriesCommand.js";
import { runTokenCommand } from "./auth/tokenCommand.js";
import { runLabelCommand } from "./findings/labelCommand.js";
import { runPhantomCommand } from "./phantom/phantomCommand.js";
import { BUNDLED_MODEL_DIR } from "./inference/modelLocation.js";
import { runReportCommand } from "./pipeline/reportCommand.js";
import { closeReportModel, openReportModel, studyJobHandler, type ReportModel } from "./pipeline/studyJob.js";
import { createLogger, type Logger } from "./log.js";
import { startServer } from "./server.js";
import { startWorker } from "./worker.js";

const USAGE = `trrg-gateway: DICOMweb gateway that turns chest X-rays into preliminary FHIR radiology reports

Usage:
  trrg-gateway serve                  run the HTTP service (DICOMweb under /dicomweb, FHIR under /fhir,
                                      the embedded OAuth 2.0 server under /oauth2, /healthz, /readyz);
                                      with TRRG_REDIS_URL it queues report jobs for worker processes
  trrg-gateway worker                 run report jobs only (its own model sessions): from Redis when
                                      TRRG_REDIS_URL is set, else from the shared store; probes on
                                      TRRG_WORKER_PORT
  trrg-gateway token --client ID [--scope SCOPES] [--secret SECRET | --key FILE] [--token-url URL]
                                      get an access token (client_credentials) and print it
  trrg-gateway audit verify           check the audit trail's hash chain; exit 1 on any problem
  trrg-gateway deliveries [--state pending|delivered|rejected]
                                      the FHIR delivery outbox: counts by state, then the pending and
                                      rejected deliveries (or those of --state) with their reasons
  trrg-gateway label <file|-> [--jsonl]
                                      label a chest X-ray report: the 14 CheXpert observations as
                                      present/absent/uncertain/null; --jsonl reads {"uid","text"} lines
  trrg-gateway report <files or folders> [--out result.json] [--model DIR] [--fhir]
                                      generate a preliminary report for each study among the DICOM
                                      files, without a server (default model: the bundled trrg-mini);
                                      --fhir prints each study's FHIR transaction Bundle instead
  trrg-gateway phantom --count N --seed S --out DIR [--size PIXELS] [--png]
                                      write N synthetic chest X-ray studies (DICOM, seeds S..S+N-1) and
                                      their ground truth (ground-truth.jsonl); not patient data
  trrg-gateway --help                 show this help

Settings come from environment variables (or a JSON file named by TRRG_CONFIG_FILE):
${SETTINGS_HELP.map(([name, text]) => `  ${name.padEnd(28)}${text}`).join("\n")}
`;

async function serve(): Promise<void> {
  const config = loadConfig();
  // With Redis, report jobs run in `trrg-gateway worker` processes: an API replica loads no model.
  if (config.jobs.redisUrl) {
    const running = await startServer(config);
    running.services.logger.info({ url: running.url, dispatch: "redis" }, "trrg-gateway listening; report jobs go to worker processes");
    stopOnSignals(running.services.logger, () => running.stop());
    return;
  }
  // The model set is checked before the port opens: a bad set stops the service with the reason.
  const reportModel = await openReportModel(config, createLogger(config.log.level));
  const running = await startServer(config, { createJobHandler: (services) => studyJobHandler(services, reportModel) });
  const { logger } = running.services;
  logModel(logger, reportModel);
  logger.info({ url: running.url, dataDir: running.services.config.dataDir }, "trrg-gateway listening");
  stopOnSignals(logger, () => running.stop().then(() => closeReportModel(reportModel)));
}

async function work(): Promise<void> {
  const config = loadConfig();
  const reportModel = await openReportModel(config, createLogger(config.log.level));
  const running = await startWorker(config, (services) => studyJobHandler(services, reportModel));
  const { logger } = running.services;
  logModel(logger, reportModel);
  logger.info({ probes: running.url, dispatch: config.jobs.redisUrl ? "redis" : "store" }, "trrg-gateway worker running");
  stopOnSignals(logger, () => running.stop().then(() => closeReportModel(reportModel)));
}

function logModel(logger: Logger, reportModel: ReportModel): void {
  const { manifest } = reportModel.model.set;
  logger.info({ model: manifest.name, version: manifest.version, executionProviders: reportModel.model.executionProviders }, "model set loaded");
}

/** SIGTERM/SIGINT: the graceful stop once (running jobs finish or go back to the queue), then exit. */
function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

function wholeNumber(name: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

class UsageError extends Error {}

async function phantom(values: { count?: string; seed?: string; out?: string; size?: string; png?: boolean }): Promise<number> {
  try {
    if (!values.out) throw new UsageError("--out DIR is required");
    return await runPhantomCommand(
      {
        count: wholeNumber("count", values.count, 1, 1_000_000),
        seed: wholeNumber("seed", values.seed ?? "1", 0, 2 ** 31),
        out: values.out,
        size: values.size === undefined ? undefined : wholeNumber("size", values.size, 64, 4096),
        png: values.png ?? false,
      },
      process.stdout,
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`phantom: ${error.message}\n`);
    return 2;
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      client: { type: "string" },
      scope: { type: "string" },
      secret: { type: "string" },
      key: { type: "string" },
      "token-url": { type: "string" },
      jsonl: { type: "boolean" },
      count: { type: "string" },
      seed: { type: "string" },
      out: { type: "string" },
      size: { type: "string" },
      png: { type: "boolean" },
      model: { type: "string" },
      state: { type: "string" },
      fhir: { type: "boolean" },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(USAGE);
    return values.help || command === "help" ? 0 : 2;
  }
  if (command === "serve") {
    await serve();
    return -1;
  }
  if (command === "worker") {
    await work();
    return -1;
  }
  if (command === "token") {
    if (!values.client) {
      process.stderr.write("token: --client is required\n");
      return 2;
    }
    return runTokenCommand(
      loadConfig(),
      { clientId: values.client, scope: values.scope, secret: values.secret, keyFile: values.key, tokenUrl: values["token-url"] },
      process.stdout,
    );
  }
  if (command === "label") {
    const source = positionals[1];
    if (!source) {
      process.stderr.write("label: give a report file, or - for standard input\n");
      return 2;
    }
    return runLabelCommand({ source, jsonl: values.jsonl ?? false }, process.stdout, process.stderr);
  }
  if (command === "phantom") return phantom(values);
  if (command === "report") {
    if (positionals.length < 2) {
      process.stderr.write("report: give one or more DICOM files or folders\n");
      return 2;
    }
    return runReportCommand(
      {
        paths: positionals.slice(1),
        out: values.out,
        modelDir: values.model ?? BUNDLED_MODEL_DIR,
        executionProviders: ["cpu"],
        // Patient linkage and the organisation come from the same TRRG_FHIR_* settings as the service's.
        ...(values.fhir ? { fhir: loadConfig().fhir } : {}),
      },
      { stdout: process.stdout, stderr: process.stderr },
    );
  }
  if (command === "audit" && positionals[1] === "verify") {
    return runAuditVerify(loadConfig(), process.stdout);
  }
  if (command === "deliveries") {
    return runDeliveriesCommand(loadConfig(), values.state === undefined ? {} : { state: values.state }, process.stdout);
  }
  process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(error.message);
    else console.error(`trrg-gateway: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
