// Signing keys of the embedded authorization server. They are made once and kept in a private JWKS file, so
// access tokens issued before a restart still verify after it. SMART Backend Services names RS384 and ES384 as
// the algorithms both sides must support: we hold one key of each.
import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";

export type SigningAlgorithm = "RS384" | "ES384";

/** A private signing key as a JWK, with the members the provider and verifiers rely on. */
export interface PrivateSigningJwk extends JWK {
  kty: "RSA" | "EC";
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
}

export interface PrivateJwks {
  keys: PrivateSigningJwk[];
}

export interface PublicJwk {
  kty: "RSA" | "EC";
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export interface PublicJwks {
  keys: PublicJwk[];
}

const ALGORITHMS: readonly SigningAlgorithm[] = ["RS384", "ES384"];

async function generateSigningKey(alg: SigningAlgorithm): Promise<PrivateSigningJwk> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "RS384" ? { modulusLength: 3072 } : {}) });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprints use only the public members, so the kid is the same for the public key.
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  return { ...jwk, kty: alg === "RS384" ? "RSA" : "EC", kid, alg, use: "sig" };
}

function checkKeys(parsed: unknown, file: string): PrivateJwks {
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`signing keys file "${file}": expected a JSON Web Key Set with private keys`);
  }
  keys.forEach((key: Partial<PrivateSigningJwk> | null, index) => {
    const problem =
      key === null || typeof key !== "object" ? "is not an object"
      : key.kty !== "RSA" && key.kty !== "EC" ? "kty must be RSA or EC"
      : typeof key.kid !== "string" || key.kid === "" ? "has no kid"
      : !ALGORITHMS.includes(key.alg as SigningAlgorithm) ? `alg must be one of ${ALGORITHMS.join(", ")}`
      : typeof key.d !== "string" ? "is not a private key"
      : undefined;
    if (problem) throw new Error(`signing keys file "${file}": keys[${index}] ${problem}`);
  });
  for (const alg of ALGORITHMS) {
    if (!keys.some((key: PrivateSigningJwk) => key.alg === alg)) {
      throw new Error(`signing keys file "${file}": no ${alg} key`);
    }
  }
  return { keys: (keys as PrivateSigningJwk[]).map((key) => ({ ...key, use: "sig" })) };
}

/**
 * Writes a new private file only if none exists yet: the temporary file is linked into place, which fails when
 * another process got there first; the caller then reads the winner's file. Falls back to rename on
 * filesystems without hard links. Returns false when the file already existed.
 */
export async function createPrivateFileAtomically(file: string, content: string): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, content, { mode: 0o600, flag: "wx" });
  try {
    await link(temporary, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "ENOSYS") throw error;
    await rename(temporary, file);
    return true;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Loads the private JWKS from `file`, or on first start generates one RS384 (RSA 3072) and one ES384 (P-384)
 * key and writes them there (mode 0600). A file that exists but cannot be used is an error, never replaced:
 * replacing it would silently invalidate every token issued so far.
 */
export async function loadOrCreateSigningKeys(file: string): Promise<PrivateJwks> {
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`signing keys file "${file}": cannot read it: ${(error as Error).message}`, { cause: error });
    }
  }
  if (text === undefined) {
    const generated: PrivateJwks = { keys: await Promise.all(ALGORITHMS.map(generateSigningKey)) };
    if (await createPrivateFileAtomically(file, `${JSON.stringify(generated, null, 2)}\n`)) return generated;
    text = await readFile(file, "utf8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`signing keys file "${file}": not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return checkKeys(parsed, file);
}

/** The public half of the keys, for the jwks_uri document. */
export function publicJwks(keys: PrivateJwks): PublicJwks {
  return {
    keys: keys.keys.map(({ kty, kid, alg, use, n, e, crv, x, y }) => {
      const members = kty === "RSA" ? { n, e } : { crv, x, y };
      return { kty, kid, alg, use, ...members } as PublicJwk;
    }),
  };
}
