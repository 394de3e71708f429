// The long-lived services of one process, and their start-up and shut-down in mirror order.
import { AccessTokenValidator } from "./auth/accessTokens.js";
import { createAuthorizationServer, type AuthorizationServer } from "./auth/authorizationServer.js";
import { openTokenSource } from "./auth/backendServicesClient.js";
import { fetchIssuerMetadata, type IssuerMetadata } from "./auth/smartConfiguration.js";
import { AuditStore } from "./audit/auditStore.js";
import { SyslogForwarder } from "./audit/syslogForwarder.js";
import type { Config, FhirDeliveryConfig } from "./config.js";
import { DeliveryOutbox, deliveryOutboxSettings } from "./fhir/deliveryOutbox.js";
import type { FhirTarget } from "./fhir/deliveryWorker.js";
import { JobQueue } from "./jobs/jobQueue.js";
import { configuredRedis, RedisJobDispatch } from "./jobs/redisDispatch.js";
import { readModelIdentity, StudyTrigger } from "./jobs/studyTrigger.js";
import { createLogger, type Logger } from "./log.js";
import { openConfiguredDatabase, type Database } from "./store/database.js";
import { InstanceFileStore } from "./store/fileStore.js";
import { InstanceIndexWriter } from "./store/instanceIndex.js";
import { createServiceMetrics, type ServiceMetrics } from "./http/metrics.js";
import { openDicomwebPeers, type DicomwebPeers } from "./dicomweb/dicomwebClient.js";
import { RedisUpsEventRelay } from "./dicomweb/upsEventRelay.js";
import { UpsEventChannels } from "./dicomweb/upsEvents.js";
import { Worklist } from "./dicomweb/worklist.js";

export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  files: InstanceFileStore;
  index: InstanceIndexWriter;
  audit: AuditStore;
  tokens: AccessTokenValidator;
  /** The embedded OAuth 2.0 server (TRRG_AUTH_MODE=embedded). */
  authorizationServer: AuthorizationServer | undefined;
  /** The hospital issuer's metadata (TRRG_AUTH_MODE=external). */
  issuerMetadata: IssuerMetadata | undefined;
  /** Copies of AuditEvents to a syslog collector (TRRG_AUDIT_SYSLOG). */
  auditForwarder: SyslogForwarder | undefined;
  /** The durable job queue; a JobRunner (src/jobs/jobRunner.ts) runs what is in it. */
  jobs: JobQueue;
  /** Turns arriving studies into jobs (STOW-RS calls it; UPS-RS will). */
  studyTrigger: StudyTrigger;
  /** The FHIR delivery outbox (readable with no target configured: rows of an earlier target stay listed). */
  deliveries: DeliveryOutbox;
  /** The EHR's FHIR server reports are delivered to (TRRG_FHIR_TARGET_URL); a DeliveryWorker sends the outbox there. */
  deliveryTarget: FhirTarget | undefined;
  /** The UPS-RS worklist (PS3.18 §11) and the WebSocket channels its event reports go out on. */
  worklist: Worklist;
  upsChannels: UpsEventChannels;
  /** UPS event reports relayed between `serve` replicas over Redis pub/sub (TRRG_REDIS_URL); undefined in one process. */
  upsRelay: RedisUpsEventRelay | undefined;
  /** The PACS studies are retrieved from by WADO-RS (TRRG_DICOMWEB_PEERS_FILE); undefined when none is configured. */
  dicomwebPeers: DicomwebPeers | undefined;
  /** This instance's Prometheus registry and metrics (GET /metrics). */
  metrics: ServiceMetrics;
}

async function openDeliveryTarget(delivery: FhirDeliveryConfig | undefined): Promise<FhirTarget | undefined> {
  if (!delivery) return undefined;
  return { baseUrl: delivery.targetUrl, tokens: await openTokenSource(delivery.auth, delivery.targetUrl, delivery.timeoutMs), timeoutMs: delivery.timeoutMs };
}

async function openAuthorization(config: Config, logger: Logger) {
  if (config.auth.mode === "embedded") {
    const authorizationServer = await createAuthorizationServer(config, logger);
    const tokens = AccessTokenValidator.local(authorizationServer.publicJwks, config.auth);
    return { authorizationServer, tokens, issuerMetadata: undefined };
  }
  const issuerMetadata = await fetchIssuerMetadata(config.auth.issuer).catch((error: unknown) => {
    if (config.auth.jwksUrl) return undefined;
    throw new Error(`cannot read the metadata of issuer ${config.auth.issuer} (set TRRG_AUTH_JWKS_URL?): ${(error as Error).message}`);
  });
  const jwksUrl = config.auth.jwksUrl ?? issuerMetadata!.jwks_uri;
  return { authorizationServer: undefined, tokens: AccessTokenValidator.remote(jwksUrl, config.auth), issuerMetadata };
}

/** `upsEventRelay: false` for processes without UPS-RS channels (`trrg-gateway worker`). */
export async function openServices(config: Config, logger: Logger = createLogger(config.log.level), options: { upsEventRelay?: boolean } = {}): Promise<Services> {
  const files = new InstanceFileStore(config.storage.instancesDir);
  await files.open();
  const db = await openConfiguredDatabase(config.database);
  let dispatch: RedisJobDispatch | undefined;
  let upsRelay: RedisUpsEventRelay | undefined;
  try {
    const authorization = await openAuthorization(config, logger);
    const auditForwarder = config.auditSyslog ? new SyslogForwarder(config.auditSyslog, logger) : undefined;
    // Dispatch over Redis when configured (scale-out); the jobs' state stays in the store either way.
    const redis = configuredRedis(config.jobs);
    dispatch = redis ? new RedisJobDispatch(redis, logger) : undefined;
    const jobs = new JobQueue(db, config.jobs, undefined, dispatch);
    const studyTrigger = new StudyTrigger(jobs, {
      quietPeriodMs: config.jobs.quietPeriodMs,
      model: () => readModelIdentity(config.model.directory),
      logger,
    });
    const index = new InstanceIndexWriter(db);
    const deliveries = new DeliveryOutbox(db, deliveryOutboxSettings(config.fhir.delivery));
    const deliveryTarget = await openDeliveryTarget(config.fhir.delivery);
    const upsChannels = new UpsEventChannels(logger);
    upsRelay = redis && options.upsEventRelay !== false ? new RedisUpsEventRelay(redis, upsChannels, logger) : undefined;
    const worklist = new Worklist(db, upsChannels, { defaultWorklistLabel: config.ups.worklistLabel, maxResults: config.qido.maxLimit });
    const dicomwebPeers = config.dicomwebClient.peers.length > 0 ? await openDicomwebPeers(config, { index, files, logger }) : undefined;
    return {
      config,
      logger,
      db,
      files,
      index,
      audit: new AuditStore(db),
      auditForwarder,
      jobs,
      studyTrigger,
      deliveries,
      deliveryTarget,
      worklist,
      upsChannels,
      upsRelay,
      dicomwebPeers,
      metrics: createServiceMetrics({ db, deliveries, logger }),
      ...authorization,
    };
  } catch (error) {
    await upsRelay?.close();
    await dispatch?.close();
    await db.destroy();
    throw error;
  }
}

export async function closeServices(services: Services): Promise<void> {
  services.upsChannels.closeAll();
  await services.upsRelay?.close();
  services.auditForwarder?.close();
  await services.jobs.dispatch?.close();
  await services.db.destroy();
}
