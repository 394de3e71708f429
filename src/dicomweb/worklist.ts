// The Worklist Service (PS3.18 §11, UPS-RS) over the store: every transaction as a typed function that the routes
// and this service's own performer (src/dicomweb/upsPerformer.ts) both call, so that a state change made by either
// follows the same rules (src/dicomweb/upsWorkitem.ts) and reaches the subscribers as the same event reports.
// A change is computed from the workitem as read and applied only if nobody changed it meanwhile; otherwise it is
// computed again from the new reading (so a racing claim, say, is refused by the rules, never lost).
import type { DicomJsonDataset } from "../dicom/dicomJson.js";
import { stringValue } from "../dicom/dicomJson.js";
import { isValidUid } from "../dicom/uid.js";
import type { Database } from "../store/database.js";
import { addMatchingKey, emptyMatchTree, matchesDataset, type MatchTree } from "./datasetMatching.js";
import { badRequest } from "./errors.js";
import { FUZZY_MATCHING_WARNING, MORE_RESULTS_WARNING, parseCount } from "./qido.js";
import { cancelRequestedReport, progressReport, stateReport, type UpsEvent, type UpsEventChannels } from "./upsEvents.js";
import { UpsStore, type Subscription, type WorkitemChange, type WorkitemRecord } from "./upsStore.js";
import {
  FILTERED_GLOBAL_SUBSCRIPTION_UID,
  GLOBAL_SUBSCRIPTION_UID,
  TAG,
  UPS_WARNING,
  UpsError,
  cancellationDetails,
  changeState,
  createWorkitem,
  instantOfDateTime,
  newTransactionUid,
  publicDataset,
  updateWorkitem,
  withProgress,
  type ProcedureStepState,
} from "./upsWorkitem.js";

export interface WorklistSettings {
  /** Worklist Label (0074,1202) given to workitems created without one. */
  defaultWorklistLabel: string;
  /** Most workitems one search returns (the client pages on with offset). */
  maxResults: number;
}

/** The attributes an update sets, or how to compute them from the workitem's current dataset. */
export type WorkitemChanges = DicomJsonDataset | ((current: DicomJsonDataset) => DicomJsonDataset);

export interface SearchOutcome {
  matches: DicomJsonDataset[];
  warnings: string[];
}

/** Who made a request: the OAuth client, and the patient a patient/ scope limits it to. */
export interface Requester {
  clientId: string | undefined;
  patientId?: string | undefined;
}

const MAX_ATTEMPTS = 5;
const ACTIVE_STATES: readonly ProcedureStepState[] = ["SCHEDULED", "IN PROGRESS"];
const CONTROL_PARAMETERS = new Set(["limit", "offset", "includefield", "fuzzymatching"]);

/** An AE title as PS3.5 Table 6.2-1 allows it: 1 to 16 characters, no backslash or control characters, not all spaces. */
export function checkAeTitle(value: string): string {
  const title = value.replace(/ +$/, "");
  const printable = [...title].every((char) => char >= " " && char <= "~" && char !== "\\");
  if (title.length === 0 || title.length > 16 || !printable || title.trim() === "") {
    throw new UpsError(400, "The AE Title is not valid.", "the AE title must be 1 to 16 characters, without backslashes or control characters");
  }
  return title;
}

/** The filter of a filtered worklist subscription (PS3.18 §11.10.1.2): comma-separated attribute=value pairs. */
export function parseSubscriptionFilter(filter: string): MatchTree {
  const tree = emptyMatchTree();
  const pairs: string[] = [];
  for (const piece of filter.split(",")) {
    // A piece without "=" continues the previous value (a UID or code list given with commas).
    if (!piece.includes("=") && pairs.length > 0) pairs[pairs.length - 1] += `,${piece}`;
    else pairs.push(piece);
  }
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw badRequest(`filter: "${pair}" is not attribute=value`);
    addMatchingKey(tree, pair.slice(0, equals).trim(), pair.slice(equals + 1));
  }
  if (tree.leaves.length === 0 && tree.sequences.size === 0) throw badRequest("filter: at least one attribute=value is required");
  return tree;
}

export class Worklist {
  readonly store: UpsStore;
  /** Told when a workitem may have become claimable (created, or updated while SCHEDULED). */
  private readonly claimableListeners: Array<() => void> = [];
  /** Per workitem, the last of its event reports under way: each report goes out after those of earlier changes. */
  private readonly reporting = new Map<string, Promise<void>>();

  constructor(
    db: Database,
    private readonly channels: UpsEventChannels,
    private readonly settings: WorklistSettings,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.store = new UpsStore(db);
  }

  /** Calls `listener` whenever a workitem may have become claimable (this service's performer looks at once). */
  onClaimable(listener: () => void): void {
    this.claimableListeners.push(listener);
  }

