// The embedded OAuth 2.0 authorization server (oidc-provider) for sites without their own (DESIGN §6). It issues
// access tokens by the client_credentials grant only, as SMART Backend Services describes: clients authenticate
// with a secret or, preferably, with a private_key_jwt assertion (RS384 or ES384, at most 5 minutes long, jti
// used once); access tokens are RS384-signed JWTs (RFC 9068) for this service's audience, at most 300 s long.
import { randomBytes } from "node:crypto";
import type { EventEmitter } from "node:events";
import express from "express";
import type { JSONWebKeySet } from "jose";
import type {
  Adapter,
  AdapterPayload,
  ClientMetadata,
  Configuration,
  KoaContextWithOIDC,
  default as Provider,
  ResourceServer,
} from "oidc-provider";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { loadOrCreateClients, type RegisteredClient } from "./clients.js";
import { parseResourceScope, parseScopes } from "./scopes.js";
import { loadOrCreateSigningKeys, publicJwks } from "./signingKeys.js";

export interface AuthorizationServer {
  provider: Provider;
  /** Mount at `mountPath` before any body parser (oidc-provider reads the body itself): `app.use("/oauth2", router)`. */
  router: express.Router;
  /** The public signing keys, also served at /oauth2/jwks: the embedded mode's token validator trusts these. */
  publicJwks: JSONWebKeySet;
  issuer: string;
  /** Where to mount the router: the issuer's path, "/oauth2" unless TRRG_AUTH_ISSUER says otherwise. */
  mountPath: string;
  /** Every scope some registered client may be granted, for `scopes_supported`. */
  scopesSupported: string[];
}

