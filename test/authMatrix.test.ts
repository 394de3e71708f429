// Every protected route × every kind of token (issue 3 acceptance): the expected status, and exactly one
// AuditEvent with the matching outcome per request. Valid tokens come from the real embedded oidc-provider; the
// bad ones are signed by hand, with the server's own key where only a claim is wrong.
import { readFile } from "node:fs/promises";
import { generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTE_ACCESS_TABLE } from "../src/auth/routeAccess.js";
import type { DicomJsonDataset } from "../src/dicom/dicomJson.js";
import { GLOBAL_SUBSCRIPTION_UID, TAG } from "../src/dicomweb/upsWorkitem.js";
import { publishReport, resourcesOf } from "../src/fhir/publishReport.js";
import { makeInstance, makeMultipartRelated, newUid } from "./fixtures/dicomFactory.js";
import { makePipelineResult } from "./fixtures/pipelineResult.js";
import { scheduledWorkitem } from "./support/workitems.js";
import { PUBLIC_URL, SHARED_KEYS_FILE, startTestApp, storeInstances, TEST_CLIENTS, type TestApp } from "./support/testApp.js";

type TokenCase = "none" | "badSignature" | "expired" | "wrongIssuer" | "wrongAudience" | "missingScope" | "rightScope" | "otherPatient";
const TOKEN_CASES: TokenCase[] = ["none", "badSignature", "expired", "wrongIssuer", "wrongAudience", "missingScope", "rightScope", "otherPatient"];

const PATIENT = "PATIENT-A";
const study = newUid();
const series = newUid();
const sop = newUid();

let t: TestApp;
/** The report job the stored study got from the study-stable trigger. */
let jobId: string;
/** The id of each published FHIR resource type, of the study's report. */
const resourceIds = new Map<string, string>();
const tokens = new Map<TokenCase, string | undefined>();
/** The noImaging client may read Observations: for those routes, a token without that scope. */
let missingObservationScope: string;
/** UPS workitems: one the routes read, update and subscribe to; one the cancellation request cancels. */
let workitemUid: string;
let cancelWorkitemUid: string;
const MATRIX_AE = "MATRIXAE";

function workitem(): DicomJsonDataset {
  return scheduledWorkitem({ [TAG.ScheduledProcedureStepPriority]: { vr: "CS", Value: ["LOW"] }, [TAG.PatientID]: { vr: "LO", Value: [PATIENT] } });
}

async function createWorkitem(): Promise<string> {
  const res = await t.api.post("/dicomweb/workitems").set("Content-Type", "application/dicom+json").send(JSON.stringify(workitem()));
  expect(res.status).toBe(201);
  return (res.headers.location as string).split("/").pop()!;
}

type SigningKey = Parameters<SignJWT["sign"]>[0];

async function signWith(key: SigningKey | JWK, kid: string, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const signingKey = "kty" in key ? await importJWK(key as JWK, "RS384") : (key as SigningKey);
  return new SignJWT({ scope: TEST_CLIENTS.system.scope, client_id: "test-system", ...claims })
    .setProtectedHeader({ alg: "RS384", kid, typ: "at+jwt" })
    .setIssuer((claims.iss as string) ?? `${PUBLIC_URL}/oauth2`)
    .setAudience((claims.aud as string) ?? PUBLIC_URL)
    .setIssuedAt((claims.iat as number) ?? now)
    .setExpirationTime((claims.exp as number) ?? now + 300)
    .setJti(newUid())
    .sign(signingKey);
}

