// This service as a UPS performer (IHE AIW-I: the AI Manager claims the task, RAD-82/-83/-84/-85): it claims
// SCHEDULED, READY, due workitems whose Scheduled Workitem Code asks for chest X-ray report generation, pulls each
// input study it does not hold by WADO-RS, has it reported by the study's one job (shared with STOW-RS arrivals),
// reports progress, and completes the workitem with the results in its Output Information Sequence; anything that
// stops the report cancels the workitem with the reason.
//
// The performer keeps no state of its own: each poll looks at the workitems it holds (IN PROGRESS, performer = its
// AE title) and moves each one step on from what the store says, so a restart resumes where the last run stopped.
// Each step runs in the background; a cancellation request aborts the step in flight.
import type { DicomJsonDataset, DicomJsonElement } from "../dicom/dicomJson.js";
import { stringValue } from "../dicom/dicomJson.js";
import { isValidUid } from "../dicom/uid.js";
import { AUDIT_OBSERVER, studyRetrieveEvent, type AuditEvent } from "../audit/auditEvent.js";
import { reportUuid } from "../fhir/reportResources.js";
import type { Job, JobQueue, ModelIdentity } from "../jobs/jobQueue.js";
import { PollPause } from "../jobs/pollPause.js";
import type { StudyTrigger } from "../jobs/studyTrigger.js";
import type { Logger } from "../log.js";
import type { Database } from "../store/database.js";
import { findStudyPatient } from "../store/instanceIndex.js";
import { RetrieveError, type DicomwebPeers } from "./dicomwebClient.js";
import { studyURL } from "./urls.js";
import type { WorkitemRecord } from "./upsStore.js";
import { TAG, UpsError, dicomDateTime, withProgress } from "./upsWorkitem.js";
import type { Worklist } from "./worklist.js";

/** A coded entry of Scheduled Workitem Code Sequence (0040,4018). */
export interface WorkitemCode {
  value: string;
  scheme: string;
}

export interface PerformerSettings {
  /** The Scheduled Workitem Codes this performer takes. */
  codes: readonly WorkitemCode[];
  /** The performer's AE title: the workitems it holds are marked with it. */
  aeTitle: string;
  pollIntervalMs: number;
  /** Workitems worked on at once. */
  concurrency: number;
  /** Base of this service's DICOMweb URLs, for the Output Information Sequence. */
  dicomwebBaseUrl: string;
  /** Base of this service's FHIR API, for the DiagnosticReport's Retrieve URL. */
  fhirBaseUrl: string;
}

export interface PerformerServices {
  worklist: Worklist;
  db: Database;
  jobs: JobQueue;
  studyTrigger: StudyTrigger;
  model: () => Promise<ModelIdentity>;
  peers: DicomwebPeers | undefined;
  logger: Logger;
  /** Records an AuditEvent of a background action (each retrieve from a PACS). */
  audit: (event: AuditEvent) => Promise<void>;
}

/** One input study of a workitem (an Input Information Sequence item, Referenced Instances and Access Macro). */
interface InputStudy {
  studyInstanceUID: string;
  /** A WADO-RS Retrieve URL for it, when the item gives one. */
  retrieveUrl: string | undefined;
  /** The instances it names (none: the whole study). */
  sopInstanceUIDs: string[];
}

/** A reason to cancel the workitem, as Reason For Cancellation (0074,1238) says it. */
class CancelWorkitem extends Error {
  override name = "CancelWorkitem";
}

const items = (element: DicomJsonElement | undefined) => (element?.Value ?? []) as DicomJsonDataset[];
const sq = (...values: DicomJsonDataset[]): DicomJsonElement => ({ vr: "SQ", Value: values });
const one = (vr: string, value: string | number): DicomJsonElement => ({ vr, Value: [value] });

