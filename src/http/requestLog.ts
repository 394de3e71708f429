// Request ids and one access-log line per request. Only the route pattern is logged, never the path or query
// string: DICOMweb paths and QIDO queries hold UIDs, patient IDs and names.
import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import type { Logger } from "../log.js";

declare module "express-serve-static-core" {
  interface Request {
    id: string;
  }
}

const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const offered = req.get("x-request-id");
    req.id = offered && CLIENT_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.set("X-Request-ID", req.id);
    const started = process.hrtime.bigint();
    res.on("close", () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : "(unmatched)";
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