beforeAll(async () => {
  t = await startTestApp();
  const stored = await storeInstances(t, [makeInstance({ studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop, patientID: PATIENT })]);
  expect(stored.status).toBe(200);
  jobId = (await t.services.jobs.listByStudy(study))[0]!.id;
  const report = await publishReport(t.services.db, t.services.config.fhir, makePipelineResult(), { studyInstanceUID: study, patientId: PATIENT });
  for (const resource of resourcesOf(report)) resourceIds.set(resource.resourceType, resource.id!);
  workitemUid = await createWorkitem();
  cancelWorkitemUid = await createWorkitem();
  await t.api.post(`/dicomweb/workitems/${GLOBAL_SUBSCRIPTION_UID}/subscribers/${MATRIX_AE}`).expect(201);

  const serverKeys = JSON.parse(await readFile(SHARED_KEYS_FILE, "utf8")) as { keys: JWK[] };
  const rsa = serverKeys.keys.find((key) => key.kty === "RSA")!;
  const stranger = await generateKeyPair("RS384");
  const now = Math.floor(Date.now() / 1000);
  tokens.set("none", undefined);
  tokens.set("badSignature", await signWith(stranger.privateKey, rsa.kid!, {}));
  tokens.set("expired", await signWith(rsa, rsa.kid!, { iat: now - 7200, exp: now - 3600 }));
  tokens.set("wrongIssuer", await signWith(rsa, rsa.kid!, { iss: "https://issuer.elsewhere.example/oauth2" }));
  tokens.set("wrongAudience", await signWith(rsa, rsa.kid!, { aud: "https://another-service.example" }));
  tokens.set("missingScope", await t.token(TEST_CLIENTS.noImaging));
  missingObservationScope = await t.token(TEST_CLIENTS.system, "system/ImagingStudy.rs");
  tokens.set("rightScope", await t.token(TEST_CLIENTS.system));
  tokens.set("otherPatient", await t.token(TEST_CLIENTS.patient));
});

afterAll(async () => {
  await t.close();
});

/** The workitem a UPS route acts on: suspension is of a worklist subscription, cancellation of its own workitem. */
function workitemFor(pattern: string): string {
  if (pattern.endsWith("/suspend")) return GLOBAL_SUBSCRIPTION_UID;
  return pattern.endsWith("/cancelrequest") ? cancelWorkitemUid : workitemUid;
}

const concrete = (pattern: string) =>
  pattern
    .replace(":workitem", workitemFor(pattern))
    .replace(":aetitle", MATRIX_AE)
    .replace(":study", study)
    .replace(":series", series)
    .replace(":instance", sop)
    .replace(":id", pattern.startsWith("/jobs/") ? jobId : (resourceIds.get(pattern.split("/")[2] ?? "") ?? "1"));

const protectedRoutes = ROUTE_ACCESS_TABLE.filter((entry) => entry.access.kind === "scoped");

function expectedStatus(route: (typeof protectedRoutes)[number], token: TokenCase): number {
  if (token === "none" || token === "badSignature" || token === "expired" || token === "wrongIssuer" || token === "wrongAudience") return 401;
  if (token === "missingScope") return 403;
  const isAudit = route.path.startsWith("/fhir/AuditEvent");
  const isStore = route.method === "POST" && route.path.startsWith("/dicomweb/");
  const isSearch = route.access.kind === "scoped" && route.access.requirement.permission === "s";
  if (token === "rightScope") return UPS_SUCCESS[`${route.method} ${route.path}`] ?? 200;
  // otherPatient: patient/ scopes for someone else.
  if (isAudit) return 403; // AuditEvent is for system scopes only
  if (route.access.kind === "scoped" && !route.access.requirement.contexts.includes("patient")) return 403; // e.g. UPS writes
  if (!patientScopeCovers(route)) return 403; // e.g. Device: the patient client has no patient/Device scope
  if (isStore) return 409; // every instance refused with 0x0124
  if (isSearch) return 200; // filtered to nothing
  return 404; // that patient's studies are not visible
}

/**
 * What an authorized UPS-RS request answers here: created, accepted, or refused by the worklist's own rules (a
 * SCHEDULED workitem cannot be CANCELED by a state change), and 426 for the WebSocket channel asked for without
 * an upgrade.
 */
const UPS_SUCCESS: Record<string, number> = {
  "POST /dicomweb/workitems": 201,
  "PUT /dicomweb/workitems/:workitem/state": 409,
  "POST /dicomweb/workitems/:workitem/cancelrequest": 202,
  "POST /dicomweb/workitems/:workitem/subscribers/:aetitle": 201,
  "GET /dicomweb/subscribers/:aetitle": 426,
};

function patientScopeCovers(route: (typeof protectedRoutes)[number]): boolean {
  if (route.access.kind !== "scoped") return true;
  return TEST_CLIENTS.patient.scope.split(" ").some((scope) => scope.startsWith(`patient/${route.access.kind === "scoped" ? route.access.requirement.resourceType : ""}.`));
}

function tokenFor(route: (typeof protectedRoutes)[number], token: TokenCase): string | undefined {
  const observation = route.access.kind === "scoped" && route.access.requirement.resourceType === "Observation";
  return token === "missingScope" && observation ? missingObservationScope : tokens.get(token);
}