  // -------------------------------------------------------------------------------------------- Create (§11.4)

  async create(dataset: DicomJsonDataset, uid: string | undefined): Promise<WorkitemRecord> {
    const now = this.clock();
    const created = createWorkitem({ dataset, uid, now, defaultWorklistLabel: this.settings.defaultWorklistLabel });
    const at = now.toISOString();
    const record = {
      uid: created.uid,
      state: "SCHEDULED" as const,
      dataset: created.dataset,
      patientId: stringValue(created.dataset, TAG.PatientID) ?? null,
      scheduledStart: instantOfDateTime(stringValue(created.dataset, TAG.ScheduledProcedureStepStartDateTime)) ?? null,
      createdAt: at,
      updatedAt: at,
    };
    if (!(await this.store.insert(record))) throw new UpsError(409, "The Workitem already exists.", `a workitem with UID ${created.uid} exists`);
    // A performer may claim the workitem as soon as it is inserted: its subscribers are subscribed and hear of it
    // as SCHEDULED before they hear of that claim.
    const stored = await this.inOrder(created.uid, async () => {
      // Global subscribers are subscribed to each new workitem, filtered ones when it matches (PS3.4 CC.2.3.3).
      const subscribers = (await this.worklistSubscribers()).filter((s) => !s.suspended && (s.filter === null || matchesDataset(created.dataset, parseSubscriptionFilter(s.filter))));
      await this.store.subscribeAll(created.uid, subscribers, at);
      await this.report(stateReport(created.uid, created.dataset, "SCHEDULED"));
      return (await this.store.get(created.uid))!;
    });
    this.claimableListeners.forEach((listener) => listener());
    return stored;
  }

  // ------------------------------------------------------------------------------------------ Retrieve (§11.5)

  /** The workitem, or 404; a patient/ scope sees only its patient's workitems. */
  async retrieve(uid: string, requester: Requester = { clientId: undefined }): Promise<WorkitemRecord> {
    if (!isValidUid(uid)) throw new UpsError(400, "The Workitem UID is not valid.", "the workitem UID in the path is not a valid UID");
    const record = await this.store.get(uid);
    if (!record || (requester.patientId !== undefined && record.patientId !== requester.patientId)) {
      throw new UpsError(404, "The Workitem was not found.", `no workitem ${uid}`);
    }
    return record;
  }

  /** The dataset Retrieve answers with (no Transaction UID). */
  async retrieveDataset(uid: string, requester?: Requester): Promise<DicomJsonDataset> {
    return publicDataset((await this.retrieve(uid, requester)).dataset);
  }

  // -------------------------------------------------------------------------------------------- Search (§11.9)

  /** QIDO-style matching (PS3.18 §11.9.1.2, §8.3.4) over the workitems, in schedule order, paged by limit/offset. */
  async search(query: ReadonlyArray<readonly [string, string]>, requester: Requester = { clientId: undefined }): Promise<SearchOutcome> {
    const tree = emptyMatchTree();
    const warnings: string[] = [];
    let limit = this.settings.maxResults;
    let offset = 0;
    let states: ProcedureStepState[] | undefined;
    for (const [name, value] of query) {
      if (CONTROL_PARAMETERS.has(name)) {
        if (name === "limit") limit = Math.min(this.settings.maxResults, parseCount(name, value, 1));
        if (name === "offset") offset = parseCount(name, value, 0);
        if (name === "fuzzymatching" && value.toLowerCase() === "true" && !warnings.includes(FUZZY_MATCHING_WARNING)) warnings.push(FUZZY_MATCHING_WARNING);
        continue; // includefield: every attribute of a workitem is returned anyway
      }
      addMatchingKey(tree, name, value);
      if ((name === "ProcedureStepState" || name === TAG.ProcedureStepState) && value.trim() !== "") {
        states = value.split(/[,\\]/).map((s) => s.trim().toUpperCase()) as ProcedureStepState[];
      }
    }
    const candidates = await this.store.list({ ...(states ? { states } : {}), ...(requester.patientId !== undefined ? { patientId: requester.patientId } : {}) });
    const matching = candidates.filter((record) => matchesDataset(record.dataset, tree));
    const page = matching.slice(offset, offset + limit);
    if (offset + page.length < matching.length) warnings.push(MORE_RESULTS_WARNING);
    return { matches: page.map((record) => publicDataset(record.dataset)), warnings };
  }

  // -------------------------------------------------------------------------------------------- Update (§11.6)

