// Delivers the outbox (deliveryOutbox.ts) to the target FHIR server: claims a due row, POSTs its transaction
// Bundle to the target's base URL (R4 http.html#transaction) with a bearer token, and records what the target
// said. Every entry is a conditional create (transactionBundle.ts), so posting again after a lost answer creates
// nothing twice; that is what lets everything that is not a refusal be retried, forever:
//
//   2xx with a transaction-response whose every entry is 2xx   delivered
//   401                                                        once more at once with a new token, then retried
//   408, 429, 5xx, 3xx, no answer, timeout, token refused      retried after the backoff (or the Retry-After)
//   any other 4xx (or a 2xx answer that refuses entries)       rejected, with the target's OperationOutcome
//
// One AuditEvent per attempt (DESIGN §6). Logs carry ids, status codes and counts only: OperationOutcome texts and
// bundles can hold patient data, so they go to the outbox row and the audit trail.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Bundle, BundleEntry, OperationOutcome, OperationOutcomeIssue } from "@medplum/fhirtypes";
import { AUDIT_OBSERVER, deliveryAttemptEvent } from "../audit/auditEvent.js";
import type { BearerTokenSource } from "../auth/backendServicesClient.js";
import { retryAfterMs } from "../http/retryAfter.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { findStudyPatient } from "../store/instanceIndex.js";
import type { ClaimedDelivery, Delivery, DeliveryOutbox, DeliveryResponse } from "./deliveryOutbox.js";
import { PollPause } from "../jobs/pollPause.js";

/** The target FHIR server, as delivery talks to it. */
export interface FhirTarget {
  /** FHIR base URL, no trailing slash. */
  baseUrl: string;
  /** Undefined: no Authorization header (TRRG_FHIR_TARGET_AUTH=none). */
  tokens: BearerTokenSource | undefined;
  /** Longest wait for one request. */
  timeoutMs: number;
}

/** Why an attempt will be retried, for logs (the full reason, which may quote the target, goes to the row). */
export type RetryReason = "unreachable" | "timeout" | "server-error" | "throttled" | "unauthorized" | "token" | "redirected" | "bad-response" | "interrupted";

export type AttemptResult =
  | { kind: "delivered"; status: number; response: DeliveryResponse }
  | { kind: "rejected"; status: number; error: string; outcome: OperationOutcome }
  | { kind: "retry"; reason: RetryReason; status: number | null; error: string; retryAfterMs?: number };

export interface DeliveryAttempt {
  claimed: Delivery;
  started: Date;
  finished: Date;
  result: AttemptResult;
  /** The row after the outcome was recorded; undefined when the lease was lost meanwhile (the outcome was dropped). */
  recorded: Delivery | undefined;
}

const FHIR_JSON = "application/fhir+json";

/** The first three digits of a Bundle.entry.response.status ("201 Created" → 201). */
function statusCode(status: string | undefined): number | undefined {
  const match = /^\s*(\d{3})\b/.exec(status ?? "");
  return match ? Number(match[1]) : undefined;
}

function isOperationOutcome(value: unknown): value is OperationOutcome {
  return typeof value === "object" && value !== null && (value as { resourceType?: unknown }).resourceType === "OperationOutcome";
}

/** An OperationOutcome for an answer that brought none. */
function outcomeOf(status: number, body: unknown, text: string): OperationOutcome {
  if (isOperationOutcome(body)) return body;
  return {
    resourceType: "OperationOutcome",
    issue: [{ severity: "error", code: "processing", diagnostics: `HTTP ${status} without an OperationOutcome${text ? `: ${text.slice(0, 500)}` : ""}` }],
  };
}

/** What may be logged of an OperationOutcome: severities, codes and element paths, never the texts. */
export function loggableIssues(outcome: OperationOutcome): Pick<OperationOutcomeIssue, "severity" | "code" | "expression">[] {
  return (outcome.issue ?? []).slice(0, 10).map(({ severity, code, expression }) => ({ severity, code, ...(expression ? { expression } : {}) }));
}

