// Bearer token validation: a token that passed is remembered by its exact text until it expires, and only then.
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AccessTokenValidator, InvalidTokenError } from "../../src/auth/accessTokens.js";

const SETTINGS = { issuer: "https://issuer.example.org", audience: "https://gateway.example.org", clockSkewSeconds: 30 };

let signingKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let publicJwk: JWK;
beforeAll(async () => {
  const pair = await generateKeyPair("RS384");
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS384", use: "sig" };
});

/** A token signed now (by the real clock, which jose checks) that expires `lifetimeSeconds` from now. */
function token(lifetimeSeconds: number, audience = SETTINGS.audience): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: "system/ImagingStudy.c", client_id: "c1" })
    .setProtectedHeader({ alg: "RS384", kid: "k1" })
    .setIssuer(SETTINGS.issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(signingKey);
}

/** A validator whose remembering runs on `clock` (jose itself checks the real time). */
const validator = (clock: () => number) => AccessTokenValidator.local({ keys: [publicJwk] }, SETTINGS, clock);

describe("AccessTokenValidator", () => {
  it("answers a token it has seen pass from memory, with the same identity and scopes", async () => {
    let now = Date.now();
    const tokens = validator(() => now);
    const text = await token(300);
    const first = await tokens.validate(text);
    now += 60_000;
    const again = await tokens.validate(text);
    expect(again).toBe(first);
    expect(again).toMatchObject({ clientId: "c1", scopes: [{ context: "system", resourceType: "ImagingStudy" }] });
    expect(Object.isFrozen(again) && Object.isFrozen(again.scopes)).toBe(true);
  });

  it("verifies a remembered token again once it has expired, and refuses it", async () => {
    let now = Date.now();
    const tokens = validator(() => now);
    const text = await token(2);
    await tokens.validate(text);
    now += 3_000; // past exp by the validator's clock: verified again (jose allows 30 s skew, so it passes)
    await expect(tokens.validate(text)).resolves.toMatchObject({ clientId: "c1" });
    const expired = await token(-120);
    await expect(tokens.validate(expired)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it("never remembers a refused token, nor takes another token for a remembered one", async () => {
    const tokens = validator(() => Date.now());
    const good = await token(300);
    await tokens.validate(good);
    const tampered = `${good.slice(0, -4)}${good.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
    await expect(tokens.validate(tampered)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(tokens.validate(tampered)).rejects.toBeInstanceOf(InvalidTokenError);
    const otherAudience = await token(300, "https://elsewhere.example.org");
    await expect(tokens.validate(otherAudience)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it("remembers a token at most five minutes, whatever its expiry", async () => {
    let now = Date.now();
    let verified = 0;
    const tokens = validator(() => now);
    const spy = tokens as unknown as { verify(text: string): Promise<unknown> };
    const verify = spy.verify.bind(tokens);
    spy.verify = (text) => {
      verified += 1;
      return verify(text);
    };
    const text = await token(3600);
    await tokens.validate(text);
    now += 4 * 60_000;
    await tokens.validate(text);
    expect(verified).toBe(1);
    now += 2 * 60_000;
    await tokens.validate(text);
    expect(verified).toBe(2);
  });
});
