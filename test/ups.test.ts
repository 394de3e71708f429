// UPS-RS (PS3.18 §11) through the real app: every transaction, its error cases, and event reports received by a
// real WebSocket client on a listening server.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { DicomJsonDataset } from "../src/dicom/dicomJson.js";
import { upgradeThroughApp } from "../src/dicomweb/upsChannel.js";
import { TAG } from "../src/dicomweb/upsWorkitem.js";
import { startTestApp, TEST_CLIENTS, type TestApp } from "./support/testApp.js";
import { until } from "./support/until.js";
import { inputStudy, openEventChannel, scheduledWorkitem, type EventChannel } from "./support/workitems.js";

/** Waits until the condition holds. */
const eventually = (condition: () => boolean) => until(async () => condition() || undefined);

const DICOM_JSON = "application/dicom+json";

let t: TestApp;
let server: Server;
let wsBase: string;
let uidCounter = 0;

const nextUid = () => `2.25.${Date.now()}${(uidCounter++).toString().padStart(4, "0")}`;

function workitem(overrides: DicomJsonDataset = {}): DicomJsonDataset {
  return scheduledWorkitem({
    [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20261202080000"] },
    [TAG.PatientName]: { vr: "PN", Value: [{ Alphabetic: "Doe^Jane" }] },
    [TAG.PatientID]: { vr: "LO", Value: ["PAT-UPS-1"] },
    [TAG.InputInformationSequence]: { vr: "SQ", Value: [inputStudy("2.25.1234")] },
    ...overrides,
  });
}

/** Creates a workitem with the given UID, a new one by default, or none (null: the worklist assigns it). */
async function create(dataset: DicomJsonDataset = workitem(), uid: string | null = nextUid()) {
  const res = await t.api.post(`/dicomweb/workitems${uid ? `?${uid}` : ""}`).set("Content-Type", DICOM_JSON).send(JSON.stringify(dataset));
  return { res, uid: uid ?? (res.headers.location as string | undefined)?.split("/").pop() };
}

const stateBody = (state: string, transactionUid?: string) =>
  JSON.stringify({ [TAG.ProcedureStepState]: { vr: "CS", Value: [state] }, ...(transactionUid ? { [TAG.TransactionUID]: { vr: "UI", Value: [transactionUid] } } : {}) });

const putState = (uid: string, state: string, transactionUid?: string) =>
  t.api.put(`/dicomweb/workitems/${uid}/state`).set("Content-Type", DICOM_JSON).send(stateBody(state, transactionUid));

const update = (uid: string, changes: DicomJsonDataset, transactionUid?: string) =>
  t.api.post(`/dicomweb/workitems/${uid}${transactionUid ? `?${transactionUid}` : ""}`).set("Content-Type", DICOM_JSON).send(JSON.stringify(changes));

const retrieve = async (uid: string) => ((await t.api.get(`/dicomweb/workitems/${uid}`).expect(200)).body as DicomJsonDataset[])[0]!;

const value = (dataset: DicomJsonDataset, tag: string) => dataset[tag]?.Value?.[0];

const FINAL: DicomJsonDataset = {
  [TAG.UnifiedProcedureStepPerformedProcedureSequence]: {
    vr: "SQ",
    Value: [
      {
        [TAG.PerformedProcedureStepStartDateTime]: { vr: "DT", Value: ["20261202080500"] },
        [TAG.PerformedProcedureStepEndDateTime]: { vr: "DT", Value: ["20261202081000"] },
        [TAG.OutputInformationSequence]: { vr: "SQ" },
      },
    ],
  },
};

/** A WebSocket subscriber channel that records every event report it receives. */
async function openChannel(aeTitle: string, token?: string): Promise<EventChannel> {
  return openEventChannel(wsBase, aeTitle, token ?? (await t.token()));
}

/** Why a WebSocket upgrade was refused: the HTTP status. */
function refusedUpgrade(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    socket.once("open", () => reject(new Error("the channel opened")));
    socket.once("error", () => undefined);
  });
}

