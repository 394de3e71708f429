// UPS workitems for tests: a SCHEDULED workitem that asks for a chest X-ray report (the performer's default code),
// the Input Information Sequence item that names a study, and a WebSocket subscriber channel that records events.
import WebSocket from "ws";
import type { DicomJsonDataset } from "../../src/dicom/dicomJson.js";
import { TAG } from "../../src/dicomweb/upsWorkitem.js";

/** Scheduled Workitem Code of a chest X-ray report (TRRG_UPS_WORKITEM_CODES' default). */
export const CXR_REPORT: DicomJsonDataset = {
  [TAG.CodeValue]: { vr: "SH", Value: ["CXR-REPORT"] },
  [TAG.CodingSchemeDesignator]: { vr: "SH", Value: ["99TRRG"] },
  [TAG.CodeMeaning]: { vr: "LO", Value: ["Chest X-ray report"] },
};

/** An Input Information Sequence item (Referenced Instances and Access Macro) naming a study, with its Retrieve URL. */
export function inputStudy(studyInstanceUID: string, retrieveUrl?: string): DicomJsonDataset {
  return {
    [TAG.TypeOfInstances]: { vr: "CS", Value: ["DICOM"] },
    [TAG.StudyInstanceUID]: { vr: "UI", Value: [studyInstanceUID] },
    ...(retrieveUrl ? { [TAG.WADORSRetrievalSequence]: { vr: "SQ", Value: [{ [TAG.RetrieveURL]: { vr: "UR", Value: [retrieveUrl] } }] } } : {}),
  };
}

/** A workitem as a creator sends it: SCHEDULED, READY, due, with the Type 1 attributes of PS3.4 Table CC.2.5-3. */
export function scheduledWorkitem(overrides: DicomJsonDataset = {}): DicomJsonDataset {
  return {
    [TAG.ProcedureStepState]: { vr: "CS", Value: ["SCHEDULED"] },
    [TAG.ScheduledProcedureStepPriority]: { vr: "CS", Value: ["MEDIUM"] },
    [TAG.ProcedureStepLabel]: { vr: "LO", Value: ["Chest X-ray preliminary report"] },
    [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20260101080000"] },
    [TAG.InputReadinessState]: { vr: "CS", Value: ["READY"] },
    [TAG.ScheduledWorkitemCodeSequence]: { vr: "SQ", Value: [CXR_REPORT] },
    ...overrides,
  };
}

export interface EventChannel {
  socket: WebSocket;
  /** Every event report received so far, in order. */
  events: DicomJsonDataset[];
}

/** Opens the subscriber channel of an AE title (PS3.18 §8.10.4) on a listening server (`ws://host:port`). */
export async function openEventChannel(wsOrigin: string, aeTitle: string, token: string): Promise<EventChannel> {
  const socket = new WebSocket(`${wsOrigin}/dicomweb/subscribers/${aeTitle}`, { headers: { Authorization: `Bearer ${token}` } });
  const events: DicomJsonDataset[] = [];
  socket.on("message", (data) => events.push(JSON.parse(String(data)) as DicomJsonDataset));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return { socket, events };
}
