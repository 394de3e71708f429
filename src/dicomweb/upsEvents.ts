// UPS event reports (PS3.4 CC.2.4, Table CC.2.4-1) and the WebSocket notification channels they travel on
// (PS3.18 §8.10.4 Open Notification Connection, §8.10.5 Send Event Report): one text frame per report, a DICOM JSON
// dataset with the N-EVENT-REPORT command attributes (PS3.7 §10.3.1) and the event's own attributes.
//
// One channel per subscriber AE title; a second connection for the same AE replaces the first. Reports for an AE
// whose channel is closed wait in a bounded queue and are sent when it reconnects (the user agent re-opens the
// channel after a loss, §8.10.4.2); past the bound the oldest are dropped, and the count is logged.
//
// Scaled out, the reports also travel between replicas (src/dicomweb/upsEventRelay.ts): each has an id, every
// replica delivers or queues it, and what waits here for an AE whose channel is open on another replica is handed
// over to that one, which drops what it already has. SCP status changes stay on the replica they describe.
import { randomBytes } from "node:crypto";
import type { WebSocket } from "ws";
import type { DicomJsonDataset, DicomJsonElement } from "../dicom/dicomJson.js";
import type { Logger } from "../log.js";
import { GLOBAL_SUBSCRIPTION_UID, TAG, UPS_EVENT_SOP_CLASS, type ProcedureStepState } from "./upsWorkitem.js";

/** Event Type ID (0000,1002) of UPS event reports (PS3.4 Table CC.2.4-1). */
export const UPS_EVENT_TYPE = {
  stateReport: 1,
  cancelRequested: 2,
  progressReport: 3,
  scpStatusChange: 4,
  assigned: 5,
} as const;

export type UpsEventType = (typeof UPS_EVENT_TYPE)[keyof typeof UPS_EVENT_TYPE];

export interface UpsEvent {
  workitemUid: string;
  type: UpsEventType;
  /** The event's own attributes (Table CC.2.4-1). */
  attributes: DicomJsonDataset;
}

const N_EVENT_REPORT_RQ = 0x0100;
const DATASET_PRESENT = 0x0000;
const MAX_QUEUED_PER_AE = 1000;

const cs = (value: string): DicomJsonElement => ({ vr: "CS", Value: [value] });

/** UPS State Report: the state and input readiness after a change, and the reason when it was canceled. */
export function stateReport(workitemUid: string, dataset: DicomJsonDataset, state: ProcedureStepState): UpsEvent {
  const attributes: DicomJsonDataset = {
    [TAG.ProcedureStepState]: cs(state),
    [TAG.InputReadinessState]: dataset[TAG.InputReadinessState] ?? cs("READY"),
  };
  const progress = ((dataset[TAG.ProcedureStepProgressInformationSequence]?.Value ?? [])[0] ?? {}) as DicomJsonDataset;
  if (state === "CANCELED") {
    for (const tag of [TAG.ReasonForCancellation, TAG.ProcedureStepDiscontinuationReasonCodeSequence]) {
      if (progress[tag]) attributes[tag] = progress[tag];
    }
  }
  return { workitemUid, type: UPS_EVENT_TYPE.stateReport, attributes };
}

/** UPS Cancel Requested: who asked, why, and how to reach them (Table CC.2.4-1, event type 2). */
export function cancelRequestedReport(workitemUid: string, requestingAe: string, details: DicomJsonDataset): UpsEvent {
  return { workitemUid, type: UPS_EVENT_TYPE.cancelRequested, attributes: { [TAG.RequestingAE]: { vr: "AE", Value: [requestingAe] }, ...details } };
}

/** UPS Progress Report: the workitem's Procedure Step Progress Information Sequence. */
export function progressReport(workitemUid: string, dataset: DicomJsonDataset): UpsEvent {
  const progress = dataset[TAG.ProcedureStepProgressInformationSequence] ?? { vr: "SQ" };
  return { workitemUid, type: UPS_EVENT_TYPE.progressReport, attributes: { [TAG.ProcedureStepProgressInformationSequence]: progress } };
}

