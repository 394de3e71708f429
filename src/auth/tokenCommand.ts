// `trrg-gateway token`: gets an access token by the client_credentials grant and prints only the token, so that
// `TOKEN=$(trrg-gateway token --client trrg-cli)` works. Client authentication is a secret (RFC 6749 §2.3.1) or
// a private_key_jwt assertion (RFC 7523; SMART Backend Services: RS384 or ES384, at most five minutes long).
import { createPrivateKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Config } from "../config.js";
import { clientAssertion, type ClientKey } from "./backendServicesClient.js";
import { ClientsFileError, readClientsFile, type RegisteredClient } from "./clients.js";

export interface TokenCommandOptions {
  clientId: string;
  scope?: string;
  secret?: string;
  /** PEM (PKCS#8, PKCS#1 or SEC1) or JWK private key, for private_key_jwt. */
  keyFile?: string;
  tokenUrl?: string;
}

const REQUEST_TIMEOUT_MS = 30_000;

class TokenCommandError extends Error {}

type SigningKey = ClientKey & { key: KeyObject };

function algorithmFor(key: KeyObject, declared: unknown): "RS384" | "ES384" {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg = type === "rsa" ? "RS384" : type === "ec" && curve === "secp384r1" ? "ES384" : undefined;
  if (alg === undefined) {
    throw new TokenCommandError(`the key must be an RSA key (RS384) or a P-384 EC key (ES384), not ${type}${curve ? ` ${curve}` : ""}`);
  }
  if (declared !== undefined && declared !== alg) {
    throw new TokenCommandError(`the key's alg is ${String(declared)}; SMART Backend Services uses ${alg} for this key`);
  }
  return alg;
}

async function readSigningKey(file: string): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new TokenCommandError(`cannot read key file "${file}": ${(error as Error).message}`);
  }
  try {
    if (text.trimStart().startsWith("{")) {
      const parsed = JSON.parse(text) as { keys?: unknown[]; d?: unknown };
      // A JWKS holding one private key is accepted as well as a single JWK.
      const jwk = (Array.isArray(parsed.keys) ? parsed.keys.find((k) => (k as { d?: unknown }).d !== undefined) : parsed) as
        | (Record<string, unknown> & { kid?: unknown; alg?: unknown; d?: unknown })
        | undefined;
      if (!jwk || typeof jwk.d !== "string") throw new TokenCommandError(`key file "${file}" holds no private JWK`);
      const key = createPrivateKey({ key: jwk as JsonWebKey, format: "jwk" });
      return { key, alg: algorithmFor(key, jwk.alg), kid: typeof jwk.kid === "string" ? jwk.kid : undefined };
    }
    // A PEM carries no kid: the server then tries each registered key of the right type.
    const key = createPrivateKey(text);
    return { key, alg: algorithmFor(key, undefined) };
  } catch (error) {
    if (error instanceof TokenCommandError) throw error;
    throw new TokenCommandError(`key file "${file}" is not a PEM or JWK private key: ${(error as Error).message}`);
  }
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined for Basic authentication. */
function basicCredentials(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");
  return Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString("base64");
}

async function findLocalClient(config: Config, clientId: string): Promise<RegisteredClient | undefined> {
  const clients = await readClientsFile(config.auth.clientsFile);
  return clients?.find((client) => client.client_id === clientId);
}

async function buildRequest(config: Config, options: TokenCommandOptions, tokenUrl: string) {
  const body = new URLSearchParams({ grant_type: "client_credentials" });
  if (options.scope) body.set("scope", options.scope);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (options.secret !== undefined && options.keyFile !== undefined) {
    throw new TokenCommandError("give either --secret or --key, not both");
  }
  if (options.keyFile !== undefined) {
    const assertion = await clientAssertion(options.clientId, tokenUrl, await readSigningKey(options.keyFile));
    body.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    body.set("client_assertion", assertion);
    return { headers, body };
  }
  const local = await findLocalClient(config, options.clientId);
  const secret = options.secret ?? local?.client_secret;
  if (secret === undefined) {
    throw new TokenCommandError(
      local?.token_endpoint_auth_method === "private_key_jwt"
        ? `client "${options.clientId}" authenticates with private_key_jwt: give --key FILE`
        : `client "${options.clientId}" is not in ${config.auth.clientsFile}: give --secret SECRET or --key FILE`,
    );
  }
  if (local?.token_endpoint_auth_method === "client_secret_post") {
    body.set("client_id", options.clientId);
    body.set("client_secret", secret);
  } else {
    headers.authorization = `Basic ${basicCredentials(options.clientId, secret)}`;
  }
  return { headers, body };
}

/** Runs the command; returns the exit code (0, or 1 with the reason on `err`). */
export async function runTokenCommand(
  config: Config,
  options: TokenCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const tokenUrl = options.tokenUrl ?? `${config.auth.issuer}/token`;
  try {
    const { headers, body } = await buildRequest(config, options, tokenUrl);
    let response: Response;
    try {
      response = await fetch(tokenUrl, { method: "POST", headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      const reason = (error as Error).name === "TimeoutError" ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      throw new TokenCommandError(`cannot reach the token endpoint ${tokenUrl}: ${reason}`);
    }
    const text = await response.text();
    let answer: Record<string, unknown> = {};
    try {
      answer = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not JSON: reported below by status.
    }
    if (!response.ok || typeof answer.access_token !== "string") {
      const error = typeof answer.error === "string" ? answer.error : `HTTP ${response.status}`;
      const description = typeof answer.error_description === "string" ? `: ${answer.error_description}` : "";
      const scope = typeof answer.scope === "string" && error === "invalid_scope" ? ` (${answer.scope})` : "";
      throw new TokenCommandError(`token request refused by ${tokenUrl}: ${error}${description}${scope}`);
    }
    out.write(`${answer.access_token}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof TokenCommandError) && !(error instanceof ClientsFileError)) throw error;
    err.write(`token: ${error.message}\n`);
    return 1;
  }
}
