// One transaction Bundle per report (FHIR R4 http.html#transaction): every entry is a conditional create
// (ifNoneExist, R4 http.html#ccreate) on the resource's stable identity, so posting the bundle again, after a
// timeout or from another worker, creates nothing twice. References between the entries use their urn:uuid full
// URLs, which the server resolves to whatever it created or found (R4 bundle.html#references).
//
// A full URL is never the resource's own identifier value (`urn:uuid:<id>`): R4 http.html#trules has the server
// replace the full URL wherever it appears in the bundle, in uri elements too, and some servers (@medplum's
// fhir-router 4.5 among them) replace it in any string. An identifier equal to its full URL would be stored as
// the server's `DiagnosticReport/<new id>`, and the next conditional create would no longer find it.
import type { Bundle, BundleEntry, Resource } from "@medplum/fhirtypes";
import { CODE_SYSTEMS, IDENTIFIER_SYSTEMS } from "./canonical.js";
import { nameBasedUuid } from "./identifiers.js";
import type { ReportResources } from "./reportResources.js";

/** The bundle-local full URL of a resource: stable, and distinct from every identifier the resources carry. */
export function entryFullUrl(resource: Pick<Resource, "resourceType" | "id">): string {
  return `urn:uuid:${nameBasedUuid(`bundle-entry|${resource.resourceType}/${resource.id ?? ""}`)}`;
}

export function transactionBundle(resources: ReportResources): Bundle {
  const all: Resource[] = [resources.device, ...resources.observations, resources.report, resources.provenance];
  const fullUrls = new Map(all.map((r) => [`${r.resourceType}/${r.id}`, entryFullUrl(r)]));
  return {
    resourceType: "Bundle",
    type: "transaction",
    entry: all.map((resource) => entry(resource, fullUrls)),
  };
}

function entry(resource: Resource, fullUrls: ReadonlyMap<string, string>): BundleEntry {
  const { id, ...content } = resource;
  return {
    fullUrl: fullUrls.get(`${resource.resourceType}/${id}`),
    resource: withBundleReferences(content as Resource, fullUrls),
    request: { method: "POST", url: resource.resourceType, ifNoneExist: conditionOf(resource) },
  };
}

/** The search that finds the resource if an earlier post of this bundle already created it. */
function conditionOf(resource: Resource): string {
  if (resource.resourceType === "Provenance") {
    // R4 Provenance has no identifier; it carries the report identifier as a tag instead (docs/fhir.md).
    const tag = resource.meta?.tag?.find((t) => t.system === CODE_SYSTEMS.reportTag);
    return `_tag=${encodeURIComponent(`${CODE_SYSTEMS.reportTag}|${tag?.code ?? ""}`)}`;
  }
  const identifier = (resource as { identifier?: { system?: string; value?: string }[] }).identifier?.[0];
  if (!identifier?.value) throw new Error(`${resource.resourceType} has no identifier to create it conditionally`);
  const system = identifier.system ?? IDENTIFIER_SYSTEMS.uri;
  return `identifier=${encodeURIComponent(`${system}|${identifier.value}`)}`;
}

function withBundleReferences<T>(value: T, fullUrls: ReadonlyMap<string, string>): T {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === "reference" && typeof v === "string" ? (fullUrls.get(v) ?? v) : v,
  ) as T;
}