export function inputStudies(dataset: DicomJsonDataset): InputStudy[] {
  const studies = new Map<string, InputStudy>();
  for (const item of items(dataset[TAG.InputInformationSequence])) {
    const uid = stringValue(item, TAG.StudyInstanceUID);
    if (!uid || !isValidUid(uid)) throw new CancelWorkitem("an Input Information Sequence item has no valid Study Instance UID");
    const retrieval = [...items(item[TAG.WADORSRetrievalSequence]), ...items(item[TAG.WADORetrievalSequence])];
    const url = retrieval.map((entry) => stringValue(entry, TAG.RetrieveURL) ?? stringValue(entry, TAG.RetrieveURI)).find(Boolean);
    const study = studies.get(uid) ?? { studyInstanceUID: uid, retrieveUrl: url, sopInstanceUIDs: [] };
    study.retrieveUrl ??= url;
    for (const ref of items(item[TAG.ReferencedSOPSequence])) {
      const sop = stringValue(ref, TAG.ReferencedSOPInstanceUID);
      if (sop) study.sopInstanceUIDs.push(sop);
    }
    studies.set(uid, study);
  }
  if (studies.size === 0) throw new CancelWorkitem("the workitem names no input study (Input Information Sequence is empty)");
  return [...studies.values()];
}

/** True when the workitem's Scheduled Workitem Code is one of ours. */
export function asksForReport(dataset: DicomJsonDataset, codes: readonly WorkitemCode[]): boolean {
  return items(dataset[TAG.ScheduledWorkitemCodeSequence]).some((code) =>
    codes.some((wanted) => stringValue(code, TAG.CodeValue) === wanted.value && stringValue(code, TAG.CodingSchemeDesignator) === wanted.scheme),
  );
}

/** Reason For Cancellation of a workitem whose cancellation was requested: the requester's own, when it gave one. */
function requestedCancellation(dataset: DicomJsonDataset): CancelWorkitem {
  const progress = items(dataset[TAG.ProcedureStepProgressInformationSequence])[0];
  return new CancelWorkitem((progress && stringValue(progress, TAG.ReasonForCancellation)) || "cancellation was requested");
}

/** An update of the first Procedure Step Progress Information item, merged into the item as it is then. */
function progressChange(details: DicomJsonDataset) {
  return (current: DicomJsonDataset): DicomJsonDataset => ({
    [TAG.ProcedureStepProgressInformationSequence]: withProgress(current, details)[TAG.ProcedureStepProgressInformationSequence]!,
  });
}

/** One workitem's step in flight, and what aborts it (a cancellation request, or the service stopping). */
interface ActiveStep {
  controller: AbortController;
  done: Promise<void>;
}

