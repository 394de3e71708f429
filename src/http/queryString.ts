// The query of a request as sent: DICOMweb keeps parameter order and repeats (includefield), UPS-RS puts bare UIDs
// there (PS3.18 §11.4 "?{workitem}"), and the audit trail records it exactly.
import type { Request } from "express";

/** The raw query string, without "?" ("" when there is none). */
export function queryString(req: Request): string {
  const start = req.originalUrl.indexOf("?");
  return start < 0 ? "" : req.originalUrl.slice(start + 1);
}

/** The decoded query parameters in request order, repeats kept. */
export function queryParameters(req: Request): [string, string][] {
  return [...new URLSearchParams(queryString(req))];
}