  /**
   * `changes` may be computed from the workitem as it is when the update is applied, so that a merge into one of
   * its items (the performer's progress, say) keeps what a concurrent request put there.
   */
  async update(uid: string, changes: WorkitemChanges, transactionUid: string | undefined): Promise<WorkitemRecord> {
    let applied: DicomJsonDataset = {};
    const { before, after } = await this.change(uid, (current) => {
      applied = typeof changes === "function" ? changes(current.dataset) : changes;
      const dataset = updateWorkitem(current, applied, transactionUid, this.clock());
      return {
        dataset,
        patientId: stringValue(dataset, TAG.PatientID) ?? null,
        scheduledStart: instantOfDateTime(stringValue(dataset, TAG.ScheduledProcedureStepStartDateTime)) ?? null,
      };
    });
    if (applied[TAG.ProcedureStepProgressInformationSequence]) await this.notify(progressReport(uid, after.dataset));
    if (stringValue(before.dataset, TAG.InputReadinessState) !== stringValue(after.dataset, TAG.InputReadinessState)) {
      await this.notify(stateReport(uid, after.dataset, after.state));
    }
    if (after.state === "SCHEDULED") this.claimableListeners.forEach((listener) => listener());
    return after;
  }

  // ------------------------------------------------------------------------------------- Change State (§11.7)

  /** Returns the Warning of a request for the state the workitem is already in (a success, PS3.18 Table 11.7.3-2). */
  async changeState(uid: string, requested: string | undefined, transactionUid: string | undefined, performer: string | null = null): Promise<{ record: WorkitemRecord; warning?: string }> {
    let warning: string | undefined;
    const { before, after } = await this.change(uid, (current) => {
      const outcome = changeState(current, requested, transactionUid, this.clock());
      if (outcome.kind === "unchanged") {
        warning = outcome.warning;
        return undefined;
      }
      warning = undefined;
      return {
        state: outcome.state,
        transactionUid: outcome.transactionUid,
        dataset: outcome.dataset,
        performer: outcome.state === "IN PROGRESS" ? performer : null,
      };
    });
    if (before.state !== after.state) await this.notify(stateReport(uid, after.dataset, after.state));
    return warning ? { record: after, warning } : { record: after };
  }

  /** Claims a SCHEDULED workitem for this service's performer: IN PROGRESS under a new Transaction UID. */
  async claim(uid: string, performer: string): Promise<WorkitemRecord | undefined> {
    try {
      return (await this.changeState(uid, "IN PROGRESS", newTransactionUid(), performer)).record;
    } catch (error) {
      if (error instanceof UpsError && error.status === 409) return undefined; // another performer was first
      throw error;
    }
  }

  // ---------------------------------------------------------------------------- Request Cancellation (§11.8)

