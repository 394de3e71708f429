// Protections every route gets: security headers, CORS (closed unless origins are configured) and a request
// rate limit per client.
import type { RequestHandler } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import helmet from "helmet";
import { sendError } from "./errors.js";

/** An API serves no pages: nothing may be framed, embedded or run from its responses. */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: "same-origin" },
  });
}

const ALLOWED_HEADERS = "Authorization, Content-Type, Accept, X-Request-ID";
const EXPOSED_HEADERS = "Warning, X-Request-ID, WWW-Authenticate, Content-Location, Location";

/**
 * CORS (Fetch standard §3.2): answers only for the configured origins; with none configured no
 * Access-Control-* header is ever sent, so browsers keep other origins out.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.get("origin");
    if (!origin || !allowed.has(origin)) {
      next();
      return;
    }
    res.vary("Origin");
    res.set("Access-Control-Allow-Origin", origin);
    res.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    if (req.method === "OPTIONS" && req.get("access-control-request-method")) {
      res.set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE");
      res.set("Access-Control-Allow-Headers", ALLOWED_HEADERS);
      res.set("Access-Control-Max-Age", "600");
      res.status(204).end();
      return;
    }
    next();
  };
}

type LimiterOptions = Pick<Parameters<typeof rateLimit>[0] & object, "keyGenerator" | "skipSuccessfulRequests" | "requestWasSuccessful">;

/** A fixed one-minute window answered with 429 and the draft-7 RateLimit headers; 0 turns it off. */
function limiter(perMinute: number, message: string, options: LimiterOptions): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    handler: (req, res) => sendError(req, res, 429, message, "throttled"),
    ...options,
  });
}

/**
 * Before authentication: at most `perMinute` refused authentications (401) a minute from one address, so a
 * flood of bad or missing tokens is throttled too, and token guessing is slowed down.
 */
export function rateLimitFailedAuthentication(perMinute: number): RequestHandler {
  return limiter(perMinute, "too many refused authentications from this address", {
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? "unknown"),
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401,
  });
}

/** At most `perMinute` requests a minute for one client: its token's client id, else its address. */
export function rateLimitPerClient(perMinute: number): RequestHandler {
  return limiter(perMinute, "too many requests: slow down", {
    keyGenerator: (req) => req.access?.clientId ?? req.tokenIdentity?.clientId ?? ipKeyGenerator(req.ip ?? "unknown"),
  });
}