/** Classifies a 2xx answer: a transaction-response with as many entries as were sent, each 2xx. */
function classifyTransactionResponse(status: number, body: unknown, sent: Bundle): AttemptResult {
  const response = body as Bundle | undefined;
  const sentEntries = sent.entry ?? [];
  if (response?.resourceType !== "Bundle" || response.type !== "transaction-response" || (response.entry?.length ?? 0) !== sentEntries.length) {
    return { kind: "retry", reason: "bad-response", status, error: `the target answered ${status} without a transaction-response Bundle of ${sentEntries.length} entries` };
  }
  const entries = response.entry!.map((entry: BundleEntry, i) => ({
    resourceType: sentEntries[i]?.request?.url ?? "unknown",
    status: entry.response?.status ?? "",
    ...(entry.response?.location ? { location: entry.response.location } : {}),
  }));
  const refused = response.entry!.map((entry, i) => ({ entry, code: statusCode(entry.response?.status), type: entries[i]!.resourceType })).filter(({ code }) => code === undefined || code < 200 || code >= 300);
  if (refused.length === 0) {
    const reportLocation = entries.find((e) => e.resourceType === "DiagnosticReport")?.location;
    return { kind: "delivered", status, response: { entries, ...(reportLocation ? { reportLocation } : {}) } };
  }
  // A server that ran the transaction as a batch answers 200 and refuses entries one by one (R4 forbids that for
  // a transaction). An entry refused by a 5xx may pass next time; a 4xx will not.
  const summary = refused.map(({ type, code }) => `${type} ${code ?? "without a status"}`).join(", ");
  if (refused.some(({ code }) => code === undefined || code >= 500)) {
    return { kind: "retry", reason: "server-error", status, error: `the target answered ${status} but failed entries: ${summary}` };
  }
  const issues = refused.flatMap(({ entry }) => (isOperationOutcome(entry.response?.outcome) ? (entry.response.outcome.issue ?? []) : []));
  return {
    kind: "rejected",
    status,
    error: `the target answered ${status} but refused entries: ${summary}`,
    outcome: { resourceType: "OperationOutcome", issue: issues.length > 0 ? issues : [{ severity: "error", code: "processing", diagnostics: `refused entries: ${summary}` }] },
  };
}

/** Classifies one answer of the target to a transaction POST. */
export function classifyAnswer(status: number, headers: Headers, text: string, sent: Bundle): AttemptResult {
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) return classifyTransactionResponse(status, body, sent);
  const wait = retryAfterMs(headers.get("retry-after"));
  const withWait = wait === undefined ? {} : { retryAfterMs: wait };
  if (status === 401) {
    // After a new token was tried (postTransaction), or with no credentials configured: a setup problem, not the bundle's.
    return { kind: "retry", reason: "unauthorized", status, error: "the target refused our credentials (401)" };
  }
  if (status === 408 || status === 429) {
    return { kind: "retry", reason: "throttled", status, error: `the target answered ${status}${wait === undefined ? "" : ` (Retry-After ${Math.round(wait / 1000)} s)`}`, ...withWait };
  }
  if (status >= 300 && status < 400) {
    return { kind: "retry", reason: "redirected", status, error: `the target redirected (${status}) to ${headers.get("location") ?? "nowhere"}: set TRRG_FHIR_TARGET_URL to the final base URL` };
  }
  if (status >= 400 && status < 500) {
    const outcome = outcomeOf(status, body, text);
    const first = outcome.issue?.[0];
    const said = first?.diagnostics ?? first?.details?.text ?? first?.code ?? "no reason given";
    return { kind: "rejected", status, error: `the target refused the bundle (${status}): ${said}`, outcome };
  }
  return { kind: "retry", reason: "server-error", status, error: `the target answered ${status}`, ...withWait };
}

