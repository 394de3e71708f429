// Validation of bearer access tokens (RFC 6750): JWTs signed by the configured issuer, checked for signature
// (JWKS), issuer, audience, expiry and not-before with a bounded clock skew. A client sends the same token with
// every request until it expires, so a token that passed is remembered, by its exact text, until its expiry.
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import type { AuthConfig } from "../config.js";
import { parseScopes, type ResourceScope } from "./scopes.js";

/** A valid token, reduced to what authorization and audit need. */
export interface ValidatedToken {
  clientId: string | undefined;
  /** The person the token stands for (`fhirUser`, else `sub` when it is not the client itself). */
  userId: string | undefined;
  scopes: ResourceScope[];
  /** SMART launch context patient, when the token has one. */
  patient: string | undefined;
}

/** Why a token was refused, as the `error_description` of a 401 (RFC 6750 §3.1 invalid_token). */
export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidTokenError";
  }
}

const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

type KeySet = ReturnType<typeof createLocalJWKSet> | ReturnType<typeof createRemoteJWKSet>;
type ValidationSettings = Pick<AuthConfig, "issuer" | "audience" | "clockSkewSeconds">;

/** Tokens remembered at most. */
const CACHE_ENTRIES = 1024;
/**
 * Longest a passed token is remembered, whatever its expiry: no longer than the remote key set is cached
 * (10 min, below), so a key the issuer withdraws stops being trusted here no later than it would without this.
 */
const CACHE_MAX_MS = 5 * 60_000;

interface RememberedToken {
  validated: ValidatedToken;
  /** Epoch ms after which the token is verified again: its exp (without clock-skew allowance), capped. */
  until: number;
}

export class AccessTokenValidator {
  /** Tokens that passed, by their exact text (signature included), oldest first. Refusals are never kept. */
  private readonly passed = new Map<string, RememberedToken>();

  constructor(
    private readonly keys: KeySet,
    private readonly settings: ValidationSettings,
    /** Epoch ms, for how long a passed token is remembered (jose checks the token's times on the real clock). */
    private readonly clock: () => number = Date.now,
  ) {}

  /** Trusts a key set held in memory (the embedded authorization server's public keys). */
  static local(jwks: JSONWebKeySet, settings: ValidationSettings, clock?: () => number): AccessTokenValidator {
    return new AccessTokenValidator(createLocalJWKSet(jwks), settings, clock);
  }

  /** Trusts an issuer's JWKS over HTTP: cached, and fetched again when a token names an unknown key id. */
  static remote(jwksUrl: string, settings: AuthConfig): AccessTokenValidator {
    return new AccessTokenValidator(
      createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5_000 }),
      settings,
    );
  }

  async validate(token: string): Promise<ValidatedToken> {
    const now = this.clock();
    const remembered = this.passed.get(token);
    if (remembered && now < remembered.until) return remembered.validated;
    if (remembered) this.passed.delete(token);
    const { validated, expiresAt } = await this.verify(token);
    this.remember(token, { validated, until: Math.min(expiresAt, now + CACHE_MAX_MS) });
    return validated;
  }

  private remember(token: string, entry: RememberedToken): void {
    if (this.passed.size >= CACHE_ENTRIES) {
      const now = this.clock();
      for (const [key, { until }] of this.passed) if (until <= now) this.passed.delete(key);
      // Still full: forget the oldest.
      if (this.passed.size >= CACHE_ENTRIES) this.passed.delete(this.passed.keys().next().value!);
    }
    this.passed.set(token, entry);
  }

  private async verify(token: string): Promise<{ validated: ValidatedToken; expiresAt: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockSkewSeconds,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp"],
      }));
    } catch (error) {
      // The reason travels in a quoted WWW-Authenticate attribute (RFC 6750 §3): no quotes in it.
      throw new InvalidTokenError(describeJoseError(error).replace(/["\\]/g, ""));
    }
    const clientId = stringClaim(payload, "client_id") ?? stringClaim(payload, "azp");
    const fhirUser = stringClaim(payload, "fhirUser");
    const subject = payload.sub !== clientId ? payload.sub : undefined;
    const scopes = parseScopes(stringClaim(payload, "scope")).map((scope) => Object.freeze(scope));
    // Shared by every request that presents this token: frozen, so no request can change what another sees.
    const validated: ValidatedToken = Object.freeze({
      clientId,
      userId: fhirUser ?? subject,
      scopes: Object.freeze(scopes) as ResourceScope[],
      patient: stringClaim(payload, "patient"),
    });
    // requiredClaims makes exp present; jose has checked that it is a number.
    return { validated, expiresAt: payload.exp! * 1000 };
  }
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** A short reason without token contents. */
function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} invalid: ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (error instanceof errors.JWKSNoMatchingKey) return "no key of the issuer matches the token";
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "malformed token";
  if (error instanceof errors.JOSEAlgNotAllowed) return "signing algorithm not allowed";
  if (error instanceof errors.JWKSTimeout) return "issuer keys could not be fetched in time";
  if (error instanceof errors.JOSEError) return error.code.replace(/^ERR_/, "").toLowerCase().replace(/_/g, " ");
  return "token could not be validated";
}
