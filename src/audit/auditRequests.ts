// One AuditEvent per request, written to the audit store before the response leaves (DESIGN §6, IHE BALP):
// allowed, refused and failed requests alike, and requests whose client went away before any answer.
import type { Request, RequestHandler, Response } from "express";
import { sendError } from "../http/errors.js";
import type { Logger } from "../log.js";
import { accessFor } from "../auth/routeAccess.js";
import { outcomeOfStatus, type AccessKind, type AccessRecord, type AuditAction, type AuditEntity } from "./accessRecord.js";
import { toAuditEvent } from "./auditEvent.js";
import type { AuditStore } from "./auditStore.js";
import type { SyslogForwarder } from "./syslogForwarder.js";

/** What the routes add to the audit record of their request. */
export interface RequestAudit {
  entities: AuditEntity[];
  /** Writes the record now (for streamed responses, before the first byte); later calls are no-ops. */
  flush(): Promise<void>;
}

declare module "express-serve-static-core" {
  interface Locals {
    audit: RequestAudit;
    auditOutcomeDescription?: string;
  }
}

function accessKind(path: string, permission: string | undefined): AccessKind {
  // The job routes read and search Task-like resources: audited as BALP RESTful read and search, like FHIR.
  const isJobs = path === "/jobs" || path.startsWith("/jobs/");
  const family = path.startsWith("/dicomweb/") ? "dicomweb" : path.startsWith("/fhir/") || isJobs ? "fhir" : undefined;
  if (!family || !permission) return "http";
  if (family === "dicomweb") {
    if (path === "/dicomweb/workitems" || path.startsWith("/dicomweb/workitems/") || path.startsWith("/dicomweb/subscribers/")) return "dicomweb-worklist";
    return permission === "c" ? "dicomweb-store" : permission === "s" ? "dicomweb-search" : "dicomweb-retrieve";
  }
  return permission === "s" ? "fhir-search" : "fhir-read";
}

const ACTIONS: Record<AccessKind, AuditAction> = {
  "dicomweb-store": "C",
  "dicomweb-retrieve": "R",
  "dicomweb-search": "E",
  "dicomweb-worklist": "E",
  "fhir-read": "R",
  "fhir-search": "E",
  http: "E",
};

/** UPS-RS: creation C, update and state change U, retrieve R, search and subscriptions E. */
function worklistAction(access: ReturnType<typeof accessFor>["access"]): AuditAction {
  const permission = access.kind === "scoped" ? access.requirement.permission : undefined;
  return permission === "c" ? "C" : permission === "u" ? "U" : permission === "r" ? "R" : "E";
}

/** `path` is the request path as this middleware saw it: inside a mounted router req.path is relative to the mount. */
function recordOf(req: Request, path: string, res: Response, started: Date, entities: AuditEntity[], completed: boolean): AccessRecord {
  const { access, pattern } = accessFor(req.method, path);
  const kind = accessKind(path, access.kind === "scoped" ? access.requirement.permission : undefined);
  const identity = req.access ?? req.tokenIdentity;
  const status = completed ? res.statusCode : 499; // 499: the client closed the connection before an answer
  return {
    kind,
    requestId: req.id,
    started,
    recorded: new Date(),
    method: req.method,
    route: pattern,
    url: req.originalUrl,
    status,
    action: kind === "dicomweb-worklist" ? worklistAction(access) : ACTIONS[kind],
    outcome: outcomeOfStatus(status),
    outcomeDescription: res.locals.auditOutcomeDescription ?? (completed ? undefined : "client closed the connection"),
    agent: {
      clientId: identity?.clientId,
      userId: identity?.userId,
      address: req.socket.remoteAddress,
    },
    entities,
  };
}

export function auditRequests(store: AuditStore, observer: string, logger: Logger, forwarder?: SyslogForwarder): RequestHandler {
  return (req, res, next) => {
    const started = new Date();
    const path = req.path;
    const entities: AuditEntity[] = [];
    let written: Promise<void> | undefined;
    const write = (completed: boolean) => {
      if (written) return written;
      const event = toAuditEvent(recordOf(req, path, res, started, entities, completed), { observer });
      written = store.append(event).then(() => forwarder?.send(event));
      return written;
    };
    res.locals.audit = { entities, flush: () => write(true) };

    // Hold the end of every response until its audit record is stored. If it cannot be stored, the client gets
    // 503 instead of the data: an access that leaves no trace is not allowed.
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      write(true).then(
        () => end(...args),
        (error: unknown) => {
          logger.error({ err: error, requestId: req.id }, "audit record could not be stored");
          if (res.headersSent) {
            res.destroy();
            return;
          }
          // The answer the request had is dropped; a standard error (DICOM JSON or OperationOutcome) goes instead.
          res.end = end as Response["end"];
          res.removeHeader("Content-Length");
          res.removeHeader("Location");
          res.setHeader("Retry-After", "5");
          sendError(req, res, 503, "the audit trail cannot be written now; nothing was served, try again", "transient");
        },
      );
      return res;
    }) as Response["end"];
    res.on("close", () => {
      if (!written) {
        write(res.writableFinished).catch((error: unknown) => logger.error({ err: error, requestId: req.id }, "audit record could not be stored"));
      }
    });
    next();
  };
}
