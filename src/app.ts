// Assembles the express app: protections, audit and authorization first, then every router by its standard path.
import express, { type Express } from "express";
import { AUDIT_OBSERVER } from "./audit/auditEvent.js";
import { auditRequests } from "./audit/auditRequests.js";
import { auditRoutes } from "./audit/auditRoutes.js";
import { authorize } from "./auth/authorize.js";
import { smartConfigurationRoutes } from "./auth/smartConfigurationRoutes.js";
import { dicomwebRoutes } from "./dicomweb/routes.js";
import { fhirRoutes } from "./fhir/fhirRoutes.js";
import { errorHandler, sendError } from "./http/errors.js";
import { healthRoutes } from "./http/healthRoutes.js";
import { recordHttpRequests } from "./http/metrics.js";
import { metricsRoutes } from "./http/metricsRoutes.js";
import { cors, rateLimitFailedAuthentication, rateLimitPerClient, securityHeaders } from "./http/protection.js";
import { requestLog } from "./http/requestLog.js";
import { jobRoutes } from "./jobs/jobRoutes.js";
import type { Services } from "./services.js";

const SOFTWARE = { name: "trrg-gateway", version: "0.1.0" };

export function createApp(services: Services): Express {
  const { config, logger } = services;
  const app = express();
  app.disable("x-powered-by");
  app.use(requestLog(logger));
  app.use(recordHttpRequests(services.metrics));
  app.use(securityHeaders());
  app.use(cors(config.corsOrigins));
  app.use(healthRoutes(services));
  app.use(metricsRoutes(services));
  app.use(smartConfigurationRoutes(services));
  // Every request from here on leaves one AuditEvent, refusals included (DESIGN §6).
  app.use(auditRequests(services.audit, AUDIT_OBSERVER, logger, services.auditForwarder));
  app.use(rateLimitFailedAuthentication(config.rateLimitPerMinute));
  app.use(authorize(services.tokens));
  app.use(rateLimitPerClient(config.rateLimitPerMinute));

  if (services.authorizationServer) app.use(services.authorizationServer.mountPath, services.authorizationServer.router);
  app.use("/dicomweb", dicomwebRoutes(services));
  app.use("/jobs", jobRoutes(services));
  const baseUrl = (req: express.Request) => config.http.publicUrl ?? `${req.protocol}://${req.get("host")}`;
  app.use("/fhir", auditRoutes(services.audit, baseUrl));
  app.use("/fhir", fhirRoutes(services, baseUrl, SOFTWARE));

  app.use((req, res) => sendError(req, res, 404, "no such resource", "not-found"));
  app.use(errorHandler(logger));
  return app;
}