function networkFailure(error: unknown, target: FhirTarget, stopping: boolean): AttemptResult {
  const e = error as Error;
  if (stopping) return { kind: "retry", reason: "interrupted", status: null, error: "interrupted: the service stopped" };
  if (e.name === "TimeoutError") return { kind: "retry", reason: "timeout", status: null, error: `no answer from the target within ${target.timeoutMs} ms` };
  const cause = e.cause as (Error & { code?: string }) | undefined;
  return { kind: "retry", reason: "unreachable", status: null, error: `cannot reach the target: ${cause?.code ?? cause?.message ?? e.message}` };
}

/**
 * POSTs the bundle and classifies the answer. A 401 is answered once, at once, with a new token: the cached one
 * may have been revoked or expired early.
 */
export async function postTransaction(target: FhirTarget, bundle: Bundle, signal: AbortSignal): Promise<AttemptResult> {
  const body = JSON.stringify(bundle);
  for (let refresh = false; ; refresh = true) {
    let authorization: string | undefined;
    try {
      authorization = target.tokens ? `Bearer ${await target.tokens.accessToken({ refresh, signal })}` : undefined;
    } catch (error) {
      if (signal.aborted) return networkFailure(error, target, true);
      return { kind: "retry", reason: "token", status: null, error: `no access token: ${(error as Error).message}` };
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(target.baseUrl, {
        method: "POST",
        headers: { "content-type": FHIR_JSON, accept: FHIR_JSON, ...(authorization ? { authorization } : {}) },
        body,
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(target.timeoutMs), signal]),
      });
      text = await response.text();
    } catch (error) {
      return networkFailure(error, target, signal.aborted);
    }
    if (response.status === 401 && !refresh && target.tokens) continue;
    return classifyAnswer(response.status, response.headers, text, bundle);
  }
}

export interface DeliveryWorkerOptions {
  logger: Logger;
  /** How often the outbox is looked at when nothing is due (default a second). */
  pollIntervalMs?: number;
  /** This worker's lease owner id (default host/pid/random). */
  owner?: string;
  /** Called once per attempt (the audit record); its errors are logged, never thrown. */
  onAttempt?: (attempt: DeliveryAttempt) => Promise<void>;
}

