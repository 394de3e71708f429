// `trrg-gateway worker`: a process that only runs report jobs, with its own ONNX sessions (one worker per GPU).
// It takes due jobs from the BullMQ dispatch (TRRG_REDIS_URL) or, without Redis, polls the shared store, and
// serves its probes on TRRG_WORKER_PORT. At SIGTERM it stops taking jobs, lets the running ones finish within one
// lease period and hands the rest back to the queue, where another worker takes them at once.
import type { Server } from "node:http";
import express from "express";
import type { Config } from "./config.js";
import { AUDIT_OBSERVER } from "./audit/auditEvent.js";
import { healthRoutes } from "./http/healthRoutes.js";
import { closeServer, listen, listeningOrigin } from "./http/listen.js";
import { metricsHandler } from "./http/metricsRoutes.js";
import { startJobRunner, type JobHandler } from "./jobs/jobRunner.js";
import { auditApplication } from "./server.js";
import { closeServices, openServices, type Services } from "./services.js";

/** The audit source of a worker process's own events. */
const WORKER_OBSERVER = `${AUDIT_OBSERVER} worker`;

export interface RunningWorker {
  services: Services;
  /** http://host:port of the probes. */
  url: string;
  stop(): Promise<void>;
}

export async function startWorker(config: Config, createJobHandler: (services: Services) => JobHandler): Promise<RunningWorker> {
  // A worker changes no workitem and opens no UPS-RS channel: it has no part in relaying their event reports.
  const services = await openServices(config, undefined, { upsEventRelay: false });
  let server: Server;
  try {
    server = await listenForProbes(services);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  await auditApplication(services, "start", WORKER_OBSERVER);
  const runner = startJobRunner(services, createJobHandler(services));
  const url = listeningOrigin(server, config.http.host);
  const stop = async () => {
    await runner.stop(config.jobs.leaseMs);
    await closeServer(server);
    await auditApplication(services, "stop", WORKER_OBSERVER);
    await closeServices(services);
  };
  return { services, url, stop };
}

function listenForProbes(services: Services): Promise<Server> {
  const app = express();
  app.disable("x-powered-by");
  app.use(healthRoutes(services));
  app.get("/metrics", metricsHandler(services));
  app.use((_req, res) => res.status(404).json({ error: "not found" }));
  return listen(app, services.config.http.host, services.config.jobs.workerPort);
}
