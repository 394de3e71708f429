// UPS event reports relayed between two replicas (src/dicomweb/upsEventRelay.ts): two real apps on one PostgreSQL
// and one Redis (both from Debian), each listening for real, with real WebSocket subscribers on either. Every
// assertion about something not arriving waits first for something later on the same path (a barrier).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DicomJsonDataset } from "../src/dicom/dicomJson.js";
import { upgradeThroughApp } from "../src/dicomweb/upsChannel.js";
import { upsEventChannelName, type RedisUpsEventRelay } from "../src/dicomweb/upsEventRelay.js";
import { scpStatusReport, UPS_EVENT_TYPE } from "../src/dicomweb/upsEvents.js";
import { GLOBAL_SUBSCRIPTION_UID, TAG } from "../src/dicomweb/upsWorkitem.js";
import { startPostgres, type RunningPostgres } from "./support/postgres.js";
import { startRedis, type RunningRedis } from "./support/redis.js";
import { startTestApp, type TestApp } from "./support/testApp.js";
import { until } from "./support/until.js";
import { openEventChannel, scheduledWorkitem, type EventChannel } from "./support/workitems.js";

interface Replica {
  name: string;
  t: TestApp;
  server: Server;
  wsOrigin: string;
  relay: RedisUpsEventRelay;
}

const DICOM_JSON = "application/dicom+json";
const PREFIX = `relay-test-${process.pid}`;

let redis: RunningRedis;
let postgres: RunningPostgres;
let a: Replica;
let b: Replica;
/** Every message on the relay's Redis channel, as a third party sees it. */
let tap: Redis;
const tapped: Array<{ kind: string; from: string; report?: { event: { workitemUid: string } } }> = [];
const channels: EventChannel[] = [];
let counter = 0;

const nextUid = () => `2.25.${Date.now()}${(counter++).toString().padStart(4, "0")}`;
const nextAe = (name: string) => `${name}${counter++}`.slice(0, 16);
const eventually = <T>(probe: () => T | undefined, timeoutMs = 15_000) => until(async () => probe(), timeoutMs);
const value = (dataset: DicomJsonDataset, tag: string) => dataset[tag]?.Value?.[0];
const eventsFor = (channel: EventChannel, uid: string) => channel.events.filter((event) => value(event, "00001000") === uid);
const statesFor = (channel: EventChannel, uid: string) =>
  eventsFor(channel, uid)
    .filter((event) => value(event, "00001002") === UPS_EVENT_TYPE.stateReport)
    .map((event) => value(event, TAG.ProcedureStepState));
const hasEvent = (channel: EventChannel, uid: string, type: number) => eventsFor(channel, uid).some((event) => value(event, "00001002") === type) || undefined;

async function startReplica(name: string): Promise<Replica> {
  const t = await startTestApp({ TRRG_DATABASE_URL: postgres.url, TRRG_REDIS_URL: redis.url, TRRG_REDIS_PREFIX: PREFIX });
  const server = t.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("upgrade", (req, socket, head) => upgradeThroughApp(t.app, req, socket, head));
  return { name, t, server, wsOrigin: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, relay: t.services.upsRelay! };
}

async function stopReplica(replica: Replica | undefined): Promise<void> {
  if (!replica) return;
  replica.server.closeAllConnections();
  await new Promise((resolve) => replica.server.close(resolve));
  await replica.t.close();
}

async function connect(replica: Replica, aeTitle: string): Promise<EventChannel> {
  const channel = await openEventChannel(replica.wsOrigin, aeTitle, await replica.t.token());
  channels.push(channel);
  return channel;
}

async function disconnect(replica: Replica, channel: EventChannel): Promise<void> {
  const before = replica.t.services.upsChannels.open;
  channel.socket.close();
  await until(async () => (replica.t.services.upsChannels.open < before ? true : undefined));
}

async function create(replica: Replica): Promise<string> {
  const uid = nextUid();
  await replica.t.api.post(`/dicomweb/workitems?${uid}`).set("Content-Type", DICOM_JSON).send(JSON.stringify(scheduledWorkitem())).expect(201);
  return uid;
}

const subscribe = (replica: Replica, target: string, aeTitle: string) => replica.t.api.post(`/dicomweb/workitems/${target}/subscribers/${aeTitle}`).expect(201);

