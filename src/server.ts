// Starts and stops the HTTP server around the services, in mirror order.
import type { Server } from "node:http";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { applicationActivityEvent, AUDIT_OBSERVER, type ApplicationActivity } from "./audit/auditEvent.js";
import { startDeliveryWorker } from "./fhir/deliveryWorker.js";
import { startJobRunner, type JobHandler, type JobRunner } from "./jobs/jobRunner.js";
import { closeServices, openServices, type Services } from "./services.js";
import { configuredDicomwebBaseUrl } from "./dicomweb/baseUrl.js";
import { closeServer, listen, listeningOrigin } from "./http/listen.js";
import { upgradeThroughApp } from "./dicomweb/upsChannel.js";
import { scpStatusReport } from "./dicomweb/upsEvents.js";
import { UpsPerformer } from "./dicomweb/upsPerformer.js";
import { readModelIdentity } from "./jobs/studyTrigger.js";

export interface RunningServer {
  services: Services;
  server: Server;
  url: string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /**
   * Runs each report job (the TRRG pipeline), polled from the store or, with TRRG_REDIS_URL, taken from the
   * BullMQ dispatch. Without one, jobs are queued and visible at /jobs but nothing runs them in this process:
   * with Redis, `trrg-gateway worker` processes do.
   */
  jobHandler?: JobHandler;
  /** The same, made from the opened services (the TRRG pipeline needs the store). */
  createJobHandler?: (services: Services) => JobHandler;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const services = await openServices(config);
  let server: Server;
  const app = createApp(services);
  try {
    server = await listen(app, config.http.host, config.http.port);
  } catch (error) {
    await closeServices(services);
    throw error;
  }
  await auditApplication(services, "start");
  const handler = options.jobHandler ?? options.createJobHandler?.(services);
  // Whether this process's jobs get run: here, or by worker processes fed over Redis.
  const jobsRun = handler !== undefined || config.jobs.redisUrl !== undefined;
  if (jobsRun) await services.studyTrigger.sweep();
  const runner: JobRunner | undefined = handler ? startJobRunner(services, handler) : undefined;
  // Reports go to the EHR's FHIR server from the outbox, whether or not this process runs report jobs.
  const delivery = startDeliveryWorker(services);
  // UPS-RS event channels are WebSocket upgrades of requests to this same port (PS3.18 §8.10.4).
  server.on("upgrade", (req, socket, head) => upgradeThroughApp(app, req, socket, head));
  // STOW-RS uploads of large studies take long; the defaults would cut them off.
  server.requestTimeout = 0;
  // Idle keep-alive connections stay open longer than a load balancer's or a client's own idle timeout (commonly
  // 60 s), so that the other side closes them: when we close first, it may be sending the next request on the
  // connection just then, and that request fails ("socket hang up", a 502 at the balancer).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const url = listeningOrigin(server, config.http.host);
  // The workitems' outputs name our URLs: the public one, else the port we got (TRRG_PORT=0 picks one).
  const performer = jobsRun && config.ups.performer ? startPerformer(services, config.http.publicUrl ? configuredDicomwebBaseUrl(config) : `${url}/dicomweb`) : undefined;
  const stop = async () => {
    services.upsChannels.broadcast(scpStatusReport("GOING DOWN"));
    // Workitems in progress stay IN PROGRESS under this AE title and are resumed at the next start.
    await performer?.stop();
    // The attempt in flight finishes, or is recorded as interrupted and retried at the next start.
    await delivery?.stop(config.fhir.delivery?.timeoutMs);
    // Running jobs finish, or go back to the queue for the next start, within one lease period.
    await runner?.stop(config.jobs.leaseMs);
    await closeServer(server);
    await auditApplication(services, "stop");
    await closeServices(services);
  };
  return { services, server, url, stop };
}

/** This service as a UPS performer: it claims the workitems that ask for a chest X-ray report. */
function startPerformer(services: Services, dicomwebBaseUrl: string): UpsPerformer {
  const { config } = services;
  const performer = new UpsPerformer(
    {
      worklist: services.worklist,
      db: services.db,
      jobs: services.jobs,
      studyTrigger: services.studyTrigger,
      model: () => readModelIdentity(config.model.directory),
      peers: services.dicomwebPeers,
      logger: services.logger,
      audit: async (event) => {
        await services.audit.append(event);
        services.auditForwarder?.send(event);
      },
    },
    {
      codes: config.ups.workitemCodes,
      aeTitle: config.ups.aeTitle,
      pollIntervalMs: config.ups.pollIntervalMs,
      concurrency: config.ups.concurrency,
      dicomwebBaseUrl,
      fhirBaseUrl: `${dicomwebBaseUrl.slice(0, -"/dicomweb".length)}/fhir`,
    },
  );
  services.worklist.onClaimable(() => performer.poke());
  performer.start();
  return performer;
}

/** The service's own start and stop (and a worker's) are background actions with their AuditEvent (DESIGN §6). */
export async function auditApplication(services: Services, activity: ApplicationActivity, observer = AUDIT_OBSERVER): Promise<void> {
  const event = applicationActivityEvent(activity, { observer });
  await services.audit.append(event);
  services.auditForwarder?.send(event);
}
