// STOW-RS routes (PS3.18 §10.5): POST /studies and POST /studies/{StudyInstanceUID}.
import type { Request, Response, Router } from "express";
import { toNativeDicomModel } from "../dicom/nativeDicomModel.js";
import { countStoreOutcome, countStowBytes } from "../http/metrics.js";
import { negotiate } from "../http/negotiation.js";
import type { Services } from "../services.js";
import { notAcceptable } from "./errors.js";
import { storeInstances } from "./stow.js";
import type { StoredInstance } from "./storeResponse.js";
import type { AuditEntity } from "../audit/accessRecord.js";
import { dicomwebBaseUrl } from "./baseUrl.js";

const RESPONSE_TYPES = [{ mediaType: "application/dicom+json" }, { mediaType: "application/dicom+xml" }] as const;

/** Each stored study and its patient, once. */
function storeAuditEntities(stored: StoredInstance[]): AuditEntity[] {
  const entities = new Map<string, AuditEntity>();
  for (const instance of stored) {
    entities.set(`study ${instance.studyInstanceUID}`, { kind: "study", studyInstanceUID: instance.studyInstanceUID });
    if (instance.patient) entities.set(`patient ${instance.patient.patientId}`, { kind: "patient", ...instance.patient });
  }
  return [...entities.values()];
}

export function registerStowRoutes(router: Router, services: Services): void {
  const handler = async (req: Request, res: Response) => {
    // Decide the response type before reading a byte, so a client that cannot read it is told at once.
    const responseType = negotiate(req.get("accept"), [...RESPONSE_TYPES, { mediaType: "application/json" }]);
    if (!responseType) throw notAcceptable("STOW-RS answers in application/dicom+json or application/dicom+xml");
    const declaredLength = req.get("content-length");
    const result = await storeInstances(
      {
        contentType: req.get("content-type"),
        contentLength: declaredLength === undefined ? undefined : Number(declaredLength),
        // Reading through an iterator that does not destroy the socket on early exit lets a 413 still be sent.
        body: countStowBytes(services.metrics, req.iterator({ destroyOnReturn: false })),
        studyInstanceUID: typeof req.params.study === "string" ? req.params.study : undefined,
        dicomwebBaseUrl: dicomwebBaseUrl(req, services.config),
        patientId: req.access?.patient,
      },
      {
        index: services.index,
        files: services.files,
        logger: services.logger,
        settings: { ...services.config.stow, minFreeBytes: services.config.storage.minFreeBytes },
      },
    );
    countStoreOutcome(services.metrics, result.outcome);
    res.locals.audit.entities.push(...storeAuditEntities(result.outcome.stored));
    res.status(result.status);
    // The study-stable trigger (each stored study's report job waits for the quiet period after this arrival) and
    // the audit record are written side by side, in the same turn; the response waits for both to be durable.
    await Promise.all([
      services.studyTrigger.studiesReceived(result.outcome.stored.map((instance) => instance.studyInstanceUID)),
      res.locals.audit.flush(),
    ]);
    if (responseType.mediaType === "application/dicom+xml") {
      res.type("application/dicom+xml").send(toNativeDicomModel(result.response));
    } else {
      res.type("application/dicom+json").send(JSON.stringify(result.response));
    }
  };
  router.post("/studies", handler);
  router.post("/studies/:study", handler);
}
