// QIDO-RS routes (PS3.18 §10.6): SearchForStudies, SearchForSeries and SearchForInstances on every target resource.
import type { Request, Response, Router } from "express";
import type { AuditEntity } from "../audit/accessRecord.js";
import { warningHeader } from "../http/errors.js";
import { negotiate } from "../http/negotiation.js";
import { queryParameters, queryString } from "../http/queryString.js";
import type { Services } from "../services.js";
import type { Database } from "../store/database.js";
import { dicomwebBaseUrl } from "./baseUrl.js";
import { notAcceptable } from "./errors.js";
import {
  SEARCH_MEDIA_TYPES,
  searchForInstances,
  searchForSeries,
  searchForStudies,
  type SearchRequest,
  type SearchResult,
  type SearchSettings,
} from "./qido.js";

type Search = (db: Database, request: SearchRequest, settings: SearchSettings) => Promise<SearchResult>;

function pathParameter(req: Request, name: string): string | undefined {
  const value = req.params[name];
  return typeof value === "string" ? value : undefined;
}

/** BALP query entity: the query string; and the patient when the search names one. */
function searchAuditEntities(req: Request): AuditEntity[] {
  const entities: AuditEntity[] = [{ kind: "query", query: queryString(req) }];
  const patientId = new URLSearchParams(queryString(req)).get("PatientID") ?? req.access?.patient;
  if (patientId) entities.push({ kind: "patient", patientId });
  const study = pathParameter(req, "study");
  if (study) entities.push({ kind: "study", studyInstanceUID: study });
  return entities;
}

export function registerQidoRoutes(router: Router, services: Services): void {
  const handler = (search: Search) => async (req: Request, res: Response) => {
    const responseType = negotiate(req.get("accept"), SEARCH_MEDIA_TYPES);
    if (!responseType) throw notAcceptable("QIDO-RS results are returned as application/dicom+json");
    const result = await search(
      services.db,
      {
        studyInstanceUID: pathParameter(req, "study"),
        seriesInstanceUID: pathParameter(req, "series"),
        patientId: req.access?.patient,
        query: queryParameters(req),
        dicomwebBaseUrl: dicomwebBaseUrl(req, services.config),
      },
      services.config.qido,
    );
    res.locals.audit.entities.push(...searchAuditEntities(req));
    for (const warning of result.warnings) res.append("Warning", warningHeader(warning));
    res.status(200).type(responseType.mediaType).send(JSON.stringify(result.matches));
  };
  router.get("/studies", handler(searchForStudies));
  router.get("/series", handler(searchForSeries));
  router.get("/instances", handler(searchForInstances));
  router.get("/studies/:study/series", handler(searchForSeries));
  router.get("/studies/:study/instances", handler(searchForInstances));
  router.get("/studies/:study/series/:series/instances", handler(searchForInstances));
}