const eventsFor = (events: DicomJsonDataset[], uid: string) => events.filter((event) => value(event, "00001000") === uid);
const eventType = (event: DicomJsonDataset) => value(event, "00001002");

beforeAll(async () => {
  t = await startTestApp();
  server = t.app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("upgrade", (req, socket, head) => upgradeThroughApp(t.app, req, socket, head));
  wsBase = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await t.close();
});

describe("Create Workitem (PS3.18 §11.4)", () => {
  it("creates a workitem with a chosen UID: 201 with its Location, stored SCHEDULED with the worklist's own attributes", async () => {
    const { res, uid } = await create();
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`http://127.0.0.1:8080/dicomweb/workitems/${uid}`);
    const stored = await retrieve(uid!);
    expect(value(stored, TAG.SOPInstanceUID)).toBe(uid);
    expect(value(stored, TAG.SOPClassUID)).toBe("1.2.840.10008.5.1.4.34.6.1");
    expect(value(stored, TAG.ProcedureStepState)).toBe("SCHEDULED");
    expect(value(stored, TAG.WorklistLabel)).toBe("TRRG CHEST X-RAY REPORTS");
    expect(value(stored, TAG.ScheduledProcedureStepModificationDateTime)).toMatch(/^\d{14}\.\d{3}\+0000$/);
    expect(stored[TAG.TransactionUID]).toBeUndefined();
  });

  it("assigns a UID when none is chosen, or takes the dataset's SOP Instance UID", async () => {
    const { res, uid } = await create(workitem(), null);
    expect(res.status).toBe(201);
    expect(uid).toMatch(/^2\.25\.\d+$/);
    expect(value(await retrieve(uid!), TAG.ProcedureStepState)).toBe("SCHEDULED");
    const own = nextUid();
    const named = await create(workitem({ [TAG.SOPInstanceUID]: { vr: "UI", Value: [own] } }), null);
    expect(named.res.headers.location).toMatch(new RegExp(`/workitems/${own.replace(/\./g, "\\.")}$`));
  });

  it("accepts the UID as a named query parameter and a DICOM JSON array of one dataset", async () => {
    const uid = nextUid();
    await t.api.post(`/dicomweb/workitems?workitem=${uid}`).set("Content-Type", "application/json").send(JSON.stringify([workitem()])).expect(201);
    await retrieve(uid);
  });

  it("adds the Type 2 attributes the creator left out, empty", async () => {
    const minimal = workitem();
    delete minimal[TAG.PatientName];
    delete minimal[TAG.InputInformationSequence];
    const { uid } = await create(minimal);
    const stored = await retrieve(uid!);
    expect(stored[TAG.PatientName]).toEqual({ vr: "PN" });
    expect(stored[TAG.InputInformationSequence]).toEqual({ vr: "SQ" });
  });

  it.each([
    ["a state other than SCHEDULED", workitem({ [TAG.ProcedureStepState]: { vr: "CS", Value: ["IN PROGRESS"] } }), /must be SCHEDULED/],
    ["a Transaction UID", workitem({ [TAG.TransactionUID]: { vr: "UI", Value: ["2.25.99"] } }), /Transaction UID/],
    ["no priority", workitem({ [TAG.ScheduledProcedureStepPriority]: { vr: "CS" } }), /Priority/],
    ["an unknown priority", workitem({ [TAG.ScheduledProcedureStepPriority]: { vr: "CS", Value: ["URGENT"] } }), /Priority/],
    ["no Procedure Step Label", workitem({ [TAG.ProcedureStepLabel]: { vr: "LO" } }), /Label/],
    ["a start time that is not DT", workitem({ [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["tomorrow"] } }), /Start DateTime/],
    ["no Input Readiness State", workitem({ [TAG.InputReadinessState]: { vr: "CS" } }), /Input Readiness/],
    ["an Affected SOP Instance UID", workitem({ "00001000": { vr: "UI", Value: ["2.25.5"] } }), /Affected SOP Instance UID/],
    ["a tag that is not one", { ...workitem(), nonsense: { vr: "CS" } } as DicomJsonDataset, /not a tag/],
    ["an element without vr", { ...workitem(), "00100030": { Value: ["x"] } } as unknown as DicomJsonDataset, /no valid vr/],
    ["performed procedure details", workitem(FINAL), /Performed Procedure Sequence/],
  ])("refuses a workitem with %s: 400, nothing stored", async (_name, dataset, reason) => {
    const { res, uid } = await create(dataset);
    expect(res.status).toBe(400);
    expect(res.headers.warning).toMatch(/^299 trrg-gateway "/);
    expect(String(res.headers.warning)).toMatch(reason);
    await t.api.get(`/dicomweb/workitems/${uid}`).expect(404);
  });

  it("refuses a second workitem with the same UID: 409, the first unchanged", async () => {
    const { uid } = await create();
    const again = await create(workitem({ [TAG.ProcedureStepLabel]: { vr: "LO", Value: ["other"] } }), uid);
    expect(again.res.status).toBe(409);
    expect(value(await retrieve(uid!), TAG.ProcedureStepLabel)).toBe("Chest X-ray preliminary report");
  });

  it("refuses a UID in the query that differs from the dataset's, and a well-known UID", async () => {
    const mismatch = await create(workitem({ [TAG.SOPInstanceUID]: { vr: "UI", Value: ["2.25.77"] } }), "2.25.78");
    expect(mismatch.res.status).toBe(400);
    expect((await create(workitem(), "1.2.840.10008.5.1.4.34.5")).res.status).toBe(400);
  });

  it("refuses XML (415), malformed JSON (400) and two datasets (400)", async () => {
    const uid = nextUid();
    await t.api.post(`/dicomweb/workitems?${uid}`).set("Content-Type", "application/dicom+xml").send("<NativeDicomModel/>").expect(415);
    await t.api.post(`/dicomweb/workitems?${uid}`).set("Content-Type", DICOM_JSON).send("{not json").expect(400);
    await t.api.post(`/dicomweb/workitems?${uid}`).set("Content-Type", DICOM_JSON).send(JSON.stringify([workitem(), workitem()])).expect(400);
    await t.api.get(`/dicomweb/workitems/${uid}`).expect(404);
  });
});

