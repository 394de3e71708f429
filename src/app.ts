// Assembles the express app: every router mounted by its standard path, in one block.
import express, { type Express } from "express";
import { dicomwebRoutes } from "./dicomweb/routes.js";
import { errorHandler, sendDicomwebError } from "./http/errors.js";
import { healthRoutes } from "./http/healthRoutes.js";
import { requestLog } from "./http/requestLog.js";
import type { Services } from "./services.js";

export function createApp(services: Services): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(requestLog(services.logger));

  app.use(healthRoutes(services));
  app.use("/dicomweb", dicomwebRoutes(services));

  app.use((_req, res) => sendDicomwebError(res, 404, "no such resource"));
  app.use(errorHandler(services.logger));
  return app;
}
