// Fault: the EHR's FHIR server down for a whole minute while reports are produced. The two API replicas keep
// retrying the outbox (src/fhir/deliveryOutbox.ts) against the closed port; once the server listens again on the
// same port, every report must arrive there exactly once, nothing may be rejected, and every outbox row must end
// delivered. Who attempted what is recorded by a trigger on fhir_deliveries: a claim is the one UPDATE that raises
// `attempts` and sets `lease_owner`, and the owner names the process (host/pid/uuid).
import type { DiagnosticReport, Observation, Provenance } from "@medplum/fhirtypes";
import { sql } from "kysely";
import { afterAll, beforeAll, expect, it } from "vitest";
import { IDENTIFIER_SYSTEMS } from "../../src/fhir/canonical.js";
import { makePhantomStudy } from "../../src/phantom/study.js";
import { countOf, printCounts, SMALL_PHANTOM, startCluster, storeStudy, untilReported, type Cluster } from "../support/cluster.js";
import { startFhirPeer, type FhirPeer } from "../support/fhirPeer.js";
import { until } from "../support/until.js";

const STUDIES = 10;
const OUTAGE_MS = 60_000;
/**
 * Short retries: a minute's outage is a dozen attempts per report (a closed port refuses at once). The timeout stays
 * long: the peer answers one transaction at a time, and a report's (a dozen Observations, each validated and
 * created conditionally) takes it seconds; with a 2 s timeout every retry posts again and never hears the answer.
 */
const FAST_DELIVERY = { TRRG_FHIR_DELIVERY_RETRY_BASE: "500ms", TRRG_FHIR_DELIVERY_RETRY_CAP: "5s", TRRG_FHIR_DELIVERY_TIMEOUT: "30s" };

let peer: FhirPeer;
let cluster: Cluster;

beforeAll(async () => {
  peer = await startFhirPeer();
  // Every process gets the target: workers publish the reports (and enqueue their delivery), API replicas deliver.
  cluster = await startCluster({ env: { TRRG_FHIR_TARGET_URL: peer.baseUrl, ...FAST_DELIVERY } });
});
afterAll(async () => {
  await cluster?.stop();
  await peer?.stop();
});

/** Records every claim of an outbox row (delivery, attempt, lease owner) in a table of the test's own. */
async function recordClaims(cluster: Cluster): Promise<void> {
  await sql`create table test_delivery_claims (delivery_id text not null, attempt integer not null, owner text not null, at timestamptz not null default clock_timestamp())`.execute(cluster.db);
  await sql`
    create function test_record_delivery_claim() returns trigger language plpgsql as $$
    begin
      if new.lease_owner is not null and new.attempts > old.attempts then
        insert into test_delivery_claims (delivery_id, attempt, owner) values (new.id, new.attempts, new.lease_owner);
      end if;
      return new;
    end $$`.execute(cluster.db);
  await sql`create trigger test_delivery_claims after update on fhir_deliveries for each row execute function test_record_delivery_claim()`.execute(cluster.db);
}

