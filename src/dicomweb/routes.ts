// The DICOMweb Studies Service (PS3.18 §10: STOW-RS, WADO-RS, QIDO-RS) and Worklist Service (§11: UPS-RS, with its
// WebSocket notification channel, §8.10) under /dicomweb.
import { Router } from "express";
import type { Services } from "../services.js";
import { registerQidoRoutes } from "./qidoRoutes.js";
import { registerStowRoutes } from "./stowRoutes.js";
import { registerUpsChannelRoute } from "./upsChannel.js";
import { registerUpsRoutes } from "./upsRoutes.js";
import { registerWadoRoutes } from "./wadoRoutes.js";

export function dicomwebRoutes(services: Services): Router {
  const router = Router();
  registerStowRoutes(router, services);
  registerWadoRoutes(router, services);
  registerQidoRoutes(router, services);
  registerUpsRoutes(router, services);
  registerUpsChannelRoute(router, services.worklist, services.upsChannels);
  return router;
}