/** The worklist's own status (event type 4), sent to every open channel, e.g. GOING DOWN at shutdown. */
export function scpStatusReport(status: "GOING DOWN" | "RESTARTED"): UpsEvent {
  return {
    // SCP Status Change reports name the worklist, not a workitem (PS3.4 CC.2.4.2).
    workitemUid: GLOBAL_SUBSCRIPTION_UID,
    type: UPS_EVENT_TYPE.scpStatusChange,
    attributes: { "00741242": cs(status), "00741244": cs("WARM START"), "00741246": cs("WARM START") },
  };
}

/** A report as it travels between replicas: its id is unique across them, so a replica given it twice keeps one. */
export interface RelayedReport {
  id: string;
  event: UpsEvent;
}

/** How reports reach the other replicas of a scaled-out service (src/dicomweb/upsEventRelay.ts); none in one process. */
export interface UpsEventRelay {
  /** Sends the report for these AE titles to the other replicas, best-effort (what waits here stays here). */
  publish(aeTitles: readonly string[], report: RelayedReport): void;
  /** A channel opened or closed here. */
  channelsChanged(): void;
}

interface Waiting extends RelayedReport {
  /** This replica's own status (SCP Status Change): never handed to another replica. */
  local?: true;
}

export class UpsEventChannels {
  private readonly channels = new Map<string, { socket: WebSocket; openedAt: number }>();
  private readonly queues = new Map<string, Waiting[]>();
  /** With a relay: the ids of the reports delivered or queued here, per AE (a bounded memory). */
  private readonly seen = new Map<string, Set<string>>();
  private readonly idPrefix = randomBytes(6).toString("base64url");
  private reportCount = 0;
  private messageId = 0;
  private relay: UpsEventRelay | undefined;

  constructor(private readonly logger: Logger) {}

  /** The number of open channels. */
  get open(): number {
    return this.channels.size;
  }

  /** Sends this replica's reports to the other replicas too (the relay then hands theirs to receive()). */
  relayThrough(relay: UpsEventRelay): void {
    this.relay = relay;
  }

  /** Opens the AE's channel on this socket (replacing an older one) and sends what waited for it. */
  attach(aeTitle: string, socket: WebSocket): void {
    const previous = this.channels.get(aeTitle);
    if (previous && previous.socket !== socket) previous.socket.close(4000, "replaced by a newer connection for this AE title");
    this.channels.set(aeTitle, { socket, openedAt: Date.now() });
    socket.on("close", () => {
      if (this.channels.get(aeTitle)?.socket !== socket) return;
      this.channels.delete(aeTitle);
      this.relay?.channelsChanged();
    });
    const waiting = this.queues.get(aeTitle) ?? [];
    this.queues.delete(aeTitle);
    for (const report of waiting) socket.send(this.frame(report.event));
    this.relay?.channelsChanged();
  }

  /** Sends the event to each subscriber AE: now when its channel is open, else when it reconnects. */
  send(aeTitles: Iterable<string>, event: UpsEvent): void {
    const titles = [...new Set(aeTitles)];
    if (titles.length === 0) return;
    const report = { id: `${this.idPrefix}.${++this.reportCount}`, event };
    this.deliver(titles, report);
    this.relay?.publish(titles, report);
  }

  /** A report from another replica: delivered or queued here like one of this replica's own, unless already here. */
  receive(aeTitles: readonly string[], report: RelayedReport): void {
    this.deliver(aeTitles, report);
  }

  /** Sends the event to every open channel of this replica (SCP status changes). */
  broadcast(event: UpsEvent): void {
    this.deliver(this.channels.keys(), { id: `${this.idPrefix}.${++this.reportCount}`, event }, true);
  }

