// SMART App Launch 2 scopes (§3 "Scopes and Launch Context"): context/ResourceType.permissions, where the
// context is patient, user or system and the permissions are a subset of "cruds" in that order. SMART v1
// `.read`, `.write` and `.*` are accepted as their v2 equivalents (.rs, .cud, .cruds).

export type ScopeContext = "patient" | "user" | "system";
export type Permission = "c" | "r" | "u" | "d" | "s";

export interface ResourceScope {
  context: ScopeContext;
  /** A FHIR resource type, or "*" for all. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
}

const V1_PERMISSIONS: Record<string, Permission[]> = {
  read: ["r", "s"],
  write: ["c", "u", "d"],
  "*": ["c", "r", "u", "d", "s"],
};

const SCOPE_PATTERN = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)$/;

/**
 * Parses one scope; undefined for scopes that are not resource scopes (openid, launch, fhirUser…) and for
 * SMART v2 granular scopes with a query (`?category=…`), which this service does not grant: ignoring them
 * can only narrow access.
 */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const match = SCOPE_PATTERN.exec(scope);
  if (!match) return undefined;
  const [, context, resourceType, permissionText] = match as unknown as [string, ScopeContext, string, string];
  const permissions = V1_PERMISSIONS[permissionText] ?? (permissionText.split("") as Permission[]);
  if (permissions.length === 0) return undefined;
  return { context, resourceType, permissions: new Set(permissions) };
}

export function parseScopes(scopeClaim: string | undefined): ResourceScope[] {
  return (scopeClaim ?? "")
    .split(/\s+/)
    .filter(Boolean)
    .map(parseResourceScope)
    .filter((scope): scope is ResourceScope => scope !== undefined);
}

export interface ScopeRequirement {
  resourceType: string;
  permission: Permission;
  /** Contexts that may grant it: every context unless the route is for systems only (audit). */
  contexts: readonly ScopeContext[];
}

/** The scope that grants a requirement, preferring system, then user, then patient context. */
export function grantingScope(scopes: readonly ResourceScope[], requirement: ScopeRequirement): ResourceScope | undefined {
  const candidates = scopes.filter(
    (scope) =>
      requirement.contexts.includes(scope.context) &&
      (scope.resourceType === "*" || scope.resourceType === requirement.resourceType) &&
      scope.permissions.has(requirement.permission),
  );
  const rank: Record<ScopeContext, number> = { system: 0, user: 1, patient: 2 };
  return candidates.sort((a, b) => rank[a.context] - rank[b.context])[0];
}

/** The scope string a client would need, for the WWW-Authenticate `scope` attribute (RFC 6750 §3). */
export function describeRequirement(requirement: ScopeRequirement): string {
  const context = requirement.contexts.length === 1 ? requirement.contexts[0] : "system";
  return `${context}/${requirement.resourceType}.${requirement.permission}`;
}
