import type { Request } from "express";
import type { Config } from "../config.js";
import { httpOrigin } from "../http/listen.js";

/** Base URL of the DICOMweb service as clients reach it, for RetrieveURL values. */
export function dicomwebBaseUrl(req: Request, config: Config): string {
  const origin = config.http.publicUrl ?? `${req.protocol}://${req.get("host") ?? `${config.http.host}:${config.http.port}`}`;
  return `${origin}/dicomweb`;
}

/** Base URL of the DICOMweb service outside any request (background work): the public URL, else the listen address. */
export function configuredDicomwebBaseUrl(config: Config): string {
  const { host, port, publicUrl } = config.http;
  return `${publicUrl ?? httpOrigin(host, port)}/dicomweb`;
}
