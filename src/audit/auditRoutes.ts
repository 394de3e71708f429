// GET /AuditEvent (FHIR R4 search, answered as a searchset Bundle) and GET /AuditEvent/:id (read), for mounting
// under /fhir. Scope checks (system/AuditEvent.rs, DESIGN.md §6) are the auth layer's, in front of this router.
import { Router, type Request } from "express";
import { FHIR_JSON, sendOperationOutcome } from "../fhir/operationOutcome.js";
import type { AuditEvent } from "./auditEvent.js";
import { AuditSearchError, parseAuditSearch } from "./auditSearchParams.js";
import type { AuditSearch, AuditStore } from "./auditStore.js";

/** The service's base URL as the client reached it (scheme, host, port; no trailing slash). */
export type BaseUrl = (req: Request) => string;

interface BundleLink {
  relation: "self" | "next" | "previous";
  url: string;
}

interface SearchSetBundle {
  resourceType: "Bundle";
  type: "searchset";
  total: number;
  link: BundleLink[];
  entry: Array<{ fullUrl: string; resource: AuditEvent; search: { mode: "match" } }>;
}

/** The decoded query parameters in request order, repeats kept. */
function queryParameters(req: Request): [string, string][] {
  const start = req.originalUrl.indexOf("?");
  return start < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(start + 1))];
}

function pageUrl(endpoint: string, parameters: [string, string][], page?: { count: number; offset: number }): string {
  const query = new URLSearchParams(parameters);
  if (page) {
    query.set("_count", String(page.count));
    query.set("_offset", String(page.offset));
  }
  const text = query.toString();
  return text ? `${endpoint}?${text}` : endpoint;
}

/** R4 Bundle searchset (search.html "Paging"): self, and next/previous when there are more pages. */
function searchSet(
  endpoint: string,
  parameters: [string, string][],
  search: AuditSearch,
  result: { total: number; events: AuditEvent[] },
): SearchSetBundle {
  const { count, offset } = search;
  const link: BundleLink[] = [{ relation: "self", url: pageUrl(endpoint, parameters) }];
  if (count > 0 && offset + count < result.total) {
    link.push({ relation: "next", url: pageUrl(endpoint, parameters, { count, offset: offset + count }) });
  }
  if (count > 0 && offset > 0) {
    link.push({ relation: "previous", url: pageUrl(endpoint, parameters, { count, offset: Math.max(0, offset - count) }) });
  }
  return {
    resourceType: "Bundle",
    type: "searchset",
    total: result.total,
    link,
    entry: result.events.map((resource) => ({
      fullUrl: `${endpoint}/${resource.id ?? ""}`,
      resource,
      search: { mode: "match" },
    })),
  };
}

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
    const bundle = searchSet(`${baseUrl(req)}/fhir/AuditEvent`, parameters, search, result);
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
