// The FHIR R4 read API under /fhir (R4 http.html): metadata, read and search (GET, and POST _search with a form
// body) for the resources the service publishes. Answers are application/fhir+json; every error is an
// OperationOutcome. Scope checks are the auth layer's (src/auth/routeAccess.ts), in front of this router.
import type { Reference, Resource } from "@medplum/fhirtypes";
import express, { Router, type Request, type Response } from "express";
import type { AuditEntity } from "../audit/accessRecord.js";
import type { Services } from "../services.js";
import { capabilityStatement } from "./capabilityStatement.js";
import { FHIR_JSON, sendOperationOutcome } from "./operationOutcome.js";
import { readResource, searchResources } from "./resourceStore.js";
import { queryParameters, searchSet } from "./searchBundle.js";
import { SUPPORTED_RESOURCE_TYPES, type SupportedResourceType } from "./searchIndex.js";
import { parseResourceSearch } from "./searchRequest.js";
import { FhirSearchError, JSON_FORMATS } from "./searchValues.js";

export type BaseUrl = (req: Request) => string;

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const FHIR_MEDIA_TYPES = ["application/fhir+json", "application/json", "application/*", "*/*"];

function isSupported(type: string): type is SupportedResourceType {
  return (SUPPORTED_RESOURCE_TYPES as readonly string[]).includes(type);
}

/** R4 http.html#mime-type: JSON only; an Accept (or _format) asking for XML or Turtle is a 406. */
function acceptsJson(req: Request): boolean {
  const format = typeof req.query._format === "string" ? req.query._format : undefined;
  if (format !== undefined) return JSON_FORMATS.has(format);
  const accept = req.get("accept");
  if (!accept) return true;
  return accept.split(",").some((range) => FHIR_MEDIA_TYPES.includes((range.split(";")[0] ?? "").trim().toLowerCase()));
}

/** BALP entities of a read: the resource, and its patient when it has one. */
function readEntities(resource: Resource): AuditEntity[] {
  const entities: AuditEntity[] = [{ kind: "resource", reference: `${resource.resourceType}/${resource.id ?? ""}` }];
  const subject = (resource as { subject?: Reference }).subject;
  const patientId = subject?.identifier?.value ?? subject?.reference?.replace(/^Patient\//, "");
  if (patientId) entities.push({ kind: "patient", patientId, ...(subject?.identifier?.system ? { issuer: subject.identifier.system } : {}) });
  return entities;
}

/** BALP entities of a search: the query, and the patient it is limited to or asks for. */
function searchEntities(req: Request, parameters: [string, string][]): AuditEntity[] {
  const entities: AuditEntity[] = [{ kind: "query", query: new URLSearchParams(parameters).toString() }];
  const asked = parameters.find(([name]) => /^(patient|subject)(:identifier)?$/.test(name))?.[1];
  const patientId = req.access?.patient ?? asked?.replace(/^Patient\//, "").replace(/^.*\|/, "");
  if (patientId) entities.push({ kind: "patient", patientId });
  return entities;
}

function send(res: Response, body: unknown): void {
  res.status(200).type(FHIR_JSON).send(JSON.stringify(body));
}

export function fhirRoutes(services: Services, baseUrl: BaseUrl, software: { name: string; version: string }): Router {
  const router = Router();
  router.use((req, res, next) => {
    if (acceptsJson(req)) next();
    else sendOperationOutcome(res, 406, "not-supported", "this server answers in application/fhir+json only");
  });

  router.get("/metadata", (req, res) => send(res, capabilityStatement(`${baseUrl(req)}/fhir`, software)));

  const search = async (req: Request, res: Response, parameters: [string, string][]) => {
    const type = req.params.type as string;
    if (!isSupported(type)) {
      sendOperationOutcome(res, 404, "not-supported", `resource type ${type.slice(0, 64)} is not served here; see /fhir/metadata`);
      return;
    }
    let parsed;
    try {
      parsed = parseResourceSearch(type, parameters);
    } catch (error) {
      if (!(error instanceof FhirSearchError)) throw error;
      sendOperationOutcome(res, 400, "invalid", error.message);
      return;
    }
    const result = await searchResources(services.db, parsed, { patient: req.access?.patient });
    res.locals.audit?.entities.push(...searchEntities(req, parameters));
    send(res, searchSet(`${baseUrl(req)}/fhir/${type}`, parameters, parsed, result));
  };

  router.get("/:type", (req, res) => search(req, res, queryParameters(req)));
  // R4 http.html#search: POST [type]/_search with the parameters form-encoded in the body (and any in the URL).
  router.post("/:type/_search", express.urlencoded({ extended: false, limit: "64kb" }), (req, res) => {
    const body = Object.entries((req.body ?? {}) as Record<string, string | string[]>).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, v]),
    );
    return search(req, res, [...queryParameters(req), ...body]);
  });

  router.get("/:type/:id", async (req, res) => {
    const type = req.params.type as string;
    const id = req.params.id as string;
    if (!isSupported(type)) {
      sendOperationOutcome(res, 404, "not-supported", `resource type ${type.slice(0, 64)} is not served here; see /fhir/metadata`);
      return;
    }
    const resource = FHIR_ID.test(id) ? await readResource(services.db, type, id, { patient: req.access?.patient }) : undefined;
    if (!resource) {
      sendOperationOutcome(res, 404, "not-found", `${type}/${id.slice(0, 64)} is not known`);
      return;
    }
    res.locals.audit?.entities.push(...readEntities(resource));
    res.set("ETag", `W/"${resource.meta?.versionId ?? "1"}"`);
    if (resource.meta?.lastUpdated) res.set("Last-Modified", new Date(resource.meta.lastUpdated).toUTCString());
    send(res, resource);
  });
  return router;
}
