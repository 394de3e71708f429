// UPS event reports between the `serve` replicas of a scaled-out service, over Redis pub/sub on the channel
// `<TRRG_REDIS_PREFIX>:trrg:ups-events`: a subscriber's channel (PS3.18 §8.10.4) is open on one replica, but its
// workitems change through any of them. Without TRRG_REDIS_URL there is no relay and one process does it all.
//
// - A replica delivers its own reports at once (src/dicomweb/upsEvents.ts) and publishes each one once, for all
//   its AE titles; the others deliver or queue it; a replica skips its own messages (by replica id).
// - Queueing: every replica queues the reports of AE titles whose channel is not open on it, so a subscriber gets
//   what it missed on whichever replica it reconnects to, even when the replica it used is gone. Each replica
//   announces the channels open on it (when one opens or closes, and every few seconds); hearing that an AE's
//   channel is or just was open on another replica, a replica hands over what it holds for the AE to that one and
//   forgets it. The receiver drops what it has had already (reports carry ids), delivers the rest or queues it.
//   So a report reaches a subscriber once, whichever replicas it connects to in turn, and what a replica could not
//   publish (Redis down) reaches the subscriber once Redis is back. A report can come twice after a replica
//   crashed: those delivered by it since its last announcement are handed over by the others again. A replica
//   that (re)subscribes asks the others to announce theirs, so that hand-overs resume at once after an outage;
//   what is handed over then arrives after the reports relayed live meanwhile.
// - A channel opened on one replica replaces an older one for the same AE title on another, as within one replica.
// - Relaying is best-effort: a failed publish fails no transaction; the report still goes to this replica's
//   channels and waits here for the others (and is handed over later).
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { z } from "zod";
import type { DicomJsonDataset } from "../dicom/dicomJson.js";
import type { RedisLocation } from "../jobs/redisDispatch.js";
import type { Logger } from "../log.js";
import type { RelayedReport, UpsEventChannels, UpsEventRelay, UpsEventType } from "./upsEvents.js";

/** The pub/sub channel of one deployment (TRRG_REDIS_PREFIX). */
export function upsEventChannelName(prefix: string): string {
  return `${prefix}:trrg:ups-events`;
}

/** How often a replica announces its open channels (others hand over, and learn of replicas that left). */
const PRESENCE_INTERVAL_MS = 5000;
/** Longest a publish waits for Redis. */
const PUBLISH_TIMEOUT_MS = 1000;

const report = z.object({
  id: z.string().min(1).max(100),
  event: z.object({ workitemUid: z.string().min(1).max(64), type: z.number().int().min(1).max(5), attributes: z.record(z.string(), z.unknown()) }),
});
const aeTitle = z.string().min(1).max(16);

/** The relay's messages: a report, a replica's open channels, reports handed over to one replica. */
const relayMessage = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("report"), from: z.string(), aeTitles: z.array(aeTitle).min(1), report }),
  z.object({
    kind: z.literal("presence"),
    from: z.string(),
    channels: z.array(z.object({ aeTitle, openedAt: z.number(), open: z.boolean() })),
    /** Sent on (re)subscribing: the others announce theirs in turn, which this replica may have missed meanwhile. */
    ask: z.boolean().optional(),
  }),
  z.object({ kind: z.literal("handover"), from: z.string(), to: z.string(), aeTitle, reports: z.array(report) }),
]);
type RelayMessage = z.infer<typeof relayMessage>;

const asReport = (parsed: z.infer<typeof report>): RelayedReport => ({
  id: parsed.id,
  event: { workitemUid: parsed.event.workitemUid, type: parsed.event.type as UpsEventType, attributes: parsed.event.attributes as DicomJsonDataset },
});

export interface UpsEventRelayOptions {
  presenceIntervalMs?: number;
}

export class RedisUpsEventRelay implements UpsEventRelay {
  /** This replica in the relay's messages. */
  readonly replicaId = randomUUID();
  /** What went through the relay (for metrics and tests). */
  readonly counts = { published: 0, publishFailed: 0, received: 0, handedOver: 0, handedIn: 0 };
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly presenceTimer: NodeJS.Timeout;
  private subscribed = false;
  private reachable = true;
  private closing = false;
  /** AE titles announced open: one that closes is announced once more, as closed, for the others to hand over. */
  private readonly announced = new Set<string>();