/** The body a UPS-RS route takes. */
function upsBody(method: string, path: string): string | undefined {
  if (method === "PUT") return JSON.stringify({ [TAG.ProcedureStepState]: { vr: "CS", Value: ["CANCELED"] }, [TAG.TransactionUID]: { vr: "UI", Value: ["2.25.1"] } });
  if (method !== "POST" || path.includes("/subscribers/")) return undefined;
  if (path.endsWith("/cancelrequest")) return JSON.stringify({ [TAG.ReasonForCancellation]: { vr: "LT", Value: ["matrix"] } });
  return JSON.stringify(path === "/dicomweb/workitems" ? workitem() : { [TAG.ProcedureStepLabel]: { vr: "LO", Value: ["updated"] } });
}

async function send(method: string, path: string, token: string | undefined) {
  let req = method === "POST" ? t.api.post(path) : method === "PUT" ? t.api.put(path) : method === "DELETE" ? t.api.delete(path) : t.api.get(path);
  // Replace the agent's default token with the case's (or none).
  req = req.set("Authorization", token ? `Bearer ${token}` : "");
  if (!token) req.unset("Authorization");
  if (path.startsWith("/dicomweb/workitems")) {
    const body = upsBody(method, path);
    if (body !== undefined) req = req.set("Content-Type", "application/dicom+json").send(body);
  } else if (method === "POST" && path.startsWith("/fhir/")) {
    req = req.type("form").send({ _count: "1" });
  } else if (method === "POST") {
    const { body, contentType } = makeMultipartRelated([makeInstance({ studyInstanceUID: study, patientID: PATIENT })]);
    req = req.set("Content-Type", contentType).send(body);
  }
  return req;
}

async function auditCount(): Promise<number> {
  return (await t.services.audit.search({ count: 1, offset: 0 })).total;
}

describe("authorization matrix", () => {
  const cases = protectedRoutes.flatMap((route) => TOKEN_CASES.map((token) => [route.method, route.path, token, route] as const));

  it.each(cases)("%s %s with %s token", async (method, pattern, token, route) => {
    const before = await auditCount();
    const res = await send(method, concrete(pattern), tokenFor(route, token));
    expect(res.status).toBe(expectedStatus(route, token));
    if (res.status === 401) {
      expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="trrg-gateway"/);
      const reasons: Partial<Record<TokenCase, RegExp>> = {
        badSignature: /signature verification failed/,
        expired: /token expired/,
        wrongIssuer: /claim iss invalid/,
        wrongAudience: /claim aud invalid/,
      };
      if (token !== "none") expect(res.headers["www-authenticate"]).toMatch(new RegExp(`error="invalid_token", error_description="${reasons[token]!.source}`));
      else expect(res.headers["www-authenticate"]).not.toMatch(/error=/);
    }
    if (res.status === 403) expect(res.headers["www-authenticate"]).toMatch(/error="insufficient_scope", scope="[a-z]+\/\w+\.[cruds]"/);
    if (pattern.startsWith("/fhir/") && res.status >= 400) expect(res.body.resourceType).toBe("OperationOutcome");
    if (token === "otherPatient" && method === "POST" && pattern.startsWith("/dicomweb/studies")) expect(res.body["00081198"].Value[0]["00081197"].Value).toEqual([0x0124]);

    expect(await auditCount()).toBe(before + 1);
    const [event] = (await t.services.audit.search({ count: 1, offset: 0 })).events;
    expect(event?.outcome).toBe(res.status < 400 ? "0" : "4");
    // The route pattern as the table names it, also when the answer came from inside a mounted router.
    expect(event?.subtype?.at(-1)?.code).toBe(`${method} ${pattern}`);
  });
});

describe("scopes a client asks for", () => {
  const scopeOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { scope: string }).scope;

  it("grants less than the client is registered for, and the token allows only that", async () => {
    const readOnly = await t.token(TEST_CLIENTS.system, "system/ImagingStudy.rs");
    expect(scopeOf(readOnly)).toBe("system/ImagingStudy.rs");
    expect((await send("GET", "/dicomweb/studies", readOnly)).status).toBe(200);
    expect((await send("POST", "/dicomweb/studies", readOnly)).status).toBe(403);
  });

  it("refuses more than the client is registered for", async () => {
    await expect(t.token(TEST_CLIENTS.noImaging, "system/ImagingStudy.rs")).rejects.toThrow(/invalid_scope/);
    await expect(t.token(TEST_CLIENTS.patient, "system/ImagingStudy.r")).rejects.toThrow(/invalid_scope/);
  });
});
