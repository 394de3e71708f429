// Maps domain errors to HTTP answers in one place. DICOMweb errors carry a Warning header (RFC 9111 §5.5,
// code 299, as PS3.18 §8.6.3 uses it) and a DICOM JSON dataset with ErrorComment (0000,0902).
import type { ErrorRequestHandler, Request, Response } from "express";
import { DicomwebError } from "../dicomweb/errors.js";
import { UpsError } from "../dicomweb/upsWorkitem.js";
import { MalformedMultipartError } from "./multipartRelated.js";
import type { Logger } from "../log.js";
import type { components } from "./api.js";
import { sendOperationOutcome, type IssueType } from "../fhir/operationOutcome.js";

export function warningHeader(message: string): string {
  return `299 trrg-gateway "${message.replace(/["\\\r\n]/g, " ").slice(0, 300)}"`;
}

export function sendDicomwebError(res: Response, status: number, message: string): void {
  // ErrorComment is LO: at most 64 characters; the Warning header carries the whole text.
  const body: components["schemas"]["ErrorDataset"] = { "00000902": { vr: "LO", Value: [message.slice(0, 64)] } };
  res.status(status).set("Warning", warningHeader(message)).type("application/dicom+json").send(JSON.stringify(body));
}

/**
 * A refused UPS-RS request: the Warning text PS3.18 §11 gives for the case (clients match on it), then a second
 * Warning and the ErrorComment saying exactly what was wrong.
 */
export function sendUpsError(res: Response, error: UpsError): void {
  res.status(error.status).set("Warning", warningHeader(error.warning));
  if (error.message !== error.warning) res.append("Warning", warningHeader(error.message));
  res.locals.auditOutcomeDescription = error.message;
  const body: components["schemas"]["ErrorDataset"] = { "00000902": { vr: "LO", Value: [error.message.slice(0, 64)] } };
  res.type("application/dicom+json").send(JSON.stringify(body));
}

/**
 * Answers an error in the shape of the standard the route belongs to: FHIR routes with an OperationOutcome
 * (FHIR R4 §3.1.0.4), everything else with the DICOMweb error shape.
 */
export function sendError(req: Request, res: Response, status: number, message: string, issue: IssueType = "processing"): void {
  if (req.path === "/fhir" || req.path.startsWith("/fhir/") || req.originalUrl.startsWith("/fhir")) {
    sendOperationOutcome(res, status, issue, message);
  } else {
    sendDicomwebError(res, status, message);
  }
}

function statusOf(error: unknown): { status: number; message: string; expected: boolean } {
  if (error instanceof DicomwebError) return { status: error.status, message: error.message, expected: true };
  if (error instanceof MalformedMultipartError) return { status: 400, message: error.message, expected: true };
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, message: (error as Error).message, expected: true };
  }
  return { status: 500, message: "internal error", expected: false };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof UpsError) {
      sendUpsError(res, error);
      return;
    }
    const { status, message, expected } = statusOf(error);
    if (!expected) logger.error({ err: error, requestId: req.id }, "request failed");
    if (status === 413) {
      // The rest of the body is not read: close the connection once the answer is out.
      res.set("Connection", "close");
      res.on("finish", () => req.socket.destroySoon());
    }
    sendError(req, res, status, message, status >= 500 ? "exception" : "invalid");
  };
}
