// The one table of what each route requires (DESIGN §6). A request that matches no entry is treated as needing
// a scope no token has, so a route added without an entry here is closed, never open.
import { match } from "path-to-regexp";
import type { ScopeContext, ScopeRequirement, Permission } from "./scopes.js";

export type RouteAccess = { kind: "public" } | { kind: "scoped"; requirement: ScopeRequirement };

const ALL_CONTEXTS: readonly ScopeContext[] = ["patient", "user", "system"];
const PUBLIC: RouteAccess = { kind: "public" };

const scoped = (resourceType: string, permission: Permission, contexts = ALL_CONTEXTS): RouteAccess => ({
  kind: "scoped",
  requirement: { resourceType, permission, contexts },
});

// DICOMweb resources are guarded as FHIR ImagingStudy (DESIGN §6): STOW-RS creates, WADO-RS reads, QIDO-RS searches.
const STUDY_PATHS = {
  retrieve: [
    "/dicomweb/studies/:study",
    "/dicomweb/studies/:study/series/:series",
    "/dicomweb/studies/:study/series/:series/instances/:instance",
    "/dicomweb/studies/:study/metadata",
    "/dicomweb/studies/:study/series/:series/metadata",
    "/dicomweb/studies/:study/series/:series/instances/:instance/metadata",
  ],
  search: [
    "/dicomweb/studies",
    "/dicomweb/series",
    "/dicomweb/instances",
    "/dicomweb/studies/:study/series",
    "/dicomweb/studies/:study/instances",
    "/dicomweb/studies/:study/series/:series/instances",
  ],
};

// UPS-RS (DESIGN §6): create and change */Task.cu, read, search and subscribe */Task.rs. Writes and subscriptions
// are for systems and users: a patient/ scope may only read its patient's workitems.
const WRITERS: readonly ScopeContext[] = ["user", "system"];
const WORKITEM = "/dicomweb/workitems/:workitem";
const WORKLIST_ACCESS: ReadonlyArray<{ method: string; path: string; access: RouteAccess }> = [
  { method: "POST", path: "/dicomweb/workitems", access: scoped("Task", "c", WRITERS) },
  { method: "GET", path: "/dicomweb/workitems", access: scoped("Task", "s") },
  { method: "GET", path: WORKITEM, access: scoped("Task", "r") },
  { method: "POST", path: WORKITEM, access: scoped("Task", "u", WRITERS) },
  { method: "PUT", path: `${WORKITEM}/state`, access: scoped("Task", "u", WRITERS) },
  { method: "POST", path: `${WORKITEM}/cancelrequest`, access: scoped("Task", "u", WRITERS) },
  { method: "POST", path: `${WORKITEM}/subscribers/:aetitle`, access: scoped("Task", "s", WRITERS) },
  { method: "DELETE", path: `${WORKITEM}/subscribers/:aetitle`, access: scoped("Task", "s", WRITERS) },
  { method: "POST", path: `${WORKITEM}/subscribers/:aetitle/suspend`, access: scoped("Task", "s", WRITERS) },
  // The WebSocket notification channel (PS3.18 §8.10.4), opened with GET and Upgrade.
  { method: "GET", path: "/dicomweb/subscribers/:aetitle", access: scoped("Task", "s", WRITERS) },
];

// The published report resources (src/fhir/fhirRoutes.ts), each guarded by its own SMART resource scope.
const FHIR_READ_TYPES = ["DiagnosticReport", "Observation", "Device", "Provenance"];

export const ROUTE_ACCESS_TABLE: ReadonlyArray<{ method: string; path: string; access: RouteAccess }> = [
  { method: "GET", path: "/healthz", access: PUBLIC },
  { method: "GET", path: "/readyz", access: PUBLIC },
  // Served before authorization, open or behind its own TRRG_METRICS_BEARER (src/http/metricsRoutes.ts).
  { method: "GET", path: "/metrics", access: PUBLIC },
  { method: "GET", path: "/.well-known/smart-configuration", access: PUBLIC },
  { method: "GET", path: "/fhir/.well-known/smart-configuration", access: PUBLIC },
  { method: "POST", path: "/dicomweb/studies", access: scoped("ImagingStudy", "c") },
  { method: "POST", path: "/dicomweb/studies/:study", access: scoped("ImagingStudy", "c") },
  ...STUDY_PATHS.retrieve.map((path) => ({ method: "GET", path, access: scoped("ImagingStudy", "r") })),
  ...STUDY_PATHS.search.map((path) => ({ method: "GET", path, access: scoped("ImagingStudy", "s") })),
  ...WORKLIST_ACCESS,
  // Report jobs are the service's internal tasks, read like UPS workitems (DESIGN §6: Task.rs); a patient/ scope
  // narrows them to the patient's studies (src/jobs/jobRoutes.ts).
  { method: "GET", path: "/jobs", access: scoped("Task", "s") },
  { method: "GET", path: "/jobs/:id", access: scoped("Task", "r") },
  // FHIR R4 capabilities are public (SMART App Launch 2: clients discover the server before they authorize).
  { method: "GET", path: "/fhir/metadata", access: PUBLIC },
  ...FHIR_READ_TYPES.flatMap((type) => [
    { method: "GET", path: `/fhir/${type}`, access: scoped(type, "s") },
    { method: "POST", path: `/fhir/${type}/_search`, access: scoped(type, "s") },
    { method: "GET", path: `/fhir/${type}/:id`, access: scoped(type, "r") },
  ]),
  { method: "GET", path: "/fhir/AuditEvent", access: scoped("AuditEvent", "s", ["system"]) },
  { method: "GET", path: "/fhir/AuditEvent/:id", access: scoped("AuditEvent", "r", ["system"]) },
];

const MATCHERS = ROUTE_ACCESS_TABLE.map((entry) => ({ ...entry, matches: match(entry.path) }));

/** Routes outside the table: no scope grants this, so any token is refused with 403. */
const UNLISTED: RouteAccess = scoped("(unlisted route)", "r", []);

export interface MatchedRoute {
  access: RouteAccess;
  /** The table's route pattern, e.g. /dicomweb/studies/:study, or "(unlisted)". */
  pattern: string;
}

/** What a request needs; HEAD is checked as GET. The OAuth server under /oauth2 protects itself. */
export function accessFor(method: string, path: string): MatchedRoute {
  if (path === "/oauth2" || path.startsWith("/oauth2/")) return { access: PUBLIC, pattern: "/oauth2/*" };
  const effective = method === "HEAD" ? "GET" : method;
  const entry = MATCHERS.find((candidate) => candidate.method === effective && candidate.matches(path) !== false);
  return entry ? { access: entry.access, pattern: entry.path } : { access: UNLISTED, pattern: "(unlisted)" };
}
