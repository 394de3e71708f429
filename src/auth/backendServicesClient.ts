// Bearer tokens for our outbound calls: to a FHIR server (delivery, src/fhir/deliveryWorker.ts) and to DICOMweb
// peers (src/dicomweb/dicomwebClient.ts). Two sources behind
// one interface: SMART Backend Services (SMART App Launch 2, "Backend Services": the client_credentials grant with
// a private_key_jwt client assertion, RFC 7523) and a static token read from a file. Token values are never logged
// and never put in an error message.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { KeyObject } from "node:crypto";
import { importJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import type { OutboundAuth } from "../config.js";

/** Where the token to send comes from. */
export interface BearerTokenSource {
  /** Describes the source for logs and errors, without any secret: "SMART backend services client x". */
  readonly description: string;
  /**
   * A token to send. The cached one unless `refresh`: the server answered 401 to it, so a new one is got (the
   * file read again, a new token requested).
   */
  accessToken(options?: { refresh?: boolean; signal?: AbortSignal }): Promise<string>;
}

/** The token could not be had: the endpoint refused it (with its OAuth error) or could not be reached. */
export class TokenRequestError extends Error {
  override name = "TokenRequestError";
  constructor(
    message: string,
    /** RFC 6749 §5.2 error and error_description, when the endpoint gave them. */
    readonly oauthError?: string,
    readonly oauthErrorDescription?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The key file cannot be used. */
export class ClientKeyError extends Error {
  override name = "ClientKeyError";
}

export type ClientAssertionAlgorithm = "RS384" | "ES384";

export interface ClientKey {
  key: CryptoKey | KeyObject | Uint8Array;
  alg: ClientAssertionAlgorithm;
  /** Absent only for a PEM key given to the `token` command: the server then tries each key of the right type. */
  kid?: string | undefined;
}

/** SMART Backend Services: the assertion's exp is at most five minutes ahead; a shorter life leaves less to replay. */
const ASSERTION_LIFETIME_SECONDS = 240;

function algorithmOf(jwk: JWK, file: string): ClientAssertionAlgorithm {
  const alg = jwk.kty === "RSA" ? "RS384" : jwk.kty === "EC" && jwk.crv === "P-384" ? "ES384" : undefined;
  if (alg === undefined) {
    throw new ClientKeyError(`key file "${file}": the key must be RSA (RS384) or EC P-384 (ES384), not ${jwk.kty ?? "unknown"}${jwk.crv ? ` ${jwk.crv}` : ""}`);
  }
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new ClientKeyError(`key file "${file}": alg is ${jwk.alg}; SMART Backend Services uses ${alg} for this key`);
  }
  return alg;
}

/** Reads a private JWK, or a JWKS holding exactly one private key, with its kid (the server picks our key by it). */
export async function readClientKey(file: string): Promise<ClientKey> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new ClientKeyError(`key file "${file}": cannot read it as JSON: ${(error as Error).message}`);
  }
  const candidates = Array.isArray((parsed as { keys?: unknown } | null)?.keys) ? ((parsed as { keys: unknown[] }).keys) : [parsed];
  const privateKeys = candidates.filter((k): k is JWK => typeof k === "object" && k !== null && typeof (k as JWK).d === "string");
  if (privateKeys.length !== 1) {
    throw new ClientKeyError(`key file "${file}": expected one private JWK (or a JWKS holding one), found ${privateKeys.length}`);
  }
  const jwk = privateKeys[0]!;
  if (typeof jwk.kid !== "string" || jwk.kid === "") throw new ClientKeyError(`key file "${file}": the key has no kid`);
  const alg = algorithmOf(jwk, file);
  try {
    return { key: await importJWK(jwk, alg), alg, kid: jwk.kid };
  } catch (error) {
    throw new ClientKeyError(`key file "${file}": not a usable ${alg} private key: ${(error as Error).message}`);
  }
}