function errorKind(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Delivers one row at a time, oldest due first, until stopped. Several workers (processes) may share one outbox. */
export class DeliveryWorker {
  readonly owner: string;
  private readonly pollIntervalMs: number;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly pause = new PollPause();
  private readonly shutdown = new AbortController();

  constructor(
    private readonly outbox: DeliveryOutbox,
    private readonly target: FhirTarget,
    private readonly options: DeliveryWorkerOptions,
  ) {
    this.owner = options.owner ?? `${hostname()}/${process.pid}/${randomUUID()}`;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  start(): void {
    this.loop ??= this.runLoop();
  }

  /** Looks at the outbox now instead of at the next poll (e.g. after an enqueue). */
  poke(): void {
    this.pause.end();
  }

  /**
   * Stops claiming and waits up to `timeoutMs` for the attempt in flight; then aborts it. An aborted attempt is
   * recorded as failed, to be retried (by another worker, or at the next start): the target may have received it,
   * and conditional create makes posting it again safe.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    this.pause.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.loop, timedOut]);
    clearTimeout(timer);
    this.shutdown.abort(new Error("the service is stopping"));
    await this.loop;
  }

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        const claimed = await this.outbox.claim(this.owner);
        if (claimed) {
          await this.attempt(claimed);
          continue;
        }
      } catch (error) {
        this.options.logger.error({ error: errorKind(error) }, "FHIR delivery outbox poll failed");
      }
      if (this.stopping) break;
      await this.pause.wait(this.pollIntervalMs);
    }
  }

  private async attempt({ delivery, bundle, lease }: ClaimedDelivery): Promise<void> {
    const { logger } = this.options;
    const started = new Date();
    const result = await postTransaction(this.target, bundle, this.shutdown.signal);
    const recorded =
      result.kind === "delivered"
        ? await this.outbox.delivered(lease, result.status, result.response)
        : result.kind === "rejected"
          ? await this.outbox.rejected(lease, result.status, result.error, result.outcome)
          : await this.outbox.retry(lease, result.status, result.error, result.retryAfterMs);
    const fields = { deliveryId: delivery.id, reportId: delivery.reportId, attempt: lease.attempt, status: result.status };
    if (!recorded) logger.warn(fields, "FHIR delivery attempt finished after its lease was lost; its outcome is dropped");
    else if (result.kind === "delivered") logger.info({ ...fields, entries: result.response.entries.length, ms: Date.now() - started.getTime() }, "FHIR delivery delivered");
    else if (result.kind === "rejected") logger.error({ ...fields, issues: loggableIssues(result.outcome) }, "FHIR delivery rejected by the target; the OperationOutcome is in the outbox");
    else logger.warn({ ...fields, reason: result.reason, nextAttemptAt: recorded.nextAttemptAt }, "FHIR delivery failed; it will be retried");
    // Audited even when the lease was lost: the attempt reached (or tried to reach) the target all the same.
    await this.options.onAttempt?.({ claimed: delivery, started, finished: new Date(), result, recorded }).catch((error: unknown) =>
      logger.error({ deliveryId: delivery.id, error: errorKind(error) }, "FHIR delivery attempt could not be audited"),
    );
  }
}

/** The AuditEvent of one attempt, appended to the trail and forwarded like request events. */
export async function auditDeliveryAttempt(services: Services, target: FhirTarget, attempt: DeliveryAttempt): Promise<void> {
  const { claimed, result } = attempt;
  const patient = claimed.studyInstanceUID === null ? undefined : await findStudyPatient(services.db, claimed.studyInstanceUID);
  const outcome = result.kind === "delivered" ? "0" : result.kind === "retry" ? "4" : "8";
  const event = deliveryAttemptEvent(
    {
      deliveryId: claimed.id,
      reportId: claimed.reportId,
      reportVersion: claimed.reportVersion,
      ...(claimed.studyInstanceUID !== null ? { studyInstanceUID: claimed.studyInstanceUID } : {}),
      ...(patient ? { patient: { patientId: patient.patientId, ...(patient.issuer !== undefined ? { issuer: patient.issuer } : {}) } } : {}),
      targetUrl: target.baseUrl,
      attempt: claimed.attempts,
      ...(result.status !== null ? { status: result.status } : {}),
      ...(result.kind === "delivered" && result.response.reportLocation ? { location: result.response.reportLocation } : {}),
      started: attempt.started,
      finished: attempt.finished,
      outcome,
      ...(result.kind === "delivered" ? {} : { outcomeDescription: `${result.kind === "retry" ? "failed, will be retried" : "rejected"}: ${result.error}` }),
    },
    { observer: AUDIT_OBSERVER },
  );
  await services.audit.append(event);
  services.auditForwarder?.send(event);
}

/** Starts a worker over the service's outbox and target; each attempt is audited. Undefined without a target. */
export function startDeliveryWorker(services: Services, options: Partial<DeliveryWorkerOptions> = {}): DeliveryWorker | undefined {
  const target = services.deliveryTarget;
  if (!target) return undefined;
  const { protocol, hostname: host } = new URL(target.baseUrl);
  if (target.tokens && protocol === "http:" && !["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    services.logger.warn({ target: target.baseUrl }, "the FHIR delivery target is plain http: its bearer tokens travel unencrypted");
  }
  const worker = new DeliveryWorker(services.deliveries, target, {
    logger: services.logger,
    onAttempt: (attempt) => auditDeliveryAttempt(services, target, attempt),
    ...options,
  });
  worker.start();
  return worker;
}