export class UpsPerformer {
  private readonly pause = new PollPause();
  private readonly active = new Map<string, ActiveStep>();
  /** The last progress reported per workitem ("percent description"), so that each change is reported once. */
  private readonly lastProgress = new Map<string, string>();
  private loop: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly services: PerformerServices,
    private readonly settings: PerformerSettings,
  ) {}

  start(): void {
    this.loop ??= this.runLoop();
  }

  /** Looks at the worklist now instead of at the next poll. */
  poke(): void {
    this.pause.end();
  }

  /** Stops polling and aborts the steps in flight; the workitems stay IN PROGRESS and are resumed at the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.pause.end();
    await this.loop;
    for (const step of this.active.values()) step.controller.abort(new Error("the service is stopping"));
    await Promise.allSettled([...this.active.values()].map((step) => step.done));
  }

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.poll();
      } catch (error) {
        this.services.logger.error({ error: error instanceof Error ? error.name : typeof error }, "UPS performer poll failed");
      }
      if (this.stopping) break;
      await this.pause.wait(this.settings.pollIntervalMs);
    }
  }

  /**
   * One pass: a step for every workitem held, then claims while there is room. Steps run in the background, so that
   * a slow retrieve holds up neither the other workitems nor a cancellation request.
   */
  async poll(): Promise<void> {
    const { worklist } = this.services;
    const held = await worklist.store.list({ states: ["IN PROGRESS"], performer: this.settings.aeTitle });
    for (const record of held) {
      // A step in flight (a retrieve that may take minutes) is stopped; the workitem is canceled when it ends.
      if (record.cancelRequestedAt !== null) this.active.get(record.uid)?.controller.abort(requestedCancellation(record.dataset));
      this.launch(record);
    }
    const room = this.settings.concurrency - held.length;
    if (room <= 0) return;
    const due = await worklist.store.list({ states: ["SCHEDULED"], dueBy: new Date().toISOString() });
    let claimed = 0;
    for (const record of due) {
      if (claimed >= room || this.stopping) break;
      if (stringValue(record.dataset, TAG.InputReadinessState) !== "READY" || !asksForReport(record.dataset, this.settings.codes)) continue;
      const claim = await worklist.claim(record.uid, this.settings.aeTitle);
      if (!claim) continue;
      claimed++;
      this.services.logger.info({ workitems: 1 }, "UPS workitem claimed");
      this.launch(await this.started(claim));
    }
  }

  /** Starts one step for the workitem, unless one is in flight: never two at once for the same workitem. */
  private launch(record: WorkitemRecord): void {
    if (this.active.has(record.uid) || this.stopping) return;
    const controller = new AbortController();
    const done = this.step(record, controller.signal).finally(() => this.active.delete(record.uid));
    this.active.set(record.uid, { controller, done });
  }

  private async step(record: WorkitemRecord, signal: AbortSignal): Promise<void> {
    try {
      await this.advance(record, signal);
    } catch (error) {
      // An abort surfaces as the client's own error (or an AbortError); the reason is the signal's.
      const reason: unknown = signal.aborted ? signal.reason : error;
      if (reason instanceof CancelWorkitem) await this.cancel(record, reason.message).catch((e: unknown) => this.stepFailed(e));
      else if (!this.stopping) this.stepFailed(reason);
    }
  }

  private stepFailed(error: unknown): void {
    this.services.logger.warn({ error: error instanceof Error ? error.name : typeof error }, "UPS workitem step failed; it is tried again at the next poll");
  }

  private async advance(record: WorkitemRecord, signal: AbortSignal): Promise<void> {
    if (record.cancelRequestedAt !== null) throw requestedCancellation(record.dataset);
    const studies = inputStudies(record.dataset);
    const model = await this.services.model();
    const jobs: Job[] = [];
    for (const [index, study] of studies.entries()) {
      if (!(await this.holds(study))) {
        await this.progress(record, 5 + (index * 30) / studies.length, "retrieving the input study by WADO-RS");
        await this.retrieve(record.uid, study, signal);
      }
      signal.throwIfAborted();
      jobs.push(await this.services.studyTrigger.studyRequested(study.studyInstanceUID, "ups"));
    }
    const failed = jobs.find((job) => job.state === "failed");
    if (failed) throw new CancelWorkitem(`report generation failed: ${failed.lastError ?? "unknown reason"}`);
    const done = jobs.filter((job) => job.state === "succeeded").length;
    if (done < jobs.length) {
      const running = jobs.some((job) => job.state === "running");
      await this.progress(record, 40 + (50 * done) / jobs.length, running ? "generating the report" : "report generation queued");
      return;
    }
    signal.throwIfAborted();
    await this.complete(record, studies, model);
  }

  /** Records when the work started (Performed Procedure Step Start DateTime, set by the performer as it starts). */
  private async started(record: WorkitemRecord): Promise<WorkitemRecord> {
    const performed = { [TAG.PerformedProcedureStepStartDateTime]: one("DT", dicomDateTime(new Date())) };
    return this.services.worklist.update(record.uid, { [TAG.UnifiedProcedureStepPerformedProcedureSequence]: sq(performed) }, record.transactionUid ?? undefined);
  }

  /** The study is here: every named instance, or (none named) at least one instance of it. */
  private async holds(study: InputStudy): Promise<boolean> {
    const query = this.services.db.selectFrom("instances").select("sop_instance_uid").where("study_instance_uid", "=", study.studyInstanceUID);
    if (study.sopInstanceUIDs.length === 0) return (await query.limit(1).execute()).length > 0;
    const present = new Set((await query.where("sop_instance_uid", "in", study.sopInstanceUIDs).execute()).map((r) => r.sop_instance_uid));
    return study.sopInstanceUIDs.every((uid) => present.has(uid));
  }

  private async retrieve(workitemUID: string, study: InputStudy, signal: AbortSignal): Promise<void> {
    const { peers } = this.services;
    if (!peers) throw new CancelWorkitem("the input study is not held here and no DICOMweb peer is configured (TRRG_DICOMWEB_PEERS_FILE)");
    const started = new Date();
    const peer = study.retrieveUrl ? peers.peerFor(study.retrieveUrl) : peers.defaultPeer;
    const audit = async (outcome: "0" | "4" | "8", description?: string) => {
      const patient = outcome === "0" ? await findStudyPatient(this.services.db, study.studyInstanceUID) : undefined;
      const event = studyRetrieveEvent(
        {
          studyInstanceUID: study.studyInstanceUID,
          workitemUID,
          patient: patient && { patientId: patient.patientId, ...(patient.issuer !== undefined ? { issuer: patient.issuer } : {}) },
          peer: peer && { name: peer.name, baseUrl: peer.baseUrl },
          started,
          finished: new Date(),
          outcome,
          ...(description !== undefined ? { outcomeDescription: description } : {}),
        },
        { observer: AUDIT_OBSERVER },
      );
      await this.services.audit(event);
    };
    try {
      if (study.retrieveUrl) await peers.retrieveUrl(study.retrieveUrl, { signal });
      else await peers.retrieveStudy(study.studyInstanceUID, { signal });
    } catch (error) {
      const retryable = !(error instanceof RetrieveError) || error.retryable;
      await audit(retryable ? "4" : "8", error instanceof Error ? error.message : String(error));
      // A peer that is down or busy is tried again at the next poll; any other failure ends the workitem.
      if (error instanceof RetrieveError && !error.retryable) throw new CancelWorkitem(`the input study could not be retrieved: ${error.message}`);
      throw error;
    }
    await audit("0");
    if (!(await this.holds(study))) throw new CancelWorkitem("the retrieved study lacks instances the workitem names");
  }

  /** A UPS Progress Report when the progress moved on (PS3.4 CC.2.4, event type 3). */
  private async progress(record: WorkitemRecord, percent: number, description: string): Promise<void> {
    const rounded = Math.round(percent);
    if (this.lastProgress.get(record.uid) === `${rounded} ${description}`) return;
    this.lastProgress.set(record.uid, `${rounded} ${description}`);
    const details = { [TAG.ProcedureStepProgress]: one("DS", String(rounded)), [TAG.ProcedureStepProgressDescription]: one("ST", description) };
    await this.services.worklist.update(record.uid, progressChange(details), record.transactionUid ?? undefined);
  }

  /** Final state (PS3.4 CC.2.5.1.3.1): the performed procedure and its outputs, then COMPLETED. */
  private async complete(record: WorkitemRecord, studies: InputStudy[], model: ModelIdentity): Promise<void> {
    const { worklist } = this.services;
    const outputs = await this.outputs(studies, model);
    const final = (current: DicomJsonDataset): DicomJsonDataset => {
      const started = (items(current[TAG.UnifiedProcedureStepPerformedProcedureSequence])[0] ?? {}) as DicomJsonDataset;
      const performed: DicomJsonDataset = {
        [TAG.PerformedProcedureStepStartDateTime]: started[TAG.PerformedProcedureStepStartDateTime] ?? one("DT", dicomDateTime(new Date(record.updatedAt))),
        [TAG.PerformedProcedureStepEndDateTime]: one("DT", dicomDateTime(new Date())),
        [TAG.PerformedWorkitemCodeSequence]: current[TAG.ScheduledWorkitemCodeSequence] ?? { vr: "SQ" },
        [TAG.PerformedStationNameCodeSequence]: { vr: "SQ" },
        [TAG.ActualHumanPerformersSequence]: { vr: "SQ" },
        [TAG.OutputInformationSequence]: sq(...outputs),
      };
      const progress = progressChange({ [TAG.ProcedureStepProgress]: one("DS", "100"), [TAG.ProcedureStepProgressDescription]: one("ST", "preliminary report generated") });
      return { [TAG.UnifiedProcedureStepPerformedProcedureSequence]: sq(performed), ...progress(current) };
    };
    const transactionUid = record.transactionUid ?? undefined;
    await worklist.update(record.uid, final, transactionUid);
    await worklist.changeState(record.uid, "COMPLETED", transactionUid);
    this.lastProgress.delete(record.uid);
    this.services.logger.info({ workitems: 1 }, "UPS workitem completed");
  }

  /**
   * The Output Information Sequence: per input series, the instances as stored here with their WADO-RS Retrieve URL
   * (Type of Instances DICOM); per study, the DiagnosticReport with its FHIR read URL (Type of Instances FHIR, a
   * local extension of the macro's defined terms: a FHIR resource has no SOP Instance UID).
   */
  private async outputs(studies: InputStudy[], model: ModelIdentity): Promise<DicomJsonDataset[]> {
    const outputs: DicomJsonDataset[] = [];
    for (const study of studies) {
      const rows = await this.services.db
        .selectFrom("instances")
        .select(["series_instance_uid", "sop_class_uid", "sop_instance_uid"])
        .where("study_instance_uid", "=", study.studyInstanceUID)
        .orderBy("series_instance_uid")
        .orderBy("sop_instance_uid")
        .execute();
      const bySeries = new Map<string, typeof rows>();
      for (const row of rows) bySeries.set(row.series_instance_uid, [...(bySeries.get(row.series_instance_uid) ?? []), row]);
      for (const [series, instances] of bySeries) {
        outputs.push({
          [TAG.TypeOfInstances]: one("CS", "DICOM"),
          [TAG.StudyInstanceUID]: one("UI", study.studyInstanceUID),
          [TAG.SeriesInstanceUID]: one("UI", series),
          [TAG.ReferencedSOPSequence]: sq(...instances.map((i) => ({ [TAG.ReferencedSOPClassUID]: one("UI", i.sop_class_uid), [TAG.ReferencedSOPInstanceUID]: one("UI", i.sop_instance_uid) }))),
          [TAG.WADORSRetrievalSequence]: sq({ [TAG.RetrieveURL]: one("UR", studyURL(this.settings.dicomwebBaseUrl, study.studyInstanceUID)) }),
        });
      }
      outputs.push({
        [TAG.TypeOfInstances]: one("CS", "FHIR"),
        [TAG.StudyInstanceUID]: one("UI", study.studyInstanceUID),
        [TAG.RetrieveURL]: one("UR", `${this.settings.fhirBaseUrl}/DiagnosticReport/${reportUuid(study.studyInstanceUID, model)}`),
      });
    }
    return outputs;
  }

  /** CANCELED with the reason (PS3.4 CC.2.5.1.3.2), through the same transactions a client would use. */
  private async cancel(record: WorkitemRecord, reason: string): Promise<void> {
    const { worklist, logger } = this.services;
    const transactionUid = record.transactionUid ?? undefined;
    try {
      await worklist.update(record.uid, progressChange({ [TAG.ReasonForCancellation]: one("LT", reason.slice(0, 10240)) }), transactionUid);
      await worklist.changeState(record.uid, "CANCELED", transactionUid);
      this.lastProgress.delete(record.uid);
      logger.info({ workitems: 1 }, "UPS workitem canceled; the reason is in the workitem");
    } catch (error) {
      if (error instanceof UpsError) return; // no longer ours (completed or canceled meanwhile)
      throw error;
    }
  }
}