/** SMART Backend Services: the client assertion "SHALL be no more than five minutes in the future". */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/** The paths of the provider we serve, relative to the issuer; everything else (authorization, session end…) stays closed. */
const PROVIDER_PATHS = new Set(["/token", "/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]);

const AUTHORIZATION_ENDPOINT_METADATA = [
  "authorization_endpoint",
  "authorization_response_iss_parameter_supported",
  "code_challenge_methods_supported",
  "response_modes_supported",
  "request_uri_parameter_supported",
  "claims_parameter_supported",
];

/**
 * Provider state kept in this process's memory. With JWT access tokens and no interactive flows, that state is the
 * replay-detection record of each client assertion's jti, kept until the assertion expires. Unlike oidc-provider's
 * quick-start adapter (an LRU of 1000 entries), nothing is evicted before it expires, so a burst of requests cannot
 * push a jti out and let its assertion be replayed. One process only: replicas behind one issuer need a shared store.
 */
class ExpiringMemoryStore {
  private readonly entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  private nextSweep = 0;

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry?.payload;
  }

  set(key: string, payload: AdapterPayload, expiresInSeconds: number | undefined): void {
    const now = Date.now();
    if (now >= this.nextSweep) {
      for (const [k, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(k);
      this.nextSweep = now + 60_000;
    }
    // One second more than asked, so a record never lapses before the assertion it guards.
    const expiresAt = expiresInSeconds === undefined ? Infinity : now + (Math.max(expiresInSeconds, 0) + 1) * 1000;
    this.entries.set(key, { payload, expiresAt });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  deleteWhere(predicate: (payload: AdapterPayload) => boolean): void {
    for (const [key, entry] of this.entries) if (predicate(entry.payload)) this.entries.delete(key);
  }
}

function memoryAdapter(store: ExpiringMemoryStore) {
  return (model: string): Adapter => {
    const key = (id: string) => `${model}:${id}`;
    return {
      upsert: async (id, payload, expiresIn) => store.set(key(id), payload, expiresIn),
      find: async (id) => store.get(key(id)),
      findByUid: async () => undefined,
      findByUserCode: async () => undefined,
      consume: async (id) => {
        const payload = store.get(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id) => store.delete(key(id)),
      revokeByGrantId: async (grantId) => store.deleteWhere((payload) => payload.grantId === grantId),
    };
  };
}

/**
 * Imports oidc-provider and runs its set-up with its console notices (the Node 20 "Unsupported runtime" warning,
 * quick-start notices) sent to the debug log instead; other console output passes through.
 */
async function withProviderNoticesLogged<T>(logger: Logger, work: () => Promise<T>): Promise<T> {
  /* eslint-disable no-console */
  const { warn, info } = console;
  const route =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      const [first] = args;
      if (typeof first === "string" && first.includes("oidc-provider ")) {
        // eslint-disable-next-line no-control-regex
        logger.debug({ notice: first.replace(/\u001b\[[0-9;]*m/g, "") }, "oidc-provider notice");
      } else {
        original.apply(console, args);
      }
    };
  console.warn = route(warn);
  console.info = route(info);
  try {
    return await work();
  } finally {
    console.warn = warn;
    console.info = info;
  }
  /* eslint-enable no-console */
}

/**
 * oidc-provider refuses a client any scope of the server's list that is not in the client's own list, so a client
 * registered for system/Task.cruds would be refused system/Task.rs once another client registers that verbatim.
 * The client's list therefore also names every listed scope its registration covers.
 */
function toClientMetadata(client: RegisteredClient, scopesSupported: readonly string[]): ClientMetadata {
  return {
    client_id: client.client_id,
    client_name: client.client_name,
    client_secret: client.client_secret,
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    jwks: client.jwks as ClientMetadata["jwks"],
    jwks_uri: client.jwks_uri,
    scope: [...new Set([...client.scope.split(" "), ...scopesSupported.filter((scope) => isCoveredBy(scope, client.scope))])].join(" "),
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
  };
}

/** What is logged of an error: its kind and messages (oidc-provider never puts token values in these). */
function errorSummary(error: unknown, withStack = false): Record<string, unknown> {
  const { name, message, stack, error: code, error_description: description, error_detail: detail } = error as Record<string, unknown>;
  return { name, message, error: code, error_description: description, error_detail: detail, ...(withStack ? { stack } : {}) };
}

/**
 * Builds the authorization server: signing keys and clients from their files (both created on first start), then
 * oidc-provider configured for client_credentials with SMART scopes and JWT access tokens.
 */
/** True when `scope` asks for no more than one of the `registered` scopes grants (same context and resource). */
function isCoveredBy(scope: string, registered: string): boolean {
  if (registered.split(" ").includes(scope)) return true;
  const wanted = parseResourceScope(scope);
  if (!wanted) return false;
  return parseScopes(registered).some(
    (grant) =>
      grant.context === wanted.context &&
      (grant.resourceType === "*" || grant.resourceType === wanted.resourceType) &&
      [...wanted.permissions].every((permission) => grant.permissions.has(permission)),
  );
}

export async function createAuthorizationServer(config: Config, logger: Logger): Promise<AuthorizationServer> {
  const { issuer, audience, accessTokenTtlSeconds, clockSkewSeconds } = config.auth;
  if (!URL.canParse(audience)) {
    throw new Error(`TRRG_AUTH_AUDIENCE: the embedded authorization server needs an absolute URI (RFC 8707 resource), got "${audience}"`);
  }
  const issuerUrl = new URL(issuer);
  const keys = await loadOrCreateSigningKeys(config.auth.keysFile);
  const clients = await loadOrCreateClients(config.auth.clientsFile, logger);
  const clientsById = new Map(clients.map((client) => [client.client_id, client]));
  const scopesSupported = [...new Set(clients.flatMap((client) => client.scope.split(" ")))].sort();

  const provider = await withProviderNoticesLogged(logger, async () => {
    const oidc = await import("oidc-provider");
    const { errors } = oidc;

    const getResourceServerInfo = (ctx: KoaContextWithOIDC, resource: string, client: { clientId: string; scope?: string | undefined }): ResourceServer => {
      if (resource !== audience) throw new errors.InvalidTarget(`the only resource served is ${audience}`);
      const registered = client.scope ?? "";
      const params = ctx.oidc.params as { scope?: unknown };
      const requested = typeof params.scope === "string" ? params.scope.split(" ").filter(Boolean) : [];
      if (requested.length === 0) {
        // RFC 6749 §3.3: without a scope parameter the registered scopes are the pre-defined default.
        params.scope = registered;
      } else {
        // A client may ask for less than it is registered for (SMART: system/ImagingStudy.c under .cruds).
        const refused = requested.find((scope) => !isCoveredBy(scope, registered));
        if (refused !== undefined) throw new errors.InvalidScope("requested scope is not registered for this client", refused);
      }
      return {
        scope: requested.length === 0 ? registered : requested.join(" "),
        audience,
        accessTokenTTL: accessTokenTtlSeconds,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "RS384" } },
      };
    };

    const configuration: Configuration = {
      adapter: memoryAdapter(new ExpiringMemoryStore()),
      clients: clients.map((client) => toClientMetadata(client, scopesSupported)),
      clientAuthMethods: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
      clientDefaults: {
        grant_types: ["client_credentials"],
        response_types: [],
        id_token_signed_response_alg: "RS384",
      },
      clockTolerance: clockSkewSeconds,
      // No interactive flows use cookies; keys only need to exist.
      cookies: { keys: [randomBytes(32).toString("base64url")] },
      jwks: keys as Configuration["jwks"],
      scopes: scopesSupported,
      responseTypes: [],
      enabledJWA: {
        clientAuthSigningAlgValues: ["RS384", "ES384"],
        idTokenSigningAlgValues: ["RS384", "ES384"],
      },
      features: {
        clientCredentials: { enabled: true },
        devInteractions: { enabled: false },
        registration: { enabled: false },
        introspection: { enabled: false },
        revocation: { enabled: false },
        userinfo: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        pushedAuthorizationRequests: { enabled: false },
        // Tokens are plain bearer tokens: the resource server does not check DPoP proofs.
        dPoP: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => audience,
          useGrantedResource: () => true,
          getResourceServerInfo,
        },
      },
      ttl: {
        ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtlSeconds,
      },
      extraTokenClaims: (_ctx, token) => {
        // Every token is for this service (aud) and a JWT; a request that somehow resolved no resource gets none.
        if (!token.resourceServer) throw new errors.InvalidTarget("access tokens are issued only for this service");
        const patient = token.clientId === undefined ? undefined : clientsById.get(token.clientId)?.patient;
        return patient === undefined ? undefined : { patient };
      },
      // SMART Backend Services: sub is the client_id, and the assertion lives at most five minutes. oidc-provider
      // checks iss, aud, exp, the signature and (after this hook) that the jti was not used before.
      assertJwtClientAuthClaimsAndHeader: (_ctx, claims, _header, client) => {
        if (claims.sub !== client.clientId) throw new errors.InvalidClientAuth("sub (JWT subject) must be the client_id");
        const now = Math.floor(Date.now() / 1000);
        if (typeof claims.exp === "number" && claims.exp > now + MAX_ASSERTION_LIFETIME_SECONDS + clockSkewSeconds) {
          throw new errors.InvalidClientAuth("client assertion exp must be no more than 5 minutes in the future");
        }
      },
      // oidc-provider refuses to fetch from private and loopback addresses (SSRF protection), but a client's jwks_uri
      // comes only from the administrator's clients file and is often on the hospital network: allow those.
      fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit),
      // Backend services call the token endpoint from servers, never from a browser.
      clientBasedCORS: () => false,
      renderError: (ctx, out) => {
        ctx.type = "application/json";
        ctx.body = out;
      },
    };

    const provider = new oidc.Provider(issuer, configuration);
    // oidc-provider always has an authorization endpoint; RFC 8414 §2 leaves authorization_endpoint out when no
    // grant type uses it, so discovery does not advertise it nor its companions.
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.oidc?.route === "discovery" && ctx.body !== null && typeof ctx.body === "object") {
        for (const name of AUTHORIZATION_ENDPOINT_METADATA) delete (ctx.body as Record<string, unknown>)[name];
      }
    });
    // Fail at start, naming the client, rather than at its first token request.
    for (const client of clients) {
      try {
        await provider.Client.find(client.client_id);
      } catch (error) {
        throw new Error(`OAuth clients file "${config.auth.clientsFile}": client "${client.client_id}": ${(error as Error).message}`, { cause: error });
      }
    }
    return provider;
  });

  // The provider builds endpoint URLs and checks client assertion audiences against the request's own origin; behind
  // a TLS-terminating proxy that origin is not the issuer's. Trusting forwarded headers that we set ourselves to the
  // issuer's host and scheme makes the provider always see itself at its configured issuer.
  provider.proxy = true;
  const forwardedProto = issuerUrl.protocol.slice(0, -1);

  provider.on("grant.error", (ctx: KoaContextWithOIDC, error: unknown) => {
    logger.info({ clientId: ctx.oidc?.client?.clientId, ...errorSummary(error) }, "token request refused");
  });
  provider.on("grant.success", (ctx: KoaContextWithOIDC) => {
    logger.debug({ clientId: ctx.oidc?.client?.clientId }, "access token issued");
  });
  provider.on("server_error", (_ctx: KoaContextWithOIDC, error: unknown) => {
    logger.error({ err: errorSummary(error, true) }, "authorization server error");
  });
  // A listener on "error" also stops Koa printing errors to the console itself.
  (provider as unknown as EventEmitter).on("error", (error: unknown) => {
    logger.error({ err: errorSummary(error, true) }, "authorization server request failed");
  });

  const handle = provider.callback();
  const router = express.Router();
  router.use((req, res, next) => {
    if (!PROVIDER_PATHS.has(req.path)) {
      next();
      return;
    }
    req.headers["x-forwarded-host"] = issuerUrl.host;
    req.headers["x-forwarded-proto"] = forwardedProto;
    void handle(req, res);
  });

  logger.info({ issuer, clients: clients.length }, "embedded OAuth 2.0 authorization server ready");
  return { provider, router, publicJwks: publicJwks(keys), issuer, mountPath: issuerUrl.pathname, scopesSupported };
}
