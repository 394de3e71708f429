// The SMART configuration document (SMART App Launch 2 §"Conformance": `.well-known/smart-configuration`). This
// service is reached by backend services only, so it lists the client_credentials grant and the client
// authentication of SMART Backend Services, and no authorization endpoint, PKCE or launch capabilities.
import type { Config } from "../config.js";
import { ROUTE_ACCESS_TABLE } from "./routeAccess.js";
import type { Permission, ScopeContext } from "./scopes.js";

/** What this service needs from its issuer's discovery document (OpenID Connect Discovery §3, RFC 8414 §2). */
export interface IssuerMetadata {
  /** The issuer exactly as the issuer writes it (tokens carry this value in `iss`). */
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  grant_types_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  token_endpoint_auth_signing_alg_values_supported?: string[];
  scopes_supported?: string[];
}

export interface SmartConfiguration {
  issuer: string;
  jwks_uri: string;
  token_endpoint: string;
  grant_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  token_endpoint_auth_signing_alg_values_supported: string[];
  scopes_supported: string[];
  capabilities: string[];
}

export interface SmartConfigurationOptions {
  /** Scopes clients may be granted; the embedded server passes its clients' scopes. Default: from the route table. */
  scopesSupported?: readonly string[];
  /** External mode: the issuer's own metadata, from `fetchIssuerMetadata`. */
  issuerMetadata?: IssuerMetadata;
}

const EMBEDDED_AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post"];
/** SMART Backend Services: servers SHALL support RS384 and ES384 client assertions. */
const EMBEDDED_SIGNING_ALGS = ["RS384", "ES384"];
const PERMISSION_ORDER: readonly Permission[] = ["c", "r", "u", "d", "s"];

/** One SMART v2 scope per context and resource type, with every permission some route checks. */
export function scopesFromRouteTable(): string[] {
  const permissions = new Map<string, Set<Permission>>();
  for (const { access } of ROUTE_ACCESS_TABLE) {
    if (access.kind !== "scoped") continue;
    for (const context of access.requirement.contexts) {
      const key = `${context}/${access.requirement.resourceType}`;
      const set = permissions.get(key) ?? new Set<Permission>();
      set.add(access.requirement.permission);
      permissions.set(key, set);
    }
  }
  const rank: Record<ScopeContext, number> = { system: 0, user: 1, patient: 2 };
  return [...permissions]
    .sort(([a], [b]) => rank[a.split("/")[0] as ScopeContext] - rank[b.split("/")[0] as ScopeContext] || a.localeCompare(b))
    .map(([key, set]) => `${key}.${PERMISSION_ORDER.filter((p) => set.has(p)).join("")}`);
}

function capabilitiesFor(authMethods: readonly string[]): string[] {
  const capabilities: string[] = [];
  if (authMethods.includes("private_key_jwt")) capabilities.push("client-confidential-asymmetric");
  if (authMethods.some((method) => method.startsWith("client_secret_"))) capabilities.push("client-confidential-symmetric");
  // Scopes are read in both syntaxes: v2 (`.rs`) and v1 (`.read`), see scopes.ts.
  capabilities.push("permission-v2", "permission-v1");
  return capabilities;
}

/**
 * The document served at `/.well-known/smart-configuration` (and under `/fhir`). Embedded mode describes our own
 * server at `${issuer}/token` and `${issuer}/jwks`; external mode needs the issuer's metadata.
 */
export function smartConfiguration(config: Config, options: SmartConfigurationOptions = {}): SmartConfiguration {
  const metadata = config.auth.mode === "external" ? options.issuerMetadata : undefined;
  const issuer = metadata?.issuer ?? config.auth.issuer;
  const authMethods = metadata?.token_endpoint_auth_methods_supported ?? EMBEDDED_AUTH_METHODS;
  return {
    issuer,
    jwks_uri: config.auth.jwksUrl ?? metadata?.jwks_uri ?? `${config.auth.issuer}/jwks`,
    token_endpoint: metadata?.token_endpoint ?? `${config.auth.issuer}/token`,
    grant_types_supported: ["client_credentials"],
    token_endpoint_auth_methods_supported: [...authMethods],
    token_endpoint_auth_signing_alg_values_supported: [
      ...(metadata?.token_endpoint_auth_signing_alg_values_supported ?? EMBEDDED_SIGNING_ALGS),
    ],
    scopes_supported: [...(options.scopesSupported ?? scopesFromRouteTable())],
    capabilities: capabilitiesFor(authMethods),
  };
}

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, "");

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === "string") ? value : undefined;
}

async function fetchJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  if (!response.ok) return { status: response.status, body: undefined };
  return { status: response.status, body: await response.json() };
}

/**
 * Reads the external issuer's discovery document: `${issuer}/.well-known/openid-configuration` (OpenID Connect
 * Discovery §4), else the RFC 8414 §3 location. Checks that the document names the same issuer (RFC 8414 §3.3;
 * a trailing slash aside) and has jwks_uri and token_endpoint. Throws an Error saying what is wrong.
 */
export async function fetchIssuerMetadata(issuer: string, options: { timeoutMs?: number } = {}): Promise<IssuerMetadata> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const base = withoutTrailingSlash(issuer);
  const issuerUrl = new URL(base);
  const locations = [
    `${base}/.well-known/openid-configuration`,
    `${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerUrl.pathname === "/" ? "" : issuerUrl.pathname}`,
  ];
  const failures: string[] = [];
  for (const location of locations) {
    let result: { status: number; body: unknown };
    try {
      result = await fetchJson(location, timeoutMs);
    } catch (error) {
      const reason = (error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (error as Error).message;
      failures.push(`${location}: ${reason}`);
      continue;
    }
    if (result.body === undefined) {
      failures.push(`${location}: HTTP ${result.status}`);
      continue;
    }
    const document = result.body as Record<string, unknown>;
    if (typeof document.issuer !== "string" || withoutTrailingSlash(document.issuer) !== base) {
      throw new Error(`issuer metadata at ${location} names issuer ${JSON.stringify(document.issuer)}, not "${issuer}"`);
    }
    for (const member of ["jwks_uri", "token_endpoint"] as const) {
      if (typeof document[member] !== "string" || !URL.canParse(document[member])) {
        throw new Error(`issuer metadata at ${location} has no valid ${member}`);
      }
    }
    return {
      issuer: document.issuer,
      jwks_uri: document.jwks_uri as string,
      token_endpoint: document.token_endpoint as string,
      grant_types_supported: stringArray(document.grant_types_supported),
      token_endpoint_auth_methods_supported: stringArray(document.token_endpoint_auth_methods_supported),
      token_endpoint_auth_signing_alg_values_supported: stringArray(document.token_endpoint_auth_signing_alg_values_supported),
      scopes_supported: stringArray(document.scopes_supported),
    };
  }
  throw new Error(`cannot read the metadata of issuer "${issuer}": ${failures.join("; ")}`);
}
