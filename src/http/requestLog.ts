// Request ids and one access-log line per request. Only the route pattern is logged, never the path or query
// string: DICOMweb paths and QIDO queries hold UIDs, patient IDs and names.
import { randomUUID } from "node:crypto";
import type { Request, RequestHandler } from "express";
import type { Logger } from "../log.js";

declare module "express-serve-static-core" {
  interface Request {
    id: string;
  }
}

const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The pattern of each request's route, taken when express matched it (see rememberRoutePattern). */
const matchedPatterns = new WeakMap<Request, string>();

/**
 * Keeps the full pattern at the moment express sets req.route: an error thrown in a mounted router's route reaches
 * the app's error handler with req.baseUrl already reset, which would make /dicomweb/studies/:study /studies/:study.
 */
function rememberRoutePattern(req: Request): void {
  let route: unknown = req.route;
  Object.defineProperty(req, "route", {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: { path?: unknown } | undefined) => {
      route = value;
      if (typeof value?.path === "string") matchedPatterns.set(req, `${req.baseUrl}${value.path}`);
    },
  });
}

/** The express route that answered, e.g. /dicomweb/studies/:study; read it once the response has closed. */
export function routePattern(req: Request): string {
  return matchedPatterns.get(req) ?? (req.route?.path ? `${req.baseUrl}${req.route.path}` : "(unmatched)");
}

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const offered = req.get("x-request-id");
    req.id = offered && CLIENT_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.set("X-Request-ID", req.id);
    rememberRoutePattern(req);
    const started = process.hrtime.bigint();
    res.on("close", () => {
      const route = routePattern(req);
      logger.info(
        {
          requestId: req.id,
          method: req.method,
          route,
          status: res.headersSent ? res.statusCode : undefined,
          completed: res.writableFinished,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        },
        "request",
      );
    });
    next();
  };
}