async function deliveryStates(cluster: Cluster): Promise<Record<string, number>> {
  const rows = await cluster.db.selectFrom("fhir_deliveries").select(["state", (eb) => eb.fn.countAll<number>().as("n")]).groupBy("state").execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it("delivers every report exactly once after the FHIR target was down for a minute", async () => {
  const apis = [await cluster.startApi("api-1"), await cluster.startApi("api-2")];
  await cluster.startWorker("worker-1");
  await cluster.startWorker("worker-2");
  await recordClaims(cluster);
  const tokens = await Promise.all(apis.map((api) => cluster.token(api)));
  const studies = Array.from({ length: STUDIES }, (_, i) => makePhantomStudy(3_400_000 + i, SMALL_PHANTOM));
  const uids = studies.map((s) => s.studyInstanceUID);

  // Down before the first report exists: every report is produced during the outage.
  await peer.stop();
  const outageStarted = Date.now();
  for (const [i, study] of studies.entries()) {
    expect((await storeStudy(apis[i % 2]!, tokens[i % 2]!, study.images.map((image) => image.part10))).status).toBe(200);
  }
  const reported = await untilReported(cluster.db, uids, OUTAGE_MS - 5_000);
  const reportedMs = Date.now() - outageStarted;
  await sleep(outageStarted + OUTAGE_MS - Date.now());
  const duringOutage = {
    deliveries: await deliveryStates(cluster),
    attempts: Number((await cluster.db.selectFrom("fhir_deliveries").select((eb) => eb.fn.sum<number>("attempts").as("n")).executeTakeFirstOrThrow()).n),
    lastErrors: countOf((await cluster.db.selectFrom("fhir_deliveries").select("last_error").execute()).map((r) => r.last_error ?? "none")),
  };
  const requestsBeforeRestart = peer.requests.length;

  await peer.start();
  const restarted = Date.now();
  await until(async () => {
    const states = await deliveryStates(cluster);
    return (states.delivered ?? 0) + (states.rejected ?? 0) >= STUDIES && (states.pending ?? 0) === 0 ? states : undefined;
  }, 180_000, 250).catch(async (error: unknown) => {
    const rows = await cluster.db.selectFrom("fhir_deliveries").select(["state", "attempts", "next_attempt_at", "lease_owner", "last_status", "last_error"]).execute();
    const seen = peer.requests.map((r) => `${r.method} ${r.url} ${r.status}${r.dropped ? " dropped" : ""}`);
    throw new Error(`the outbox did not drain after the restart: ${JSON.stringify({ rows, seen })}\n${apis.map((api) => `${api.name}:\n${api.output()}`).join("\n")}`, { cause: error });
  });
  const drainedMs = Date.now() - restarted;

  // What the target holds: one DiagnosticReport per report identifier and per study, nothing twice.
  const held = (await peer.search("DiagnosticReport", "_count=1000")) as DiagnosticReport[];
  const reportIdentifiers = held.map((r) => r.identifier?.find((i) => i.system === IDENTIFIER_SYSTEMS.uri)?.value ?? "none");
  const reportStudies = held.map((r) => r.imagingStudy?.[0]?.identifier?.value ?? "none");
  const observations = (await peer.search("Observation", "_count=10000")) as Observation[];
  const observationIdentifiers = observations.map((o) => o.identifier?.find((i) => i.system === IDENTIFIER_SYSTEMS.uri)?.value ?? "none");
  const provenances = (await peer.search("Provenance", "_count=1000")) as Provenance[];
  const devices = await peer.search("Device", "_count=1000");

  const rows = await cluster.db.selectFrom("fhir_deliveries").select(["id", "report_id", "study_instance_uid", "state", "attempts", "last_status"]).execute();
  const claims = (await sql<{ delivery_id: string; attempt: number; owner: string }>`select delivery_id, attempt, owner from test_delivery_claims order by at`.execute(cluster.db)).rows;
  const replicaOf = (owner: string) => apis.find((api) => owner.split("/")[1] === String(api.pid))?.name ?? owner;
  const ownersByDelivery = new Map<string, Set<string>>();
  for (const claim of claims) ownersByDelivery.set(claim.delivery_id, (ownersByDelivery.get(claim.delivery_id) ?? new Set()).add(claim.owner));
  const lastClaim = new Map(claims.map((c) => [c.delivery_id, c.owner]));
  // An attempt is audited just after its outcome is recorded: the last one may still be on its way.
  const attempts = rows.reduce((sum, r) => sum + Number(r.attempts), 0);
  const deliveryAudits = await until(async () => {
    const audits = await cluster.db
      .selectFrom("audit_events")
      .select(["outcome", (eb) => eb.fn.countAll<number>().as("n")])
      .where("event", "like", '%"code":"fhir-delivery"%')
      .groupBy("outcome")
      .execute();
    return audits.reduce((sum, a) => sum + Number(a.n), 0) >= attempts ? audits : undefined;
  }, 10_000, 100).catch(() => []);
  const posts = peer.requests.filter((r) => r.method === "POST" && r.reportIdentifier !== undefined);

  const counts = {
    studies: STUDIES,
    reportedDuringOutage: reported.reports,
    reportedAfterMs: reportedMs,
    outageMs: restarted - outageStarted,
    duringOutage,
    requestsAtTargetDuringOutage: requestsBeforeRestart,
    drainedAfterRestartMs: drainedMs,
    deliveries: countOf(rows.map((r) => r.state)),
    attempts,
    claims: claims.length,
    claimsByReplica: countOf(claims.map((c) => replicaOf(c.owner))),
    leaseOwners: new Set(claims.map((c) => c.owner)).size,
    deliveriesAttemptedByBothReplicas: [...ownersByDelivery.values()].filter((owners) => owners.size > 1).length,
    deliveredByReplica: countOf(rows.map((r) => replicaOf(lastClaim.get(r.id) ?? "none"))),
    auditedAttempts: Object.fromEntries(deliveryAudits.map((a) => [a.outcome === "0" ? "delivered" : a.outcome === "4" ? "retried" : `outcome ${a.outcome}`, Number(a.n)])),
    postsAtTarget: countOf(posts.map((r) => r.status)),
    atTarget: {
      diagnosticReports: held.length,
      distinctReportIdentifiers: new Set(reportIdentifiers).size,
      distinctStudies: new Set(reportStudies).size,
      observations: observations.length,
      distinctObservationIdentifiers: new Set(observationIdentifiers).size,
      provenances: provenances.length,
      devices: devices.length,
    },
  };
  printCounts("FHIR target down for a minute", counts);

  // Every report was produced while the target was down, and nothing reached it then.
  expect(reported).toMatchObject({ studies: STUDIES, reportedOnce: STUDIES, jobs: { succeeded: STUDIES }, reports: STUDIES });
  expect(duringOutage.deliveries).toEqual({ pending: STUDIES });
  expect(duringOutage.attempts).toBeGreaterThan(STUDIES);
  expect(requestsBeforeRestart).toBe(0);
  // Each report exactly once at the target: by identifier, by study, and one POST each once it was back.
  expect(counts.deliveries).toEqual({ delivered: STUDIES });
  expect(held).toHaveLength(STUDIES);
  expect(new Set(reportIdentifiers)).toEqual(new Set(rows.map((r) => `urn:uuid:${r.report_id}`)));
  expect(new Set(reportStudies)).toEqual(new Set(uids.map((uid) => `urn:oid:${uid}`)));
  expect(counts.atTarget.distinctObservationIdentifiers).toBe(observations.length);
  expect(provenances).toHaveLength(STUDIES);
  expect(devices).toHaveLength(1);
  expect(counts.postsAtTarget).toEqual({ 200: STUDIES });
  // Every attempt is a claim and an audit record; both replicas took part, and rows moved between them.
  expect(counts.claims).toBe(counts.attempts);
  expect(counts.auditedAttempts).toEqual({ delivered: STUDIES, retried: counts.attempts - STUDIES });
  expect(counts.leaseOwners).toBe(2);
  expect(Object.keys(counts.claimsByReplica).sort()).toEqual(["api-1", "api-2"]);
  expect(counts.deliveriesAttemptedByBothReplicas).toBeGreaterThan(0);
  for (const api of apis) expect(await Promise.race([api.exited, Promise.resolve("running")]), `${api.name} exited:\n${api.output()}`).toBe("running");
});
