// The outbound DICOMweb client: retrieves a study, series or instance from a configured peer (a PACS) with the
// WADO-RS Retrieve Transaction (PS3.18 §10.4) and stores what comes exactly as a STOW-RS request is stored
// (storeInstances, PS3.18 §10.5): the response body streams into it, through every check, and nothing is committed
// unless the whole multipart body arrived. The UPS-RS performer uses it to fetch a workitem's input.
//
//   2xx whose every instance is stored          the RetrieveResult
//   401                                         once more at once with a new token, then refused
//   no answer, a cut body, timeout, 408, 429, 5xx   retried after a capped exponential backoff (or the Retry-After)
//   404, any other 4xx, 3xx                     refused at once, not retried
//   a malformed or empty body, a 206, instances that fail to store   an error carrying what was stored
//
// A URL is only followed when it lies under a peer's base URL, so our token goes to no other host. Logs carry the
// peer's name, status codes and counts only: URLs hold UIDs.
import { setTimeout as sleep } from "node:timers/promises";
import { openTokenSource, StaticTokenFile, TokenRequestError, type BearerTokenSource } from "../auth/backendServicesClient.js";
import { ConfigError, type Config, type DicomwebPeerConfig } from "../config.js";
import { isValidUid } from "../dicom/uid.js";
import { MalformedMultipartError } from "../http/multipartRelated.js";
import { retryAfterMs } from "../http/retryAfter.js";
import { configuredDicomwebBaseUrl } from "./baseUrl.js";
import { DicomwebError } from "./errors.js";
import { storeInstances, type StowServices } from "./stow.js";
import type { StoreOutcome } from "./storeResponse.js";

/** Instances in any transfer syntax: they are stored as sent (PS3.18 §8.7.3.5.2, transfer-syntax=*). */
export const RETRIEVE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';

/** Retry n waits about min(cap, base × 2^(n−1)); a Retry-After longer than the most we wait ends the retrieve. */
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 15_000;
const MAX_RETRY_AFTER_MS = 60_000;

export interface RetrieveOptions {
  /** Cancels the retrieve (its requests, its waits); the signal's reason is thrown. */
  signal?: AbortSignal;
}

/** What a retrieve stored. */
export interface RetrieveResult {
  peer: string;
  /** The studies of the stored instances, each once. */
  studyInstanceUIDs: string[];
  /** The STOW-RS outcome of the response body; `failed` is empty in a result (failures are a RetrieveError). */
  outcome: StoreOutcome;
  /** HTTP requests made for the instances, retries included (a 401 answered with a new token is not counted). */
  attempts: number;
}

/** Why a retrieve failed; the performer cancels a workitem with it. */
export type RetrieveFailure =
  | "outside-peers" // the URL lies under no configured peer: no request was sent
  | "not-a-retrieve-url" // not a study, series or instance resource (PS3.18 §10.4.1)
  | "no-default-peer" // only a Study Instance UID, and no TRRG_DICOMWEB_DEFAULT_PEER
  | "not-found" // 404
  | "credentials" // 401 after a new token, or no token could be had
  | "refused" // another 4xx
  | "redirected" // 3xx: the peer's base URL is out of date
  | "unavailable" // every attempt failed for a reason that may pass: no answer, timeout, 408, 429, 5xx
  | "bad-response" // not a multipart/related body of application/dicom parts, or cut short
  | "too-large" // over this service's STOW-RS limits
  | "empty" // no instance in the response
  | "incomplete"; // some instances were not stored, or the peer sent only part (206)

export interface RetrieveErrorDetails {
  peer?: string;
  status?: number;
  retryable?: boolean;
  outcome?: StoreOutcome;
  attempts?: number;
  cause?: unknown;
}

/** One error type for every failed retrieve. Its message names the peer but no URL or UID. */
export class RetrieveError extends Error {
  override name = "RetrieveError";
  readonly peer: string | undefined;
  readonly status: number | undefined;
  /** True when trying again later may succeed. */
  readonly retryable: boolean;
  /** What was stored and what failed, when the body was read. */
  readonly outcome: StoreOutcome | undefined;
  readonly attempts: number;

