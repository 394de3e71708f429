// GET /metrics: the Prometheus text exposition. Metrics carry no patient data, so the route is open unless
// TRRG_METRICS_BEARER is set; then a scrape must present that token (RFC 6750). It is mounted before the audit
// trail: a scrape every few seconds would otherwise bury the trail in AuditEvents.
import { createHash, timingSafeEqual } from "node:crypto";
import { Router, type Request, type RequestHandler } from "express";
import type { Services } from "../services.js";
import { metricsExposition } from "./metrics.js";

const REALM = 'Bearer realm="trrg-gateway metrics"';

/** Compares digests, so the comparison takes the same time whatever the length or content of the offer. */
function sameSecret(offered: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(offered), digest(expected));
}

function offeredBearer(req: Request): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(req.get("authorization") ?? "")?.[1];
}

/** The /metrics handler, for the main app and for a worker process's own small HTTP server alike. */
export function metricsHandler(services: Pick<Services, "config" | "metrics">): RequestHandler {
  const expected = services.config.metrics.bearerToken;
  return async (req, res) => {
    if (expected !== undefined) {
      const offered = offeredBearer(req);
      if (offered === undefined || !sameSecret(offered, expected)) {
        const challenge = offered === undefined ? REALM : `${REALM}, error="invalid_token"`;
        res.status(401).set("WWW-Authenticate", challenge).type("text/plain").send("a metrics bearer token is required");
        return;
      }
    }
    const exposition = await metricsExposition(services.metrics);
    res.set("Cache-Control", "no-store").type(exposition.contentType).send(exposition.text);
  };
}

export function metricsRoutes(services: Pick<Services, "config" | "metrics">): Router {
  const router = Router();
  router.get("/metrics", metricsHandler(services));
  return router;
}