  constructor(
    redis: RedisLocation,
    private readonly channels: UpsEventChannels,
    private readonly logger: Logger,
    options: UpsEventRelayOptions = {},
  ) {
    this.channel = upsEventChannelName(redis.prefix);
    // While Redis is down a publish fails at once (no offline queue that would send stale reports later).
    this.publisher = new Redis(redis.url, { maxRetriesPerRequest: 1, commandTimeout: PUBLISH_TIMEOUT_MS, enableOfflineQueue: false });
    this.publisher.on("error", () => undefined); // reported by the failed publishes (see unreachable)
    // Subscribed anew on every connection (subscribe below), so that each reconnection is announced.
    this.subscriber = new Redis(redis.url, { autoResubscribe: false, maxRetriesPerRequest: null });
    this.subscriber.on("error", () => undefined);
    this.subscriber.on("ready", () => void this.subscribe());
    this.subscriber.on("close", () => {
      if (this.subscribed && !this.closing) this.logger.warn("UPS event relay: subscription to Redis lost; reconnecting");
      this.subscribed = false;
    });
    this.subscriber.on("message", (channel: string, text: string) => {
      if (channel === this.channel) this.onMessage(text);
    });
    this.presenceTimer = setInterval(() => this.announce(), options.presenceIntervalMs ?? PRESENCE_INTERVAL_MS);
    this.presenceTimer.unref();
    channels.relayThrough(this);
  }

  /** Whether reports flow both ways now: published, and the other replicas' received. */
  get connected(): boolean {
    return this.subscribed && this.publisher.status === "ready";
  }

  publish(aeTitles: readonly string[], report: RelayedReport): void {
    void this.send({ kind: "report", from: this.replicaId, aeTitles: [...aeTitles], report }).then((sent) => {
      if (sent) this.counts.published++;
      else this.counts.publishFailed++;
    });
  }

  channelsChanged(): void {
    this.announce();
  }

  /** Stops relaying; call after UpsEventChannels.closeAll, whose announcement it lets go out first. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.presenceTimer);
    // QUIT goes after the commands already sent; a Redis that does not answer is not waited for.
    await Promise.race([this.publisher.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, PUBLISH_TIMEOUT_MS).unref())]);
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  private async subscribe(): Promise<void> {
    if (this.closing) return;
    try {
      await this.subscriber.subscribe(this.channel);
    } catch {
      return; // the connection went again; its next "ready" subscribes
    }
    this.subscribed = true;
    this.announce(true);
  }

  /**
   * Tells the others which channels are open here. Only while subscribed: the hand-overs it asks for must reach
   * this replica.
   */
  private announce(ask = false): void {
    if (!this.subscribed) return;
    const open = this.channels.openChannels();
    const closed = [...this.announced].filter((ae) => !open.has(ae));
    const channels = [...open].map(([ae, openedAt]) => ({ aeTitle: ae, openedAt, open: true }));
    for (const ae of closed) channels.push({ aeTitle: ae, openedAt: 0, open: false });
    for (const ae of open.keys()) this.announced.add(ae);
    void this.send({ kind: "presence", from: this.replicaId, channels, ...(ask ? { ask } : {}) }).then((sent) => {
      if (!sent) return; // announced again as closed next time
      const now = this.channels.openChannels();
      for (const ae of closed) if (!now.has(ae)) this.announced.delete(ae);
    });
  }

  private onMessage(text: string): void {
    let message: RelayMessage;
    try {
      message = relayMessage.parse(JSON.parse(text));
    } catch {
      this.logger.warn("UPS event relay: a message that is not one of ours was ignored");
      return;
    }
    if (message.from === this.replicaId) return; // this replica delivered its own already
    if (message.kind === "report") {
      this.counts.received++;
      this.channels.receive(message.aeTitles, asReport(message.report));
      return;
    }
    if (message.kind === "handover") {
      if (message.to !== this.replicaId) return;
      this.counts.handedIn += message.reports.length;
      for (const handed of message.reports) this.channels.receive([message.aeTitle], asReport(handed));
      return;
    }
    if (message.ask) this.announce();
    const here = this.channels.openChannels();
    for (const { aeTitle: ae, openedAt, open } of message.channels) {
      const local = here.get(ae);
      // The newer channel stays (a tie goes to the larger replica id, so that both sides agree).
      const replaced = open && local !== undefined && (openedAt > local || (openedAt === local && message.from > this.replicaId));
      void this.channels.handOver(ae, replaced, (reports) => this.handOverTo(message.from, ae, reports));
    }
  }

  private async handOverTo(replica: string, ae: string, reports: RelayedReport[]): Promise<boolean> {
    const sent = await this.send({ kind: "handover", from: this.replicaId, to: replica, aeTitle: ae, reports });
    if (sent) this.counts.handedOver += reports.length;
    return sent;
  }

  private async send(message: RelayMessage): Promise<boolean> {
    try {
      await this.publisher.publish(this.channel, JSON.stringify(message));
    } catch (error) {
      if (this.reachable && !this.closing) {
        this.logger.warn({ error: error instanceof Error ? error.name : typeof error }, "UPS event relay: Redis unreachable; reports reach the subscribers connected to this replica, the others' wait here");
      }
      this.reachable = false;
      return false;
    }
    if (!this.reachable) this.logger.info("UPS event relay: Redis reachable again; relaying");
    this.reachable = true;
    return true;
  }
}
