// Every request passes here first (DESIGN §6): public routes go on; others need a valid bearer token (through
// passport's bearer strategy) whose SMART scopes grant what the route table asks. Refusals follow RFC 6750 §3:
// 401 with WWW-Authenticate for a missing or invalid token, 403 insufficient_scope for a missing scope.
import type { Request, RequestHandler, Response } from "express";
import passport from "passport";
import { Strategy as BearerStrategy } from "passport-http-bearer";
import { sendError } from "../http/errors.js";
import { InvalidTokenError, type AccessTokenValidator, type ValidatedToken } from "./accessTokens.js";
import { accessFor } from "./routeAccess.js";
import { describeRequirement, grantingScope, type ResourceScope } from "./scopes.js";

/** Who is calling and what they may see, for the routes and the audit trail. */
export interface AccessContext {
  clientId: string | undefined;
  userId: string | undefined;
  /** The scope that granted this request. */
  grantedBy: ResourceScope;
  /** Set when a patient/ scope granted the request: only this patient's data may be touched. */
  patient: string | undefined;
}

declare module "express-serve-static-core" {
  interface Request {
    access?: AccessContext;
    /** The valid token's identity, even when its scopes were not enough (for the audit of a 403). */
    tokenIdentity?: Pick<ValidatedToken, "clientId" | "userId">;
  }
}

const REALM = "trrg-gateway";

function challenge(attributes: Record<string, string> = {}): string {
  const quoted = Object.entries(attributes).map(([name, value]) => `${name}="${value.replace(/["\\]/g, "")}"`);
  return ["Bearer realm=\"" + REALM + "\"", ...quoted].join(", ");
}

function refuse(req: Request, res: Response, status: 401 | 403, header: string, message: string): void {
  res.set("WWW-Authenticate", header);
  res.locals.auditOutcomeDescription = message;
  sendError(req, res, status, message, status === 401 ? "login" : "forbidden");
}

export function authorize(validator: AccessTokenValidator): RequestHandler {
  const authenticator = new passport.Passport();
  authenticator.use(
    new BearerStrategy((token, done) => {
      validator.validate(token).then(
        (validated) => done(null, validated),
        (error: unknown) => (error instanceof InvalidTokenError ? done(null, false, error.message) : done(error)),
      );
    }),
  );

  return (req, res, next) => {
    const { access } = accessFor(req.method, req.path);
    if (access.kind === "public") {
      next();
      return;
    }
    const verify = authenticator.authenticate(
      "bearer",
      { session: false },
      (error: unknown, token: ValidatedToken | false, info: unknown) => {
        if (error) {
          next(error);
          return;
        }
        if (!token) {
          const presented = req.get("authorization") !== undefined;
          if (!presented) {
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            refuse(req, res, 401, challenge(), "a bearer access token is required");
            return;
          }
          // passport-http-bearer hands back its own challenge, with our reason as error_description.
          const described = typeof info === "string" ? /error_description="([^"]*)"/.exec(info)?.[1] : undefined;
          const reason = described ?? "malformed Authorization header";
          refuse(req, res, 401, challenge({ error: "invalid_token", error_description: reason }), `invalid token: ${reason}`);
          return;
        }
        req.tokenIdentity = { clientId: token.clientId, userId: token.userId };
        const requirement = access.requirement;
        const scope = grantingScope(token.scopes, requirement);
        const needed = describeRequirement(requirement);
        if (!scope) {
          refuse(req, res, 403, challenge({ error: "insufficient_scope", scope: needed }), `scope ${needed} required`);
          return;
        }
        if (scope.context === "patient" && !token.patient) {
          const message = "a patient/ scope needs a patient in the token's launch context";
          refuse(req, res, 403, challenge({ error: "insufficient_scope", scope: needed }), message);
          return;
        }
        req.access = {
          clientId: token.clientId,
          userId: token.userId,
          grantedBy: scope,
          patient: scope.context === "patient" ? token.patient : undefined,
        };
        next();
      },
    );
    verify(req, res, next);
  };
}