/** Claims the workitem (IN PROGRESS) through the replica. */
const claim = (replica: Replica, uid: string) =>
  replica.t.api
    .put(`/dicomweb/workitems/${uid}/state`)
    .set("Content-Type", DICOM_JSON)
    .send(JSON.stringify({ [TAG.ProcedureStepState]: { vr: "CS", Value: ["IN PROGRESS"] }, [TAG.TransactionUID]: { vr: "UI", Value: [nextUid()] } }));

/** Asks for the cancellation of an IN PROGRESS workitem: a Cancel Requested report (event type 2). */
const requestCancellation = (replica: Replica, uid: string) =>
  replica.t.api.post(`/dicomweb/workitems/${uid}/cancelrequest`).set("Content-Type", DICOM_JSON).send(JSON.stringify({ [TAG.ReasonForCancellation]: { vr: "LT", Value: ["test"] } }));

const bothConnected = () => until(async () => (a.relay.connected && b.relay.connected ? true : undefined), 20_000);

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  a = await startReplica("A");
  b = await startReplica("B");
  tap = new Redis(redis.url);
  tap.on("error", () => undefined);
  tap.on("message", (_channel: string, text: string) => tapped.push(JSON.parse(text) as (typeof tapped)[number]));
  await tap.subscribe(upsEventChannelName(PREFIX));
  await bothConnected();
}, 180_000);

afterAll(async () => {
  for (const channel of channels) channel.socket.terminate();
  tap?.disconnect();
  await stopReplica(a);
  await stopReplica(b);
  await redis?.stop();
  await postgres?.stop();
}, 60_000);