  constructor(
    readonly failure: RetrieveFailure,
    message: string,
    details: RetrieveErrorDetails = {},
  ) {
    super(details.peer ? `DICOMweb peer ${details.peer}: ${message}` : message, details.cause === undefined ? undefined : { cause: details.cause });
    this.peer = details.peer;
    this.status = details.status;
    this.retryable = details.retryable ?? failure === "unavailable";
    this.outcome = details.outcome;
    this.attempts = details.attempts ?? 0;
  }
}

/** Where a retrieve's instances are stored: this service's STOW-RS path and the base URL of its RetrieveURLs. */
export interface LocalStore {
  stow: StowServices;
  dicomwebBaseUrl: string;
}

type ResourceLevel = "study" | "series" | "instance";

/** A WADO-RS instance resource under a peer (PS3.18 §10.4.1.1). */
interface RetrieveTarget {
  url: string;
  level: ResourceLevel;
  studyInstanceUID: string;
}

const RESOURCE_PATHS: Record<number, ResourceLevel> = { 2: "study", 4: "series", 6: "instance" };

/**
 * The path below the base URL of a Study, Series or Instance resource: studies/{uid}[/series/{uid}[/instances/{uid}]].
 * Metadata, frames and rendered resources are not instances and are refused.
 */
function resourceOf(segments: string[]): { level: ResourceLevel; studyInstanceUID: string } | undefined {
  const level = RESOURCE_PATHS[segments.length];
  const names = ["studies", "series", "instances"];
  const shaped = segments.every((segment, i) => (i % 2 === 0 ? segment === names[i / 2] : isValidUid(segment)));
  return level && shaped ? { level, studyInstanceUID: segments[1]! } : undefined;
}

/** Whether `url` is `base` or below it: same origin, and the base path followed by "/" or nothing. */
function liesUnder(url: URL, base: URL): boolean {
  if (url.origin !== base.origin || url.username || url.password) return false;
  const basePath = base.pathname.replace(/\/+$/, "");
  return url.pathname === basePath || url.pathname.startsWith(`${basePath}/`);
}

/**
 * Aborts a request that makes no progress for `ms`: no answer, or no further bytes of its body. Not a fixed
 * AbortSignal.timeout: that would cut off a large study still arriving at a steady pace.
 */