  /** The channels open here: AE title → when it opened (ms since the epoch). */
  openChannels(): Map<string, number> {
    return new Map([...this.channels].map(([aeTitle, channel]) => [aeTitle, channel.openedAt]));
  }

  /**
   * The AE's channel is (or just was) open on another replica: closes the one here when that one is newer
   * (`replaced`), and gives what waits here for the AE to `forward` (to that replica, which drops what it has
   * already). What could not be forwarded waits here again.
   */
  async handOver(aeTitle: string, replaced: boolean, forward: (reports: RelayedReport[]) => Promise<boolean>): Promise<void> {
    const channel = this.channels.get(aeTitle);
    if (replaced && channel) {
      channel.socket.close(4000, "replaced by a newer connection for this AE title");
      this.channels.delete(aeTitle);
      this.relay?.channelsChanged();
    }
    const reports = (this.queues.get(aeTitle) ?? []).filter((report) => !report.local).map(({ id, event }) => ({ id, event }));
    this.queues.delete(aeTitle);
    if (reports.length === 0 || (await forward(reports))) return;
    const now = this.channels.get(aeTitle)?.socket;
    if (now && now.readyState === now.OPEN) {
      for (const report of reports) now.send(this.frame(report.event));
      return;
    }
    this.queues.set(aeTitle, [...reports, ...(this.queues.get(aeTitle) ?? [])].slice(-MAX_QUEUED_PER_AE));
  }

  /** Closes every channel (shutdown). */
  closeAll(): void {
    for (const { socket } of this.channels.values()) socket.close(1001, "the service is stopping");
    this.channels.clear();
    this.relay?.channelsChanged();
  }

  private deliver(aeTitles: Iterable<string>, report: RelayedReport, local = false): void {
    for (const aeTitle of new Set(aeTitles)) {
      if (this.relay && !this.remember(aeTitle, report.id)) continue;
      const socket = this.channels.get(aeTitle)?.socket;
      if (socket && socket.readyState === socket.OPEN) {
        socket.send(this.frame(report.event));
        continue;
      }
      const queue = this.queues.get(aeTitle) ?? [];
      queue.push(local ? { ...report, local } : report);
      if (queue.length > MAX_QUEUED_PER_AE) {
        queue.shift();
        this.logger.warn({ maxQueued: MAX_QUEUED_PER_AE }, "UPS event queue of a disconnected subscriber is full; the oldest report was dropped");
      }
      this.queues.set(aeTitle, queue);
    }
  }

  /** Records that the report reached this replica for the AE; false when it had already. */
  private remember(aeTitle: string, id: string): boolean {
    const ids = this.seen.get(aeTitle) ?? new Set<string>();
    if (ids.has(id)) return false;
    ids.add(id);
    // Twice the queue bound: a hand-over holds at most one queue's worth of reports this replica may have had.
    if (ids.size > 2 * MAX_QUEUED_PER_AE) ids.delete(ids.values().next().value!);
    this.seen.set(aeTitle, ids);
    return true;
  }

  private frame(event: UpsEvent): string {
    return JSON.stringify(this.report(event));
  }

  /** The N-EVENT-REPORT-RQ as DICOM JSON (PS3.7 Table 10.3-1 command fields, then the event's attributes). */
  private report(event: UpsEvent): DicomJsonDataset {
    this.messageId = (this.messageId % 0xffff) + 1;
    return {
      "00000002": { vr: "UI", Value: [UPS_EVENT_SOP_CLASS] },
      "00000100": { vr: "US", Value: [N_EVENT_REPORT_RQ] },
      "00000110": { vr: "US", Value: [this.messageId] },
      "00000800": { vr: "US", Value: [DATASET_PRESENT] },
      "00001000": { vr: "UI", Value: [event.workitemUid] },
      "00001002": { vr: "US", Value: [event.type] },
      ...event.attributes,
    };
  }
}