/** The client assertion of SMART Backend Services: iss = sub = client_id, aud = the token endpoint, a fresh jti. */
export async function clientAssertion(clientId: string, tokenUrl: string, key: ClientKey, now = Date.now()): Promise<string> {
  const seconds = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, typ: "JWT", ...(key.kid ? { kid: key.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt(seconds)
    .setExpirationTime(seconds + ASSERTION_LIFETIME_SECONDS)
    .sign(key.key);
}

function reachError(what: string, url: string, error: unknown, timeoutMs: number): TokenRequestError {
  const e = error as Error;
  const reason = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
  return new TokenRequestError(`cannot reach ${what} ${url}: ${reason}`);
}

function requestSignal(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

export interface BackendServicesOptions {
  clientId: string;
  key: ClientKey;
  scope: string;
  /** The token endpoint; when absent, discovered from `{fhirBaseUrl}/.well-known/smart-configuration`. */
  tokenUrl?: string | undefined;
  /** Base URL of the server the tokens are for (a FHIR server, or a DICOMweb peer). */
  fhirBaseUrl: string;
  timeoutMs: number;
  /** Where the operator sets the token endpoint, named when it cannot be discovered (default TRRG_FHIR_TARGET_TOKEN_URL). */
  tokenUrlSetting?: string;
  /** The clock the token cache goes by (tests). */
  now?: () => number;
}

interface CachedToken {
  value: string;
  /** When to stop using it: shortly before expires_in runs out. */
  refreshAt: number;
}

/** The part of expires_in not used: a token is replaced this long before it expires (a fifth, at most 60 s). */
function refreshMarginSeconds(expiresIn: number): number {
  return Math.min(60, expiresIn / 5);
}

/** SMART Backend Services client: one access token at a time, shared by every caller until shortly before it expires. */
export class BackendServicesClient implements BearerTokenSource {
  readonly description: string;
  private readonly now: () => number;
  private cached: CachedToken | undefined;
  private inFlight: Promise<string> | undefined;
  private discoveredTokenUrl: string | undefined;

  constructor(private readonly options: BackendServicesOptions) {
    this.description = `SMART backend services client ${options.clientId}`;
    this.now = options.now ?? Date.now;
  }

  async accessToken({ refresh = false, signal }: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<string> {
    if (refresh) this.cached = undefined;
    if (this.cached && this.now() < this.cached.refreshAt) return this.cached.value;
    // Callers that ask together share one token request.
    this.inFlight ??= this.requestToken(signal).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** The token endpoint: configured, or token_endpoint of the FHIR server's SMART configuration (SMART App Launch 2 §2.2). */
  async tokenUrl(signal?: AbortSignal): Promise<string> {
    if (this.options.tokenUrl) return this.options.tokenUrl;
    if (this.discoveredTokenUrl) return this.discoveredTokenUrl;
    const url = `${this.options.fhirBaseUrl}/.well-known/smart-configuration`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: "application/json" }, signal: requestSignal(this.options.timeoutMs, signal) });
    } catch (error) {
      throw reachError("the SMART configuration", url, error, this.options.timeoutMs);
    }
    const document = (await response.json().catch(() => undefined)) as { token_endpoint?: unknown } | undefined;
    const endpoint = document?.token_endpoint;
    if (!response.ok || typeof endpoint !== "string" || !/^https?:\/\//.test(endpoint)) {
      throw new TokenRequestError(`${url} gives no token_endpoint (HTTP ${response.status}): set ${this.options.tokenUrlSetting ?? "TRRG_FHIR_TARGET_TOKEN_URL"}`, undefined, undefined, response.status);
    }
    this.discoveredTokenUrl = endpoint;
    return endpoint;
  }

  private async requestToken(signal: AbortSignal | undefined): Promise<string> {
    const { clientId, key, scope, timeoutMs } = this.options;
    const tokenUrl = await this.tokenUrl(signal);
    const requested = this.now();
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      scope,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: await clientAssertion(clientId, tokenUrl, key),
    });
    let response: Response;
    try {
      response = await fetch(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body,
        signal: requestSignal(timeoutMs, signal),
      });
    } catch (error) {
      throw reachError("the token endpoint", tokenUrl, error, timeoutMs);
    }
    const answer = ((await response.json().catch(() => undefined)) ?? {}) as Record<string, unknown>;
    const token = answer.access_token;
    if (!response.ok || typeof token !== "string" || token === "") {
      const error = typeof answer.error === "string" ? answer.error : undefined;
      const description = typeof answer.error_description === "string" ? answer.error_description : undefined;
      const said = error ? `${error}${description ? `: ${description}` : ""}` : `HTTP ${response.status} without an access token`;
      throw new TokenRequestError(`token request refused by ${tokenUrl}: ${said}`, error, description, response.status);
    }
    if (typeof answer.token_type !== "string" || answer.token_type.toLowerCase() !== "bearer") {
      throw new TokenRequestError(`token endpoint ${tokenUrl} issued a ${String(answer.token_type)} token; only bearer tokens are sent`);
    }
    // SMART requires expires_in; without it the token is used for a minute only.
    const expiresIn = typeof answer.expires_in === "number" && answer.expires_in > 0 ? answer.expires_in : 60;
    this.cached = { value: token, refreshAt: requested + (expiresIn - refreshMarginSeconds(expiresIn)) * 1000 };
    return token;
  }
}

/** A static bearer token from a file (an operator or a secret store rotates it there); read again after a 401. */
export class StaticTokenFile implements BearerTokenSource {
  readonly description: string;
  private cached: string | undefined;

  constructor(private readonly file: string) {
    this.description = `static token from ${file}`;
  }

  async accessToken({ refresh = false }: { refresh?: boolean } = {}): Promise<string> {
    if (refresh || this.cached === undefined) this.cached = await this.read();
    return this.cached;
  }

  private async read(): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      throw new TokenRequestError(`cannot read the token file "${this.file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const token = text.trim();
    // RFC 6750 §2.1 b64token: nothing that could break the header.
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) throw new TokenRequestError(`the token file "${this.file}" does not hold one bearer token`);
    return token;
  }
}

/**
 * The token source of a delivery target or DICOMweb peer, or undefined for auth "none". Reads the key (or token)
 * file now, so that a bad one stops the service at start with the reason instead of failing every call.
 */
export async function openTokenSource(
  auth: OutboundAuth,
  serverBaseUrl: string,
  timeoutMs: number,
  tokenUrlSetting?: string,
): Promise<BearerTokenSource | undefined> {
  switch (auth.kind) {
    case "none":
      return undefined;
    case "token": {
      const source = new StaticTokenFile(auth.tokenFile);
      await source.accessToken();
      return source;
    }
    case "smart-backend":
      return new BackendServicesClient({
        clientId: auth.clientId,
        key: await readClientKey(auth.keyFile),
        scope: auth.scope,
        tokenUrl: auth.tokenUrl,
        fhirBaseUrl: serverBaseUrl,
        timeoutMs,
        ...(tokenUrlSetting ? { tokenUrlSetting } : {}),
      });
  }
}
