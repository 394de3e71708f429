// GET /AuditEvent (FHIR R4 search, answered as a searchset Bundle) and GET /AuditEvent/:id (read), for mounting
// under /fhir. Scope checks (system/AuditEvent.rs, DESIGN.md §6) are the auth layer's, in front of this router.
import { Router, type Request } from "express";
import { FHIR_JSON, sendOperationOutcome } from "../fhir/operationOutcome.js";
import { queryParameters, searchSet } from "../fhir/searchBundle.js";
import { AuditSearchError, parseAuditSearch } from "./auditSearchParams.js";
import type { AuditSearch, AuditStore } from "./auditStore.js";

/** The service's base URL as the client reached it (scheme, host, port; no trailing slash). */
export type BaseUrl = (req: Request) => string;

const LOGICAL_ID = /^[1-9][0-9]{0,14}$/;

export function auditRoutes(audit: AuditStore, baseUrl: BaseUrl): Router {
  const router = Router();
  router.get("/AuditEvent", async (req, res) => {
    const parameters = queryParameters(req);
    let search: AuditSearch;
    try {
      search = parseAuditSearch(parameters);
    } catch (error) {
      if (!(error instanceof AuditSearchError)) throw error;
      sendOperationOutcome(res, 400, "invalid", error.message);
      return;
    }
    const result = await audit.search(search);
    const bundle = searchSet(`${baseUrl(req)}/fhir/AuditEvent`, parameters, search, { total: result.total, resources: result.events });
    res.status(200).type(FHIR_JSON).send(JSON.stringify(bundle));
  });
  router.get("/AuditEvent/:id", async (req, res) => {
    const id = req.params.id ?? "";
    const event = LOGICAL_ID.test(id) ? await audit.read(Number(id)) : undefined;
    if (!event) {
      sendOperationOutcome(res, 404, "not-found", `AuditEvent/${id.slice(0, 64)} is not known`);
      return;
    }
    res.status(200).type(FHIR_JSON).send(JSON.stringify(event));
  });
  return router;
}