  /**
   * A SCHEDULED workitem is canceled at once (through IN PROGRESS, PS3.4 CC.2.2.3); an IN PROGRESS one gets a
   * Cancel Requested event for its performer to act on. Returns the Warning of an already canceled workitem.
   */
  async requestCancellation(uid: string, payload: DicomJsonDataset, requestingAe: string): Promise<{ warning?: string }> {
    const details = cancellationDetails(payload);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.retrieve(uid);
      if (current.state === "CANCELED") return { warning: UPS_WARNING.alreadyCanceled };
      if (current.state === "COMPLETED") throw new UpsError(409, UPS_WARNING.cancelAlreadyCompleted);
      if (current.state === "SCHEDULED") {
        const transactionUid = newTransactionUid();
        const claimed = await this.store.update(current, { state: "IN PROGRESS", transactionUid, dataset: withProgress(current.dataset, details) }, this.clock().toISOString());
        if (!claimed) continue;
        await this.notify(stateReport(uid, claimed.dataset, "IN PROGRESS"));
        await this.changeState(uid, "CANCELED", transactionUid);
        return {};
      }
      const marked = await this.store.update(current, { cancelRequestedAt: this.clock().toISOString(), dataset: withProgress(current.dataset, details) }, this.clock().toISOString());
      if (!marked) continue;
      await this.notify(cancelRequestedReport(uid, requestingAe, details));
      return {};
    }
    throw new UpsError(409, UPS_WARNING.inconsistentState, "the workitem kept changing; try again");
  }

  // ------------------------------------------------------------------- Subscribe, Unsubscribe (§11.10-11.12)

  async subscribe(aeTitle: string, target: string, options: { deletionLock: boolean; filter: string | undefined }, requester: Requester): Promise<void> {
    const ae = checkAeTitle(aeTitle);
    await this.checkAeOwner(ae, requester);
    const at = this.clock().toISOString();
    const subscription: Subscription = { aeTitle: ae, target, filter: null, deletionLock: options.deletionLock, suspended: false, clientId: requester.clientId ?? null };
    if (target === GLOBAL_SUBSCRIPTION_UID || target === FILTERED_GLOBAL_SUBSCRIPTION_UID) {
      const filtered = target === FILTERED_GLOBAL_SUBSCRIPTION_UID;
      if (filtered && !options.filter) throw badRequest("a filtered worklist subscription needs the filter query parameter");
      if (!filtered && options.filter) throw badRequest("filter is only for the filtered worklist (1.2.840.10008.5.1.4.34.5.1)");
      const tree = options.filter ? parseSubscriptionFilter(options.filter) : undefined;
      await this.store.subscribe({ ...subscription, filter: options.filter ?? null }, at);
      // Subscribed to every active workitem (that matches), each reported in its current state (PS3.4 CC.2.3.3).
      const active = (await this.store.list({ states: ACTIVE_STATES })).filter((record) => !tree || matchesDataset(record.dataset, tree));
      for (const record of active) {
        await this.store.subscribeAll(record.uid, [subscription], at);
        this.channels.send([ae], stateReport(record.uid, record.dataset, record.state));
      }
      return;
    }
    if (options.filter) throw badRequest("filter is only for the filtered worklist (1.2.840.10008.5.1.4.34.5.1)");
    const record = await this.retrieve(target, requester);
    await this.store.subscribe(subscription, at);
    this.channels.send([ae], stateReport(record.uid, record.dataset, record.state));
  }

  async unsubscribe(aeTitle: string, target: string, requester: Requester): Promise<void> {
    const ae = checkAeTitle(aeTitle);
    await this.checkAeOwner(ae, requester);
    if (target === GLOBAL_SUBSCRIPTION_UID || target === FILTERED_GLOBAL_SUBSCRIPTION_UID) {
      await this.store.unsubscribeEverywhere(ae);
      return;
    }
    await this.retrieve(target, requester);
    if (!(await this.store.unsubscribe(ae, target))) throw new UpsError(404, "The subscription was not found.", `${ae} is not subscribed to workitem ${target}`);
  }

  /** Suspend Global Subscription (§11.12): no new workitems for the AE; its existing subscriptions stay. */
  async suspend(aeTitle: string, target: string, requester: Requester): Promise<void> {
    const ae = checkAeTitle(aeTitle);
    if (target !== GLOBAL_SUBSCRIPTION_UID && target !== FILTERED_GLOBAL_SUBSCRIPTION_UID) {
      throw badRequest("only a worklist subscription (1.2.840.10008.5.1.4.34.5 or .5.1) can be suspended");
    }
    await this.checkAeOwner(ae, requester);
    if (!(await this.store.suspend(ae, target))) throw new UpsError(404, "The subscription was not found.", `${ae} has no worklist subscription to suspend`);
  }

  /**
   * An AE title's subscriptions belong to the client that made them: another client may neither change them nor
   * open the AE's channel, so one system cannot read or end another's notifications.
   */
  async checkAeOwner(aeTitle: string, requester: Requester): Promise<void> {
    const owners = new Set((await this.store.subscriptionsOfAe(aeTitle)).map((s) => s.clientId));
    owners.delete(null);
    if (owners.size > 0 && (requester.clientId === undefined || !owners.has(requester.clientId))) {
      throw new UpsError(403, "The AE Title is subscribed by another client.", `AE title ${aeTitle} belongs to another client`);
    }
  }

  // ----------------------------------------------------------------------------------------------- internals

  private async worklistSubscribers(): Promise<Subscription[]> {
    return [...(await this.store.subscriptionsOf(GLOBAL_SUBSCRIPTION_UID)), ...(await this.store.subscriptionsOf(FILTERED_GLOBAL_SUBSCRIPTION_UID))];
  }

  /** Reports a change of a workitem to its subscribers, after the reports of its earlier changes. */
  private notify(event: UpsEvent): Promise<void> {
    return this.inOrder(event.workitemUid, () => this.report(event));
  }

  private async report(event: UpsEvent): Promise<void> {
    const subscribers = await this.store.subscriptionsOf(event.workitemUid);
    this.channels.send(subscribers.map((s) => s.aeTitle), event);
  }

  /**
   * Runs `step` once the reports under way for the workitem have gone out: reports of two changes made at nearly
   * the same time (a creation and a performer's claim) reach the subscribers in the order of the changes.
   */
  private inOrder<T>(uid: string, step: () => Promise<T>): Promise<T> {
    const result = (this.reporting.get(uid) ?? Promise.resolve()).then(step);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.reporting.set(uid, settled);
    void settled.then(() => {
      if (this.reporting.get(uid) === settled) this.reporting.delete(uid);
    });
    return result;
  }

  /** Reads, computes the change (undefined: nothing to change), applies it if the workitem is as read; retries. */
  private async change(uid: string, compute: (current: WorkitemRecord) => WorkitemChange | undefined): Promise<{ before: WorkitemRecord; after: WorkitemRecord }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.retrieve(uid);
      const change = compute(current);
      if (!change) return { before: current, after: current };
      const after = await this.store.update(current, change, this.clock().toISOString());
      if (after) return { before: current, after };
    }
    throw new UpsError(409, UPS_WARNING.inconsistentState, "the workitem kept changing; try again");
  }
}
