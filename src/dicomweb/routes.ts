// The DICOMweb Studies Service (PS3.18 §10): STOW-RS, WADO-RS and QIDO-RS under /dicomweb.
import { Router } from "express";
import type { Services } from "../services.js";
import { registerQidoRoutes } from "./qidoRoutes.js";
import { registerStowRoutes } from "./stowRoutes.js";
import { registerWadoRoutes } from "./wadoRoutes.js";

export function dicomwebRoutes(services: Services): Router {
  const router = Router();
  registerStowRoutes(router, services);
  registerWadoRoutes(router, services);
  registerQidoRoutes(router, services);
  return router;
}
