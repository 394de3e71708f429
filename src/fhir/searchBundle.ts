// R4 searchset Bundles (search.html "Paging", "Including other resources"): the matches of one page, the
// resources _include brought along, the total, and self/next/previous links that repeat the search.
import type { Request } from "express";

interface BundleLink {
  relation: "self" | "next" | "previous";
  url: string;
}

interface SearchedResource {
  resourceType: string;
  id?: string | undefined;
}

export interface SearchSetBundle<T extends SearchedResource> {
  resourceType: "Bundle";
  type: "searchset";
  total: number;
  link: BundleLink[];
  entry: Array<{ fullUrl: string; resource: T; search: { mode: "match" | "include" } }>;
}

export interface Page {
  count: number;
  offset: number;
}

/** The decoded query parameters in request order, repeats kept. */
export function queryParameters(req: Request): [string, string][] {
  const start = req.originalUrl.indexOf("?");
  return start < 0 ? [] : [...new URLSearchParams(req.originalUrl.slice(start + 1))];
}

function pageUrl(endpoint: string, parameters: [string, string][], page?: Page): string {
  const query = new URLSearchParams(parameters);
  if (page) {
    query.set("_count", String(page.count));
    query.set("_offset", String(page.offset));
  }
  const text = query.toString();
  return text ? `${endpoint}?${text}` : endpoint;
}

/**
 * endpoint is the search's URL without its query (…/fhir/DiagnosticReport); fullUrls are the base (…/fhir) joined
 * with each resource's type and id.
 */
export function searchSet<T extends SearchedResource>(
  endpoint: string,
  parameters: [string, string][],
  page: Page,
  result: { total: number; resources: T[]; included?: T[] },
): SearchSetBundle<T> {
  const { count, offset } = page;
  const base = endpoint.slice(0, endpoint.lastIndexOf("/"));
  const link: BundleLink[] = [{ relation: "self", url: pageUrl(endpoint, parameters) }];
  if (count > 0 && offset + count < result.total) {
    link.push({ relation: "next", url: pageUrl(endpoint, parameters, { count, offset: offset + count }) });
  }
  if (count > 0 && offset > 0) {
    link.push({ relation: "previous", url: pageUrl(endpoint, parameters, { count, offset: Math.max(0, offset - count) }) });
  }
  const entry = (mode: "match" | "include") => (resource: T) => ({
    fullUrl: `${base}/${resource.resourceType}/${resource.id ?? ""}`,
    resource,
    search: { mode },
  });
  return {
    resourceType: "Bundle",
    type: "searchset",
    total: result.total,
    link,
    entry: [...result.resources.map(entry("match")), ...(result.included ?? []).map(entry("include"))],
  };
}
