// Prometheus metrics of one service instance (issue 9): its own Registry, never prom-client's global one, so that
// many apps in one process (the tests) each count only their own. Labels are bounded sets (route patterns, states,
// stage names): no UID, path or patient value ever becomes a label.
import type { RequestHandler, Response } from "express";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { StoreOutcome } from "../dicomweb/storeResponse.js";
import type { DeliveryOutbox } from "../fhir/deliveryOutbox.js";
import type { FinishedRun } from "../jobs/jobRunner.js";
import type { Logger } from "../log.js";
import type { StageTimings } from "../pipeline/reportStudy.js";
import type { Database } from "../store/database.js";
import { routePattern } from "./requestLog.js";
import { registerStoreGauges } from "./storeGauges.js";

export interface ServiceMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<"method" | "route" | "status_class">;
  stowInstances: Counter<"outcome">;
  stowBytes: Counter;
  jobStageDuration: Histogram<"stage">;
  modelInference: Histogram<"session">;
  jobDuration: Histogram<"outcome">;
}

/** Where the gauges read at scrape time come from. */
export interface MetricSources {
  db: Database;
  deliveries: DeliveryOutbox;
  logger: Logger;
}

/** From a fast QIDO answer to a multi-gigabyte STOW-RS upload. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** One pipeline stage: milliseconds (label) to a minute (generation on a CPU). */
const STAGE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const JOB_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The `*Ms` fields of StageTimings, by the stage name they are labelled with. */
const PIPELINE_STAGES = {
  decode: "decodeMs",
  preprocess: "preprocessMs",
  vision: "visionMs",
  perception: "perceptionMs",
  interaction: "interactionMs",
  generation: "generationMs",
  label: "labelMs",
} as const satisfies Record<string, keyof StageTimings>;

const STOW_OUTCOMES = ["stored", "warning", "failed"] as const;

/** The stages that run an ONNX Runtime session. */
const INFERENCE_SESSIONS = ["vision", "perception", "interaction", "generation"] as const;

let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop, GC) are the process's, whatever the number of apps: they are collected
 * once, into a registry of their own. Collecting them per app would start an event-loop monitor and a GC observer
 * for every app, which prom-client never stops.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: "trrg_" });
  }
  return processRegistry;
}

export function createServiceMetrics(sources: MetricSources): ServiceMetrics {
  const registry = new Registry();
  const registers = [registry];
  registerStoreGauges(registry, sources);
  const stowInstances = new Counter({
    name: "trrg_stow_instances_total",
    help: "Instances in STOW-RS requests: stored, stored with a warning, or failed.",
    labelNames: ["outcome"],
    registers,
  });
  // Every outcome has its series from the start, so that rate() sees the first instance of each.
  for (const outcome of STOW_OUTCOMES) stowInstances.inc({ outcome }, 0);
  return {
    registry,
    stowInstances,
    httpRequestDuration: new Histogram({
      name: "trrg_http_request_duration_seconds",
      help: "HTTP requests by method, express route pattern and status class (2xx…; aborted: closed before an answer).",
      labelNames: ["method", "route", "status_class"],
      buckets: HTTP_BUCKETS,
      registers,
    }),
    stowBytes: new Counter({ name: "trrg_stow_bytes_total", help: "Bytes of STOW-RS request bodies received.", registers }),
    jobStageDuration: new Histogram({
      name: "trrg_job_stage_duration_seconds",
      help: "Time of each report pipeline stage, per study.",
      labelNames: ["stage"],
      buckets: STAGE_BUCKETS,
      registers,
    }),
    modelInference: new Histogram({
      name: "trrg_model_inference_seconds",
      help: "Time in each ONNX Runtime session of the report pipeline, per study.",
      labelNames: ["session"],
      buckets: STAGE_BUCKETS,
      registers,
    }),
    jobDuration: new Histogram({
      name: "trrg_job_duration_seconds",
      help: "Runs of report jobs, by outcome: succeeded, retrying (failed, run again later) or failed (for good).",
      labelNames: ["outcome"],
      buckets: JOB_BUCKETS,
      registers,
    }),
  };
}

/** The text exposition of the service's and the process's metrics. */
export async function metricsExposition(metrics: ServiceMetrics): Promise<{ contentType: string; text: string }> {
  const merged = Registry.merge([processMetrics(), metrics.registry]);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

function statusClass(res: Response): string {
  return res.headersSent ? `${Math.floor(res.statusCode / 100)}xx` : "aborted";
}

/** Times every request into trrg_http_request_duration_seconds, labelled by its route pattern (never its URL). */
export function recordHttpRequests(metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpRequestDuration.startTimer();
    res.on("close", () => end({ method: req.method, route: routePattern(req), status_class: statusClass(res) }));
    next();
  };
}

/** A STOW-RS body that counts its bytes into trrg_stow_bytes_total as they are read. */
export async function* countStowBytes(metrics: ServiceMetrics, body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const chunk of body) {
    metrics.stowBytes.inc(chunk.length);
    yield chunk;
  }
}

export function countStoreOutcome(metrics: ServiceMetrics, outcome: StoreOutcome): void {
  const warned = outcome.stored.filter((instance) => instance.warningReason !== undefined).length;
  metrics.stowInstances.inc({ outcome: "stored" }, outcome.stored.length - warned);
  metrics.stowInstances.inc({ outcome: "warning" }, warned);
  metrics.stowInstances.inc({ outcome: "failed" }, outcome.failed.length);
}

/** One study's pass through the pipeline (PipelineResult.timings). */
export function observePipelineTimings(metrics: ServiceMetrics, timings: StageTimings): void {
  for (const [stage, field] of Object.entries(PIPELINE_STAGES)) metrics.jobStageDuration.observe({ stage }, timings[field] / 1000);
  for (const session of INFERENCE_SESSIONS) metrics.modelInference.observe({ session }, timings[PIPELINE_STAGES[session]] / 1000);
}

export function observeJobRun(metrics: ServiceMetrics, run: FinishedRun): void {
  metrics.jobDuration.observe({ outcome: run.outcome.kind }, (run.finished.getTime() - run.started.getTime()) / 1000);
}
