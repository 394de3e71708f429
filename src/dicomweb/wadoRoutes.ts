// WADO-RS routes (PS3.18 §10.4): the Study, Series and Instance resources and their Metadata resources.
import { pipeline } from "node:stream/promises";
import type { Request, Response, Router } from "express";
import { negotiate } from "../http/negotiation.js";
import type { Services } from "../services.js";
import { findStudyPatient } from "../store/instanceIndex.js";
import { notAcceptable } from "./errors.js";
import { METADATA_MEDIA_TYPES, retrieveInstances, retrieveMetadata, retrieveScope } from "./wado.js";

/** Error codes of a client that closed the connection before the payload was complete. */
const CLIENT_GONE = new Set(["ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ECONNRESET", "EPIPE"]);

function pathOf(req: Request) {
  const param = (name: string) => {
    const value = req.params[name];
    return typeof value === "string" ? value : undefined;
  };
  return { study: param("study"), series: param("series"), instance: param("instance") };
}

export function registerWadoRoutes(router: Router, services: Services): void {
  /** The instances the path names, narrowed to the token's patient; the study and its patient go to the audit. */
  const auditedScope = async (req: Request, res: Response) => {
    const scope = { ...retrieveScope(pathOf(req)), patientId: req.access?.patient };
    res.locals.audit.entities.push({ kind: "study", studyInstanceUID: scope.studyInstanceUID });
    const patient = await findStudyPatient(services.db, scope.studyInstanceUID);
    if (patient) res.locals.audit.entities.push({ kind: "patient", patientId: patient.patientId, issuer: patient.issuer });
    return scope;
  };

  const retrieve = async (req: Request, res: Response) => {
    const scope = await auditedScope(req, res);
    const retrieved = await retrieveInstances(scope, req.get("accept"), services);
    res.status(200).set("Content-Type", retrieved.contentType);
    // The payload streams out in many writes: its audit record is stored before the first one.
    await res.locals.audit.flush();
    if (req.method === "HEAD") {
      await retrieved.body.return();
      res.end();
      return;
    }
    try {
      // pipeline honours back-pressure and, when the client goes away, ends the generator (closing its file).
      await pipeline(retrieved.body, res);
    } catch (error) {
      if (!res.headersSent) throw error;
      // The status line is out: all that is left is to cut the connection, which pipeline has done.
      if (CLIENT_GONE.has((error as NodeJS.ErrnoException).code ?? "")) return;
      services.logger.error({ err: error, requestId: req.id }, "retrieve stream failed");
    }
  };

  const metadata = async (req: Request, res: Response) => {
    const scope = await auditedScope(req, res);
    const responseType = negotiate(req.get("accept"), METADATA_MEDIA_TYPES);
    if (!responseType) throw notAcceptable("WADO-RS metadata is returned as application/dicom+json");
    const datasets = await retrieveMetadata(scope, services.db);
    res.status(200).type(responseType.mediaType).send(JSON.stringify(datasets));
  };

  router.get("/studies/:study", retrieve);
  router.get("/studies/:study/series/:series", retrieve);
  router.get("/studies/:study/series/:series/instances/:instance", retrieve);
  router.get("/studies/:study/metadata", metadata);
  router.get("/studies/:study/series/:series/metadata", metadata);
  router.get("/studies/:study/series/:series/instances/:instance/metadata", metadata);
}
