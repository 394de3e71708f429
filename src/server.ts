// Starts and stops the HTTP server around the services, in mirror order.
import type { Server } from "node:http";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { applicationActivityEvent, AUDIT_OBSERVER, type ApplicationActivity } from "./audit/auditEvent.js";
import { startDeliveryWorker } from "./fhir/deliveryWorker.js";
import { startJobRunner, type JobHandler, type JobRunner } from "./jobs/jobRunner.js";
import { closeServices, openServices, type Services } from "./services.js";

export interface RunningServer {
  services: Services;
  server: Server;
  url: string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /**
   * Runs each report job (the TRRG pipeline). Without one, jobs are queued and visible at /jobs but nothing
   * runs them in this process.
   */
  jobHandler?: JobHandler;
  /** The same, made from the opened services (the TRRG pipeline needs the store). */
  createJobHandler?: (services: Services) => JobHandler;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const services = await openServices(config);
  let server: Server;
  try {
    server = await listen(createApp(services), config.http.host, config.http.port);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  await auditApplication(services, "start");
  const handler = options.jobHandler ?? options.createJobHandler?.(services);
  if (handler) await services.studyTrigger.sweep();
  const runner: JobRunner | undefined = handler ? startJobRunner(services, handler) : undefined;
  // Reports go to the EHR's FHIR server from the outbox, whether or not this process runs report jobs.
  const delivery = startDeliveryWorker(services);
  // STOW-RS uploads of large studies take long; the defaults would cut them off.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.http.port;
  const url = `http://${config.http.host.includes(":") ? `[${config.http.host}]` : config.http.host}:${port}`;
  const stop = async () => {
    // The attempt in flight finishes, or is recorded as interrupted and retried at the next start.
    await delivery?.stop(config.fhir.delivery?.timeoutMs);
    // Running jobs finish, or go back to the queue for the next start, within one lease period.
    await runner?.stop(config.jobs.leaseMs);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await auditApplication(services, "stop");
    await closeServices(services);
  };
  return { services, server, url, stop };
}

/** The service's own start and stop are background actions with their AuditEvent (DESIGN §6). */
async function auditApplication(services: Services, activity: ApplicationActivity): Promise<void> {
  const event = applicationActivityEvent(activity, { observer: AUDIT_OBSERVER });
  await services.audit.append(event);
  services.auditForwarder?.send(event);
}

function listen(app: ReturnType<typeof createApp>, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // express 5 reports listen errors such as EADDRINUSE to this callback.
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
