// SMART App Launch 2 discovery (§2.1 "Conformance": GET [base]/.well-known/smart-configuration), served at the
// FHIR base and at the server root. Public, as the specification requires.
import { Router, type RequestHandler } from "express";
import type { Services } from "../services.js";
import { smartConfiguration } from "./smartConfiguration.js";

export function smartConfigurationRoutes(services: Services): Router {
  const router = Router();
  const document = smartConfiguration(services.config, {
    scopesSupported: services.authorizationServer?.scopesSupported,
    issuerMetadata: services.issuerMetadata,
  });
  const send: RequestHandler = (_req, res) => {
    res.type("application/json").set("Cache-Control", "public, max-age=300").send(JSON.stringify(document));
  };
  router.get("/.well-known/smart-configuration", send);
  router.get("/fhir/.well-known/smart-configuration", send);
  return router;
}