describe("UPS event reports across replicas (Redis pub/sub)", () => {
  it("delivers the report of a change made through replica B to a subscriber connected to replica A, once, published once", async () => {
    const ae = nextAe("RELAYONCE");
    const other = nextAe("RELAYOTHER");
    const uid = await create(a);
    const channel = await connect(a, ae);
    await subscribe(a, uid, ae);
    await subscribe(a, uid, other); // a second subscriber AE: still one message on Redis per report
    await eventually(() => (statesFor(channel, uid).includes("SCHEDULED") ? true : undefined));

    expect((await claim(b, uid)).status).toBe(200);
    await eventually(() => (statesFor(channel, uid).includes("IN PROGRESS") ? true : undefined));
    // B queued both reports for the AE (not connected there); a new channel on A makes A announce its channels,
    // and B hands what it holds for the AE over to A, which must keep only the copies it has not had.
    const handedIn = a.relay.counts.handedIn;
    await connect(a, nextAe("RELAYPOKE"));
    await eventually(() => (a.relay.counts.handedIn >= handedIn + 2 ? true : undefined));

    expect(statesFor(channel, uid)).toEqual(["SCHEDULED", "IN PROGRESS"]);
    const claimReports = tapped.filter((m) => m.kind === "report" && m.from === b.relay.replicaId && m.report?.event.workitemUid === uid);
    expect(claimReports).toHaveLength(1);
  });

  it("queues for an AE connected nowhere on every replica: it gets its reports where it connects, and not again on the other", async () => {
    const ae = nextAe("RELAYQUEUE");
    const uid = await create(a);
    await subscribe(a, uid, ae);
    expect((await claim(b, uid)).status).toBe(200);

    // Connected to B at last: B sends what it queued, including the report made through A.
    const handedIn = b.relay.counts.handedIn;
    const onB = await connect(b, ae);
    await eventually(() => (statesFor(onB, uid).length === 2 ? true : undefined));
    // A hands its copies over to B, which has them already.
    await eventually(() => (b.relay.counts.handedIn >= handedIn + 2 ? true : undefined));
    expect(statesFor(onB, uid)).toEqual(["SCHEDULED", "IN PROGRESS"]);

    // Reconnected to A: A holds nothing for it any more.
    await disconnect(b, onB);
    const onA = await connect(a, ae);
    expect((await requestCancellation(b, uid)).status).toBe(202);
    await eventually(() => hasEvent(onA, uid, UPS_EVENT_TYPE.cancelRequested));
    expect(eventsFor(onA, uid).map((event) => value(event, "00001002"))).toEqual([UPS_EVENT_TYPE.cancelRequested]);
  });

  it("serves a worklist subscription made through one replica to a subscriber connected to the other", async () => {
    const ae = nextAe("RELAYGLOBAL");
    const channel = await connect(a, ae);
    await subscribe(b, GLOBAL_SUBSCRIPTION_UID, ae);
    const throughB = await create(b);
    const throughA = await create(a);
    await eventually(() => (statesFor(channel, throughB).length > 0 && statesFor(channel, throughA).length > 0 ? true : undefined));
    expect(statesFor(channel, throughB)).toEqual(["SCHEDULED"]);
    expect(statesFor(channel, throughA)).toEqual(["SCHEDULED"]);
    await b.t.api.delete(`/dicomweb/workitems/${GLOBAL_SUBSCRIPTION_UID}/subscribers/${ae}`).expect(200);
  });

  it("replaces a channel open on replica A when the same AE title opens one on replica B", async () => {
    const ae = nextAe("RELAYREPLACE");
    const first = await connect(a, ae);
    const closed = new Promise<number>((resolve) => first.socket.once("close", (code) => resolve(code)));
    const second = await connect(b, ae);
    expect(await closed).toBe(4000);
    expect(second.socket.readyState).toBe(second.socket.OPEN);
  });

  it("keeps the GOING DOWN status of replica B to B's own subscribers, also when one of them moves to A", async () => {
    const aeOnA = nextAe("RELAYDOWNA");
    const aeOnB = nextAe("RELAYDOWNB");
    const onA = await connect(a, aeOnA);
    const onB = await connect(b, aeOnB);
    const uid = await create(a);
    await subscribe(a, uid, aeOnA);

    b.t.services.upsChannels.broadcast(scpStatusReport("GOING DOWN"));
    await eventually(() => (onB.events.some((event) => value(event, "00001002") === UPS_EVENT_TYPE.scpStatusChange) ? true : undefined));
    // Barrier: a report that B publishes after the broadcast reaches A; a relayed broadcast would have come first.
    expect((await claim(b, uid)).status).toBe(200);
    await eventually(() => (statesFor(onA, uid).includes("IN PROGRESS") ? true : undefined));
    expect(onA.events.filter((event) => value(event, "00001002") === UPS_EVENT_TYPE.scpStatusChange)).toEqual([]);
    // B's subscriber reconnects to A, as it would once B is gone: A has nothing of B's status for it.
    const moved = await connect(a, aeOnB);
    await subscribe(a, uid, aeOnB);
    await eventually(() => (statesFor(moved, uid).includes("IN PROGRESS") ? true : undefined));
    expect(moved.events.map((event) => value(event, "00001002"))).toEqual([UPS_EVENT_TYPE.stateReport]);
  });

  it("with Redis down, completes the transaction and informs the replica's own subscribers; once Redis is back the other replica's get what they missed and relaying resumes", async () => {
    const aeA = nextAe("RELAYOUTA");
    const aeB = nextAe("RELAYOUTB");
    const onA = await connect(a, aeA);
    const onB = await connect(b, aeB);
    const uid = await create(a);
    await subscribe(a, uid, aeA);
    await subscribe(a, uid, aeB);
    await eventually(() => (statesFor(onB, uid).includes("SCHEDULED") ? true : undefined));

    await redis.kill();
    await until(async () => (!a.relay.connected && !b.relay.connected ? true : undefined));
    expect((await claim(b, uid)).status).toBe(200);
    await eventually(() => (statesFor(onB, uid).includes("IN PROGRESS") ? true : undefined));

    await redis.start();
    await bothConnected();
    // A announces its channels again on reconnecting; B hands over the report it could not publish.
    await eventually(() => (statesFor(onA, uid).includes("IN PROGRESS") ? true : undefined), 20_000);
    expect((await requestCancellation(b, uid)).status).toBe(202);
    await eventually(() => hasEvent(onA, uid, UPS_EVENT_TYPE.cancelRequested));
    expect(statesFor(onA, uid)).toEqual(["SCHEDULED", "IN PROGRESS"]);
    expect(statesFor(onB, uid)).toEqual(["SCHEDULED", "IN PROGRESS"]);
  }, 60_000);
});