function progressDeadline(ms: number, caller: AbortSignal | undefined) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no progress within ${ms} ms`, "TimeoutError")), ms);
  return {
    signal: caller ? AbortSignal.any([controller.signal, caller]) : controller.signal,
    progressed: () => timer.refresh(),
    done: () => clearTimeout(timer),
  };
}

/** An error of the response body's stream (the connection cut, the deadline passed), told from the store's own. */
class BodyReadError extends Error {
  constructor(cause: unknown) {
    super("the response body could not be read", { cause });
  }
}

async function* bodyChunks(body: ReadableStream<Uint8Array> | null, progressed: () => void): AsyncIterable<Buffer> {
  if (!body) return;
  try {
    for await (const chunk of body) {
      progressed();
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } catch (error) {
    throw new BodyReadError(error);
  }
}

/** A failed attempt: tried again when the error is retryable and attempts are left. */
interface FailedAttempt {
  error: RetrieveError;
  retryAfterMs?: number | undefined;
}

/** Makes the RetrieveError of one attempt. */
type Fail = (failure: RetrieveFailure, message: string, details?: RetrieveErrorDetails) => RetrieveError;

function describeNetworkFailure(error: unknown, timeoutMs: number): string {
  const inBody = error instanceof BodyReadError;
  const e = (inBody ? error.cause : error) as Error | undefined;
  if (e?.name === "TimeoutError") return inBody ? `the response stopped coming for ${timeoutMs} ms` : `no answer within ${timeoutMs} ms`;
  const reason = (e?.cause as Error | undefined)?.message ?? e?.message ?? String(e);
  return inBody ? `the response was cut off: ${reason}` : `no answer: ${reason}`;
}

/** Counts of failure reasons, e.g. "0xC409 ×2, 0xA700": codes only, never UIDs. */
function failureSummary(outcome: StoreOutcome): string {
  const counts = new Map<string, number>();
  for (const failed of outcome.failed) {
    const code = `0x${failed.failureReason.toString(16).toUpperCase().padStart(4, "0")}`;
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts].map(([code, n]) => (n > 1 ? `${code} ×${n}` : code)).join(", ");
}

/** One configured peer: retrieves from it by WADO-RS into the local store. */
export class DicomwebPeer {
  readonly name: string;
  readonly baseUrl: string;
  private readonly base: URL;

  constructor(
    private readonly config: DicomwebPeerConfig,
    private readonly tokens: BearerTokenSource | undefined,
    private readonly store: LocalStore,
  ) {
    this.name = config.name;
    this.baseUrl = config.baseUrl;
    this.base = new URL(config.baseUrl);
  }

  /** Whether a URL lies under this peer's base URL (and may be sent our token). */
  serves(url: URL): boolean {
    return liesUnder(url, this.base);
  }

  /** Retrieves every instance of a study (PS3.18 §10.4.1.1.1, GET {base}/studies/{StudyInstanceUID}). */
  async retrieveStudy(studyInstanceUID: string, options: RetrieveOptions = {}): Promise<RetrieveResult> {
    if (!isValidUid(studyInstanceUID)) {
      throw new RetrieveError("not-a-retrieve-url", "the Study Instance UID is not a valid UID", { peer: this.name });
    }
    return this.retrieve({ url: `${this.baseUrl}/studies/${studyInstanceUID}`, level: "study", studyInstanceUID }, options);
  }

  /**
   * Retrieves the study, series or instance a Retrieve URL (0008,1190) names, e.g. one of a UPS Input Information
   * Sequence's WADO-RS Retrieval Sequence (0040,E023). Refused, with no request sent, unless it lies under this peer.
   */
  async retrieveUrl(url: string, options: RetrieveOptions = {}): Promise<RetrieveResult> {
    return this.retrieve(this.targetOf(url), options);
  }

  private targetOf(text: string): RetrieveTarget {
    const url = URL.canParse(text) ? new URL(text) : undefined;
    if (!url || !this.serves(url)) {
      throw new RetrieveError("outside-peers", "the Retrieve URL does not lie under this peer's base URL; it is not followed", { peer: this.name });
    }
    const below = url.pathname.slice(this.base.pathname.replace(/\/+$/, "").length).split("/").filter(Boolean);
    const resource = resourceOf(below);
    if (!resource || url.search) {
      throw new RetrieveError("not-a-retrieve-url", "the Retrieve URL names no study, series or instance resource (PS3.18 §10.4.1)", { peer: this.name });
    }
    url.hash = "";
    return { url: url.href, ...resource };
  }

  private async retrieve(target: RetrieveTarget, { signal }: RetrieveOptions): Promise<RetrieveResult> {
    const logger = this.store.stow.logger;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const answer = await this.attempt(target, attempt, signal);
      if (!("error" in answer)) {
        logger.info(
          { peer: this.name, level: target.level, attempts: attempt, instances: answer.outcome.stored.length, durationMs: Date.now() - started },
          "WADO-RS retrieve stored",
        );
        return answer;
      }
      const { error, retryAfterMs: retryAfter } = answer;
      const log = { peer: this.name, level: target.level, attempt, status: error.status ?? null, failure: error.failure };
      if (!error.retryable || attempt > this.config.retries || (retryAfter ?? 0) > MAX_RETRY_AFTER_MS) {
        logger.warn(log, "WADO-RS retrieve failed");
        throw error;
      }
      const backoff = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
      // Half of the backoff at random spreads out the retries of workitems that failed together.
      const waitMs = Math.max(retryAfter ?? 0, backoff / 2 + Math.random() * (backoff / 2));
      logger.warn({ ...log, waitMs: Math.round(waitMs) }, "WADO-RS retrieve will be retried");
      await sleep(waitMs, undefined, { signal });
    }
  }

  /** One attempt: the GET (and, after a 401, one more with a new token) and the store of its body. */
  private async attempt(target: RetrieveTarget, attempt: number, signal: AbortSignal | undefined): Promise<RetrieveResult | FailedAttempt> {
    const failed: Fail = (failure, message, details = {}) => new RetrieveError(failure, message, { peer: this.name, attempts: attempt, ...details });
    const token = await this.token(false, signal, failed);
    if ("error" in token) return token;
    let deadline = progressDeadline(this.config.timeoutMs, signal);
    try {
      let response = await this.get(target.url, token.value, deadline.signal);
      if (response.status === 401 && this.tokens) {
        await response.body?.cancel().catch(() => undefined);
        deadline.done();
        const renewed = await this.token(true, signal, failed);
        if ("error" in renewed) return renewed;
        deadline = progressDeadline(this.config.timeoutMs, signal);
        response = await this.get(target.url, renewed.value, deadline.signal);
      }
      if (response.status < 200 || response.status >= 300) {
        await response.body?.cancel().catch(() => undefined);
        return this.refusal(response, target, failed);
      }
      return await this.storeBody(response, target, deadline.progressed, attempt, failed);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return this.readFailure(error, failed);
    } finally {
      deadline.done();
    }
  }

  private get(url: string, token: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: RETRIEVE_ACCEPT };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    // Redirects are not followed: the token must go only to URLs under the configured base.
    return fetch(url, { headers, signal, redirect: "manual" });
  }

  /** The token to send (undefined for auth none), or why there is none; a caller's abort is thrown. */
  private async token(refresh: boolean, signal: AbortSignal | undefined, failed: Fail): Promise<{ value: string | undefined } | FailedAttempt> {
    if (!this.tokens) return { value: undefined };
    try {
      return { value: await this.tokens.accessToken({ refresh, ...(signal ? { signal } : {}) }) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof TokenRequestError)) throw error;
      // An unreachable or failing token endpoint may recover; a refusal, or a token file that cannot be read, will not.
      const passing = !(this.tokens instanceof StaticTokenFile) && (error.status === undefined || error.status >= 500);
      return { error: failed(passing ? "unavailable" : "credentials", `no access token: ${error.message}`, { retryable: passing, cause: error }) };
    }
  }

  private refusal(response: Response, target: RetrieveTarget, failed: Fail): FailedAttempt {
    const { status } = response;
    const retryAfter = retryAfterMs(response.headers.get("retry-after"));
    if (status === 408 || status === 429 || status >= 500) {
      return { error: failed("unavailable", `the peer answered ${status}`, { status }), retryAfterMs: retryAfter };
    }
    if (status === 404) return { error: failed("not-found", `the peer has no such ${target.level} (404)`, { status }) };
    if (status === 401) return { error: failed("credentials", "the peer refused our credentials (401)", { status }) };
    if (status >= 300 && status < 400) {
      return { error: failed("redirected", `the peer redirected (${status}); set its baseUrl to where it redirects`, { status }) };
    }
    // PS3.18 §8.4.3 Warning: 299 {service}: text. It names the problem, so it is kept for the caller (not logged).
    const warning = response.headers.get("warning");
    return { error: failed("refused", `the peer refused the retrieve (${status})${warning ? `: ${warning.slice(0, 200)}` : ""}`, { status }) };
  }

  private async storeBody(
    response: Response,
    target: RetrieveTarget,
    progressed: () => void,
    attempt: number,
    failed: Fail,
  ): Promise<RetrieveResult | FailedAttempt> {
    if (response.status === 204) {
      await response.body?.cancel().catch(() => undefined);
      return { error: failed("empty", "the peer answered 204 without any instance", { status: 204 }) };
    }
    const length = response.headers.get("content-length");
    const { outcome } = await storeInstances(
      {
        contentType: response.headers.get("content-type") ?? undefined,
        // fetch decodes a Content-Encoding, after which the declared length is not the body's.
        contentLength: length !== null && !response.headers.has("content-encoding") ? Number(length) : undefined,
        body: bodyChunks(response.body, progressed),
        // Each instance must belong to the study asked for (0xC409 otherwise).
        studyInstanceUID: target.studyInstanceUID,
        dicomwebBaseUrl: this.store.dicomwebBaseUrl,
      },
      this.store.stow,
    );
    const { status } = response;
    const details = { status, outcome };
    if (outcome.failed.length > 0) {
      const message = `${outcome.failed.length} of ${outcome.failed.length + outcome.stored.length} instances were not stored (${failureSummary(outcome)})`;
      return { error: failed("incomplete", message, details) };
    }
    if (outcome.stored.length === 0) return { error: failed("empty", `the peer answered ${status} without any instance`, details) };
    if (status === 206) {
      // PS3.18 §10.4.3: some of the instances asked for could not be sent.
      return { error: failed("incomplete", "the peer sent only part of the instances (206)", details) };
    }
    const studyInstanceUIDs = [...new Set(outcome.stored.map((stored) => stored.studyInstanceUID))];
    return { peer: this.name, studyInstanceUIDs, outcome, attempts: attempt };
  }

  /** An error while the answer was awaited or its body read and stored. */
  private readFailure(error: unknown, failed: Fail): FailedAttempt {
    const e = error as Error;
    if (error instanceof BodyReadError || e?.name === "TimeoutError" || (e instanceof TypeError && e.message === "fetch failed")) {
      return { error: failed("unavailable", describeNetworkFailure(error, this.config.timeoutMs), { cause: error }) };
    }
    if (error instanceof MalformedMultipartError) return { error: failed("bad-response", `the response is not a whole multipart/related body: ${error.message}`) };
    if (error instanceof DicomwebError) {
      return { error: failed(error.status === 413 ? "too-large" : "bad-response", `the response cannot be stored: ${error.message}`) };
    }
    throw error;
  }
}

/** The configured peers, and the rule that picks one for a Retrieve URL. */
export class DicomwebPeers {
  constructor(
    readonly peers: readonly DicomwebPeer[],
    /** Where a study is retrieved from when only its Study Instance UID is known. */
    readonly defaultPeer: DicomwebPeer | undefined,
  ) {}

  get(name: string): DicomwebPeer | undefined {
    return this.peers.find((peer) => peer.name === name);
  }

  /** The peer a URL lies under (the deepest base, when bases nest), or undefined. */
  peerFor(url: string): DicomwebPeer | undefined {
    if (!URL.canParse(url)) return undefined;
    const parsed = new URL(url);
    const serving = this.peers.filter((peer) => peer.serves(parsed));
    return serving.sort((a, b) => b.baseUrl.length - a.baseUrl.length)[0];
  }

  /** Retrieves a study from the default peer. */
  async retrieveStudy(studyInstanceUID: string, options: RetrieveOptions = {}): Promise<RetrieveResult> {
    if (!this.defaultPeer) {
      throw new RetrieveError("no-default-peer", "only a Study Instance UID is given and TRRG_DICOMWEB_DEFAULT_PEER is not set");
    }
    return this.defaultPeer.retrieveStudy(studyInstanceUID, options);
  }

  /** Retrieves what a Retrieve URL names from the peer it lies under; any other URL is refused, with no request sent. */
  async retrieveUrl(url: string, options: RetrieveOptions = {}): Promise<RetrieveResult> {
    const peer = this.peerFor(url);
    if (!peer) {
      const origin = URL.canParse(url) ? new URL(url).origin : "an unparseable URL";
      throw new RetrieveError("outside-peers", `the Retrieve URL (on ${origin}) lies under no peer of TRRG_DICOMWEB_PEERS_FILE; it is not followed`);
    }
    return peer.retrieveUrl(url, options);
  }
}

/**
 * Opens a client for each peer of TRRG_DICOMWEB_PEERS_FILE, storing into `store` as STOW-RS does. Token and key
 * files are read now, so that a bad one stops the service at start with the peer's name.
 */
export async function openDicomwebPeers(config: Config, store: Pick<StowServices, "index" | "files" | "logger">): Promise<DicomwebPeers> {
  const local: LocalStore = {
    stow: { ...store, settings: { ...config.stow, minFreeBytes: config.storage.minFreeBytes } },
    dicomwebBaseUrl: configuredDicomwebBaseUrl(config),
  };
  const peers = await Promise.all(
    config.dicomwebClient.peers.map(async (peer) => {
      try {
        const tokens = await openTokenSource(peer.auth, peer.baseUrl, peer.timeoutMs, `tokenUrl of peer ${peer.name} in TRRG_DICOMWEB_PEERS_FILE`);
        return new DicomwebPeer(peer, tokens, local);
      } catch (error) {
        throw new ConfigError([`TRRG_DICOMWEB_PEERS_FILE: peer ${peer.name}: ${(error as Error).message}`]);
      }
    }),
  );
  const defaultName = config.dicomwebClient.defaultPeer;
  return new DicomwebPeers(peers, defaultName === undefined ? undefined : peers.find((peer) => peer.name === defaultName));
}