describe("Retrieve Workitem (§11.5)", () => {
  it("answers 404 for an unknown workitem and 400 for a UID that is not one", async () => {
    const res = await t.api.get("/dicomweb/workitems/2.25.404404404").expect(404);
    expect(res.headers.warning).toMatch(/The Workitem was not found/);
    await t.api.get("/dicomweb/workitems/not-a-uid").expect(400);
  });

  it("answers 406 to an Accept it cannot serve", async () => {
    const { uid } = await create();
    await t.api.get(`/dicomweb/workitems/${uid}`).set("Accept", "application/dicom+xml").expect(406);
  });
});

describe("Search for Workitems (§11.9)", () => {
  const label = `SEARCH-${Date.now()}`;
  const labelled = (overrides: DicomJsonDataset) => workitem({ [TAG.WorklistLabel]: { vr: "LO", Value: [label] }, ...overrides });
  const search = async (query: string) => (await t.api.get(`/dicomweb/workitems?WorklistLabel=${label}&${query}`).expect(200)).body as DicomJsonDataset[];

  beforeAll(async () => {
    await create(labelled({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-A"] }, [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20261201090000"] } }));
    await create(labelled({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-B"] }, [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20261202090000"] } }));
    const other = { "00080100": { vr: "SH", Value: ["110005"] }, "00080102": { vr: "SH", Value: ["DCM"] } };
    await create(labelled({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-C"] }, [TAG.ScheduledWorkitemCodeSequence]: { vr: "SQ", Value: [other] }, [TAG.ScheduledProcedureStepStartDateTime]: { vr: "DT", Value: ["20261203090000"] } }));
  });

  it("matches single values, wildcards, DT ranges and attributes inside sequences, in schedule order", async () => {
    expect((await search("PatientID=PAT-A")).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-A"]);
    expect((await search("PatientID=PAT-*")).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-A", "PAT-B", "PAT-C"]);
    expect((await search("ScheduledProcedureStepStartDateTime=20261202-")).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-B", "PAT-C"]);
    expect((await search("ScheduledProcedureStepStartDateTime=20261201")).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-A"]);
    expect((await search("ScheduledWorkitemCodeSequence.CodeValue=110005")).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-C"]);
    // Keys of one sequence match within the same item (PS3.4 C.2.2.2.6).
    expect(await search("ScheduledWorkitemCodeSequence.CodeValue=110005&ScheduledWorkitemCodeSequence.CodingSchemeDesignator=99TRRG")).toEqual([]);
    expect((await search("ProcedureStepState=SCHEDULED")).length).toBe(3);
    expect(await search("ProcedureStepState=COMPLETED")).toEqual([]);
  });

  it("pages with limit and offset, saying when more results are left", async () => {
    const res = await t.api.get(`/dicomweb/workitems?WorklistLabel=${label}&limit=2`).expect(200);
    expect(res.body).toHaveLength(2);
    expect(res.headers.warning).toMatch(/additional results/);
    const rest = await t.api.get(`/dicomweb/workitems?WorklistLabel=${label}&limit=2&offset=2`).expect(200);
    expect((rest.body as DicomJsonDataset[]).map((d) => value(d, TAG.PatientID))).toEqual(["PAT-C"]);
    expect(rest.headers.warning).toBeUndefined();
  });

  it("never returns a Transaction UID", async () => {
    const { uid } = await create(labelled({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-TX"] } }));
    await putState(uid!, "IN PROGRESS", "2.25.31337").expect(200);
    const [found] = await search("PatientID=PAT-TX");
    expect(value(found!, TAG.ProcedureStepState)).toBe("IN PROGRESS");
    expect(found![TAG.TransactionUID]).toBeUndefined();
  });

  it("refuses unknown attributes and bad values with 400", async () => {
    await t.api.get("/dicomweb/workitems?NoSuchAttribute=1").expect(400);
    await t.api.get("/dicomweb/workitems?ScheduledProcedureStepStartDateTime=yesterday").expect(400);
    await t.api.get("/dicomweb/workitems?limit=0").expect(400);
    await t.api.get("/dicomweb/workitems?PatientID.CodeValue=1").expect(400);
  });

  it("shows a patient/ scope only its patient's workitems", async () => {
    await create(labelled({ [TAG.PatientID]: { vr: "LO", Value: [TEST_CLIENTS.patient.patient] } }));
    const token = await t.token(TEST_CLIENTS.patient);
    const res = await t.api.get(`/dicomweb/workitems?WorklistLabel=${label}`).set("Authorization", `Bearer ${token}`).expect(200);
    expect((res.body as DicomJsonDataset[]).map((d) => value(d, TAG.PatientID))).toEqual([TEST_CLIENTS.patient.patient]);
    const [other] = await search("PatientID=PAT-A");
    await t.api.get(`/dicomweb/workitems/${value(other!, TAG.SOPInstanceUID)}`).set("Authorization", `Bearer ${token}`).expect(404);
  });
});

describe("Update Workitem (§11.6) and Change Workitem State (§11.7)", () => {
  const newLabel = { [TAG.ProcedureStepLabel]: { vr: "LO", Value: ["changed"] } };

  it("updates a SCHEDULED workitem without a Transaction UID", async () => {
    const { uid } = await create();
    await update(uid!, newLabel).expect(200);
    expect(value(await retrieve(uid!), TAG.ProcedureStepLabel)).toBe("changed");
  });

  it("lets only the holder of the Transaction UID update an IN PROGRESS workitem", async () => {
    const { uid } = await create();
    await putState(uid!, "IN PROGRESS", "2.25.1001").expect(200);
    const missing = await update(uid!, newLabel).expect(400);
    expect(missing.headers.warning).toMatch(/The Transaction UID is missing\./);
    const wrong = await update(uid!, newLabel, "2.25.1002").expect(400);
    expect(wrong.headers.warning).toMatch(/The Transaction UID is incorrect\./);
    expect(value(await retrieve(uid!), TAG.ProcedureStepLabel)).toBe("Chest X-ray preliminary report");
    await update(uid!, newLabel, "2.25.1001").expect(200);
    await t.api.post(`/dicomweb/workitems/${uid}?transaction-uid=2.25.1001`).set("Content-Type", DICOM_JSON).send(JSON.stringify(FINAL)).expect(200);
    expect(value(await retrieve(uid!), TAG.ProcedureStepLabel)).toBe("changed");
  });

  it("refuses updates of the state, the UIDs, or a Type 1 attribute to nothing", async () => {
    const { uid } = await create();
    await update(uid!, { [TAG.ProcedureStepState]: { vr: "CS", Value: ["COMPLETED"] } }).expect(400);
    await update(uid!, { [TAG.SOPInstanceUID]: { vr: "UI", Value: ["2.25.9"] } }).expect(400);
    await update(uid!, { [TAG.ScheduledProcedureStepPriority]: { vr: "CS" } }).expect(400);
    expect(value(await retrieve(uid!), TAG.ProcedureStepState)).toBe("SCHEDULED");
  });

  it("goes SCHEDULED → IN PROGRESS → COMPLETED with the Transaction UID and the final state attributes", async () => {
    const { uid } = await create();
    const tx = "2.25.2001";
    await putState(uid!, "IN PROGRESS", tx).expect(200);
    const again = await putState(uid!, "IN PROGRESS", "2.25.2002").expect(409);
    expect(again.headers.warning).toMatch(/inconsistent with the state of the UPS Instance/);
    const incomplete = await putState(uid!, "COMPLETED", tx).expect(409);
    expect(String(incomplete.headers.warning)).toMatch(/final state requirements not met/);
    await putState(uid!, "COMPLETED", "2.25.2003").expect(400);
    await putState(uid!, "COMPLETED").expect(400);
    await update(uid!, FINAL, tx).expect(200);
    await putState(uid!, "COMPLETED", tx).expect(200);
    expect(value(await retrieve(uid!), TAG.ProcedureStepState)).toBe("COMPLETED");
    const repeat = await putState(uid!, "COMPLETED", tx).expect(200);
    expect(repeat.headers.warning).toMatch(/already in the requested state of COMPLETED/);
    await putState(uid!, "CANCELED", tx).expect(409);
    const late = await update(uid!, newLabel, tx).expect(409);
    expect(late.headers.warning).toMatch(/inconsistent with the current state of the Workitem/);
  });

  it("cancels an IN PROGRESS workitem with its Transaction UID, recording when", async () => {
    const { uid } = await create();
    await putState(uid!, "IN PROGRESS", "2.25.3001").expect(200);
    await putState(uid!, "CANCELED", "2.25.3001").expect(200);
    const stored = await retrieve(uid!);
    expect(value(stored, TAG.ProcedureStepState)).toBe("CANCELED");
    const progress = (stored[TAG.ProcedureStepProgressInformationSequence]!.Value as DicomJsonDataset[])[0]!;
    expect(value(progress, TAG.ProcedureStepCancellationDateTime)).toMatch(/^\d{14}/);
    expect((await putState(uid!, "CANCELED", "2.25.3001").expect(200)).headers.warning).toMatch(/already in the requested state of CANCELED/);
    await putState(uid!, "IN PROGRESS", "2.25.3002").expect(409);
  });

  it("refuses illegal transitions and bad payloads", async () => {
    const { uid } = await create();
    await putState(uid!, "COMPLETED", "2.25.4001").expect(409);
    await putState(uid!, "CANCELED", "2.25.4001").expect(409);
    await putState(uid!, "SCHEDULED", "2.25.4001").expect(400);
    await putState(uid!, "IN PROGRESS", "not-a-uid").expect(400);
    await putState("2.25.404404", "IN PROGRESS", "2.25.4001").expect(404);
    await update("2.25.404404", newLabel).expect(404);
    expect(value(await retrieve(uid!), TAG.ProcedureStepState)).toBe("SCHEDULED");
  });

  it("lets exactly one of many racing claims win", async () => {
    const { uid } = await create();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => putState(uid!, "IN PROGRESS", `2.25.500${i}`)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
  });
});

describe("Request Cancellation (§11.8)", () => {
  const reason = { [TAG.ReasonForCancellation]: { vr: "LT", Value: ["order withdrawn"] } };
  const cancel = (uid: string, body?: DicomJsonDataset) => {
    const req = t.api.post(`/dicomweb/workitems/${uid}/cancelrequest`);
    return body ? req.set("Content-Type", DICOM_JSON).send(JSON.stringify(body)) : req.send();
  };

  it("cancels a SCHEDULED workitem at once, keeping the reason", async () => {
    const { uid } = await create();
    await cancel(uid!, reason).expect(202);
    const stored = await retrieve(uid!);
    expect(value(stored, TAG.ProcedureStepState)).toBe("CANCELED");
    const progress = (stored[TAG.ProcedureStepProgressInformationSequence]!.Value as DicomJsonDataset[])[0]!;
    expect(value(progress, TAG.ReasonForCancellation)).toBe("order withdrawn");
    expect((await cancel(uid!).expect(202)).headers.warning).toMatch(/already in the requested state of CANCELED/);
  });

  it("asks the performer of an IN PROGRESS workitem (the state stays), and refuses a COMPLETED one", async () => {
    const { uid } = await create();
    await putState(uid!, "IN PROGRESS", "2.25.6001").expect(200);
    await cancel(uid!).expect(202);
    expect(value(await retrieve(uid!), TAG.ProcedureStepState)).toBe("IN PROGRESS");
    await update(uid!, FINAL, "2.25.6001").expect(200);
    await putState(uid!, "COMPLETED", "2.25.6001").expect(200);
    expect((await cancel(uid!).expect(409)).headers.warning).toMatch(/The UPS is already COMPLETED\./);
    await cancel("2.25.404404").expect(404);
  });
});

describe("Subscriptions (§11.10-§11.12) and event reports over WebSocket (§8.10)", () => {
  it("reports a workitem's life to a global subscriber: created, claimed, progress, cancel requested, canceled", async () => {
    const channel = await openChannel("GLOBALWATCH");
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/GLOBALWATCH?deletionlock=true").expect(201);
    const { uid } = await create();
    await putState(uid!, "IN PROGRESS", "2.25.7001").expect(200);
    const progress = { [TAG.ProcedureStepProgressInformationSequence]: { vr: "SQ", Value: [{ [TAG.ProcedureStepProgress]: { vr: "DS", Value: ["50"] } }] } };
    await update(uid!, progress, "2.25.7001").expect(200);
    await t.api.post(`/dicomweb/workitems/${uid}/cancelrequest`).set("Content-Type", DICOM_JSON).send(JSON.stringify({ [TAG.ReasonForCancellation]: { vr: "LT", Value: ["no longer needed"] } })).expect(202);
    await putState(uid!, "CANCELED", "2.25.7001").expect(200);
    await eventually(() => eventsFor(channel.events, uid!).length >= 5);
    const events = eventsFor(channel.events, uid!);
    expect(events.map(eventType)).toEqual([1, 1, 3, 2, 1]);
    expect(events.map((e) => value(e, TAG.ProcedureStepState) ?? null)).toEqual(["SCHEDULED", "IN PROGRESS", null, null, "CANCELED"]);
    expect(value(events[0]!, "00000002")).toBe("1.2.840.10008.5.1.4.34.6.4");
    expect(value(events[0]!, "00000100")).toBe(0x0100);
    expect(value(events[3]!, TAG.ReasonForCancellation)).toBe("no longer needed");
    expect(value(events[3]!, TAG.RequestingAE)).toBe("test-system");
    expect(value(events[4]!, TAG.ReasonForCancellation)).toBe("no longer needed");
    channel.socket.close();
    await t.api.delete("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/GLOBALWATCH").expect(200);
  });

  it("reports a new workitem as SCHEDULED before the claim of a performer that took it the moment it was stored", async () => {
    const channel = await openChannel("CLAIMWATCH");
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/CLAIMWATCH").expect(201);
    const uid = nextUid();
    // The performer's claim lands between the workitem's insert and its subscriptions (a poll at that moment).
    const { store } = t.services.worklist;
    const subscribeAll = store.subscribeAll.bind(store);
    let claim: Promise<unknown> | undefined;
    store.subscribeAll = async (target, subscribers, at) => {
      if (target === uid && !claim) {
        claim = t.services.worklist.claim(uid, "QUICKPERFORMER");
        await until(async () => ((await store.get(uid))?.state === "IN PROGRESS" ? true : undefined));
      }
      return subscribeAll(target, subscribers, at);
    };
    try {
      expect((await create(workitem(), uid)).res.status).toBe(201);
      await claim;
    } finally {
      store.subscribeAll = subscribeAll;
    }
    await eventually(() => eventsFor(channel.events, uid).length >= 2);
    expect(eventsFor(channel.events, uid).map((e) => value(e, TAG.ProcedureStepState))).toEqual(["SCHEDULED", "IN PROGRESS"]);
    channel.socket.close();
    await t.api.delete("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/CLAIMWATCH").expect(200);
  });

  it("subscribes to one workitem, reporting its current state at once; unsubscribing stops the reports", async () => {
    const { uid } = await create();
    const channel = await openChannel("ONEWATCH");
    await t.api.post(`/dicomweb/workitems/${uid}/subscribers/ONEWATCH`).expect(201);
    await eventually(() => eventsFor(channel.events, uid!).length === 1);
    expect(value(eventsFor(channel.events, uid!)[0]!, TAG.ProcedureStepState)).toBe("SCHEDULED");
    await t.api.delete(`/dicomweb/workitems/${uid}/subscribers/ONEWATCH`).expect(200);
    await putState(uid!, "IN PROGRESS", "2.25.8001").expect(200);
    const { uid: later } = await create();
    await t.api.post(`/dicomweb/workitems/${later}/subscribers/ONEWATCH`).expect(201);
    await eventually(() => eventsFor(channel.events, later!).length === 1);
    expect(eventsFor(channel.events, uid!)).toHaveLength(1);
    await t.api.delete(`/dicomweb/workitems/${uid}/subscribers/ONEWATCH`).expect(404);
    await t.api.post("/dicomweb/workitems/2.25.404404/subscribers/ONEWATCH").expect(404);
    channel.socket.close();
  });

  it("filters a filtered worklist subscription by the workitems' attributes", async () => {
    const channel = await openChannel("FILTERWATCH");
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5.1/subscribers/FILTERWATCH?filter=PatientID=PAT-FILTER,ScheduledWorkitemCodeSequence.CodeValue=CXR-REPORT").expect(201);
    const { uid: wanted } = await create(workitem({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-FILTER"] } }));
    const { uid: other } = await create(workitem({ [TAG.PatientID]: { vr: "LO", Value: ["PAT-ELSE"] } }));
    await eventually(() => eventsFor(channel.events, wanted!).length === 1);
    await putState(other!, "IN PROGRESS", "2.25.9001").expect(200);
    await putState(wanted!, "IN PROGRESS", "2.25.9002").expect(200);
    await eventually(() => eventsFor(channel.events, wanted!).length === 2);
    expect(eventsFor(channel.events, other!)).toEqual([]);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5.1/subscribers/FILTERWATCH").expect(400);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5.1/subscribers/FILTERWATCH?filter=NoSuchKey=1").expect(400);
    channel.socket.close();
    await t.api.delete("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5.1/subscribers/FILTERWATCH").expect(200);
  });

  it("suspends a worklist subscription: new workitems are not subscribed, existing ones still report", async () => {
    const { uid: before } = await create();
    const channel = await openChannel("SUSPENDWATCH");
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/SUSPENDWATCH").expect(201);
    await eventually(() => eventsFor(channel.events, before!).length === 1);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/SUSPENDWATCH/suspend").expect(200);
    const { uid: after } = await create();
    await putState(before!, "IN PROGRESS", "2.25.9101").expect(200);
    await eventually(() => eventsFor(channel.events, before!).length === 2);
    expect(eventsFor(channel.events, after!)).toEqual([]);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/NOSUCHAE/suspend").expect(404);
    await t.api.post(`/dicomweb/workitems/${before}/subscribers/SUSPENDWATCH/suspend`).expect(400);
    channel.socket.close();
    await t.api.delete("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/SUSPENDWATCH").expect(200);
  });

  it("keeps reports for a subscriber whose channel is closed and sends them when it reconnects", async () => {
    const { uid } = await create();
    await t.api.post(`/dicomweb/workitems/${uid}/subscribers/LATEWATCH`).expect(201);
    await putState(uid!, "IN PROGRESS", "2.25.9201").expect(200);
    const channel = await openChannel("LATEWATCH");
    await eventually(() => eventsFor(channel.events, uid!).length === 2);
    expect(eventsFor(channel.events, uid!).map((e) => value(e, TAG.ProcedureStepState))).toEqual(["SCHEDULED", "IN PROGRESS"]);
    channel.socket.close();
  });

  it("keeps an AE title's subscriptions and channel to the client that made them", async () => {
    const { uid } = await create();
    await t.api.post(`/dicomweb/workitems/${uid}/subscribers/OWNEDAE`).expect(201);
    const other = await t.token(TEST_CLIENTS.otherSystem);
    const refused = await t.api.post(`/dicomweb/workitems/${uid}/subscribers/OWNEDAE`).set("Authorization", `Bearer ${other}`).expect(403);
    expect(refused.headers.warning).toMatch(/subscribed by another client/);
    await t.api.delete(`/dicomweb/workitems/${uid}/subscribers/OWNEDAE`).set("Authorization", `Bearer ${other}`).expect(403);
    expect(await refusedUpgrade(`${wsBase}/dicomweb/subscribers/OWNEDAE`, { Authorization: `Bearer ${other}` })).toBe(403);
    // The other client's own AE title is its own.
    await t.api.post(`/dicomweb/workitems/${uid}/subscribers/OTHERAE`).set("Authorization", `Bearer ${other}`).expect(201);
    (await openChannel("OTHERAE", other)).socket.close();
    (await openChannel("OWNEDAE")).socket.close();
  });

  it("refuses a channel without a token (401), without the scope (403), for a bad AE title (400), and a plain GET (426)", async () => {
    expect(await refusedUpgrade(`${wsBase}/dicomweb/subscribers/NOTOKEN`, {})).toBe(401);
    const noTask = await t.token(TEST_CLIENTS.noImaging);
    expect(await refusedUpgrade(`${wsBase}/dicomweb/subscribers/NOSCOPE`, { Authorization: `Bearer ${noTask}` })).toBe(403);
    const token = await t.token();
    expect(await refusedUpgrade(`${wsBase}/dicomweb/subscribers/${"A".repeat(17)}`, { Authorization: `Bearer ${token}` })).toBe(400);
    await t.api.get("/dicomweb/subscribers/PLAINGET").expect(426);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/BAD%5CAE").expect(400);
    await t.api.post("/dicomweb/workitems/1.2.840.10008.5.1.4.34.5/subscribers/OK?deletionlock=maybe").expect(400);
  });

  it("audits the channel's opening", async () => {
    const since = new Date().toISOString();
    const channel = await openChannel("AUDITWATCH");
    channel.socket.close();
    const res = await t.api.get(`/fhir/AuditEvent?_count=100&date=ge${since}`).expect(200);
    const entries = (res.body as { entry: Array<{ resource: { type: { code: string }; outcome: string; entity?: Array<{ what?: { identifier?: { value: string } } }> } }> }).entry;
    expect(entries.some((e) => e.resource.type.code === "110111" && e.resource.outcome === "0")).toBe(true);
  });
});
