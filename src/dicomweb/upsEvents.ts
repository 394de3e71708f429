// UPS event reports (PS3.4 CC.2.4, Table CC.2.4-1) and the WebSocket notification channels they travel on
// (PS3.18 §8.10.4 Open Notification Connection, §8.10.5 Send Event Report): one text frame per report, a DICOM JSON
// dataset with the N-EVENT-REPORT command attributes (PS3.7 §10.3.1) and the event's own attributes.
//
// One channel per subscriber AE title; a second connection for the same AE replaces the first. Reports for an AE
// whose channel is closed wait in a bounded queue and are sent when it reconnects (the user agent re-opens the
// channel after a loss, §8.10.4.2); past the bound the oldest are dropped, and the count is logged.
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

export class UpsEventChannels {
  private readonly channels = new Map<string, WebSocket>();
  private readonly queues = new Map<string, string[]>();
  private messageId = 0;

  constructor(private readonly logger: Logger) {}

  /** The number of open channels. */
  get open(): number {
    return this.channels.size;
  }

  /** Opens the AE's channel on this socket (replacing an older one) and sends what waited for it. */
  attach(aeTitle: string, socket: WebSocket): void {
    const previous = this.channels.get(aeTitle);
    if (previous && previous !== socket) previous.close(4000, "replaced by a newer connection for this AE title");
    this.channels.set(aeTitle, socket);
    socket.on("close", () => {
      if (this.channels.get(aeTitle) === socket) this.channels.delete(aeTitle);
    });
    const waiting = this.queues.get(aeTitle) ?? [];
    this.queues.delete(aeTitle);
    for (const frame of waiting) socket.send(frame);
  }

  /** Sends the event to each subscriber AE: now when its channel is open, else when it reconnects. */
  send(aeTitles: Iterable<string>, event: UpsEvent): void {
    for (const aeTitle of new Set(aeTitles)) {
      const frame = JSON.stringify(this.report(event));
      const socket = this.channels.get(aeTitle);
      if (socket && socket.readyState === socket.OPEN) {
        socket.send(frame);
        continue;
      }
      const queue = this.queues.get(aeTitle) ?? [];
      queue.push(frame);
      if (queue.length > MAX_QUEUED_PER_AE) {
        queue.shift();
        this.logger.warn({ maxQueued: MAX_QUEUED_PER_AE }, "UPS event queue of a disconnected subscriber is full; the oldest report was dropped");
      }
      this.queues.set(aeTitle, queue);
    }
  }

  /** Sends the event to every open channel (SCP status changes). */
  broadcast(event: UpsEvent): void {
    this.send([...this.channels.keys()], event);
  }

  /** Closes every channel (shutdown). */
  closeAll(): void {
    for (const socket of this.channels.values()) socket.close(1001, "the service is stopping");
    this.channels.clear();
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
