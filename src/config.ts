// One typed, validated configuration from TRRG_* environment variables, optionally layered over a JSON file
// named by TRRG_CONFIG_FILE (environment wins). Every bad value is reported by its variable name.
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { PatientLinkage } from "./fhir/patientReference.js";
import { httpOrigin } from "./http/listen.js";
import { BUNDLED_MODEL_DIR } from "./inference/modelLocation.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  http: {
    host: string;
    port: number;
    /** Base URL used in RetrieveURL values; when absent it is derived from each request's Host. */
    publicUrl: string | undefined;
  };
  dataDir: string;
  /** The store: PostgreSQL when postgresUrl is set (scale-out), else the embedded SQLite file. */
  database: { sqlitePath: string; postgresUrl?: string | undefined };
  storage: {
    instancesDir: string;
    /** STOW-RS refuses new instances with 0xA700 when the volume has less free space than this. */
    minFreeBytes: number;
  };
  stow: {
    maxPartBytes: number;
    maxRequestBytes: number;
    /** SOP Class UIDs accepted by STOW-RS; "any" accepts every storage SOP class. */
    acceptedSopClasses: ReadonlySet<string> | "any";
  };
  qido: { defaultLimit: number; maxLimit: number };
  log: { level: LogLevel };
  auth: AuthConfig;
  /** Origins allowed to call the API from a browser (CORS); empty keeps CORS closed. */
  corsOrigins: readonly string[];
  /** Requests per minute allowed to one client (by token client id, else by address); 0 turns the limit off. */
  rateLimitPerMinute: number;
  /** Where a copy of every AuditEvent goes as RFC 5424 syslog (udp:// or tcp://), if anywhere. */
  auditSyslog: URL | undefined;
  /** GET /metrics: open when bearerToken is undefined, else a scrape must send it as its bearer token. */
  metrics: { bearerToken: string | undefined };
  jobs: JobsConfig;
  model: ModelConfig;
  fhir: FhirConfig;
  dicomwebClient: DicomwebClientConfig;
  ups: UpsConfig;
}

/** The FHIR resources the service publishes (src/fhir/, docs/fhir.md). */
export interface FhirConfig {
  patientLinkage: PatientLinkage;
  /** DiagnosticReport.performer: the organisation that runs the service. */
  organizationName: string;
  /** Delivery of each report to the EHR's FHIR server (src/fhir/deliveryWorker.ts); absent: no delivery. */
  delivery?: FhirDeliveryConfig | undefined;
}

/**
 * How we authenticate to a server we call: the FHIR delivery target, a DICOMweb peer. Secrets stay in their
 * files: only paths are held here.
 */
export type OutboundAuth =
  | { kind: "none" }
  | { kind: "token"; tokenFile: string }
  | {
      /** SMART Backend Services: client_credentials with a private_key_jwt assertion (RS384 or ES384). */
      kind: "smart-backend";
      clientId: string;
      /** A private JWK, or a JWKS holding one, with its kid. */
      keyFile: string;
      /** The token endpoint; when absent, token_endpoint of {server base URL}/.well-known/smart-configuration. */
      tokenUrl: string | undefined;
      scope: string;
    };

/** Delivery to the target FHIR server. Durations in milliseconds. */
export interface FhirDeliveryConfig {
  /** The target's FHIR base URL (no trailing slash): transaction Bundles are POSTed to it. */
  targetUrl: string;
  auth: OutboundAuth;
  /** Retry n waits min(cap, base × 2^(n−1)); deliveries are retried until they succeed or are rejected. */
  retryBaseMs: number;
  retryCapMs: number;
  /** Longest wait for one HTTP request (token or transaction). */
  timeoutMs: number;
}

/** SMART v2 scopes for conditional create of the four resource types a report is delivered as. */
export const DEFAULT_TARGET_SCOPE = "system/DiagnosticReport.cr system/Observation.cr system/Device.cr system/Provenance.cr";

/** The DICOMweb servers (PACS) studies may be retrieved from by WADO-RS (src/dicomweb/dicomwebClient.ts). */
export interface DicomwebClientConfig {
  peers: readonly DicomwebPeerConfig[];
  /** The peer a study is retrieved from when only its Study Instance UID is known; must be one of `peers`. */
  defaultPeer: string | undefined;
}

/** One entry of TRRG_DICOMWEB_PEERS_FILE. Durations in milliseconds. */
export interface DicomwebPeerConfig {
  /** Names the peer in logs and errors (never a URL: paths carry UIDs). */
  name: string;
  /** DICOMweb base URL, no trailing slash: only URLs under it are followed, and only they are sent our token. */
  baseUrl: string;
  auth: OutboundAuth;
  /** Longest wait for an answer, or for the next bytes of one. */
  timeoutMs: number;
  /** Further attempts after a network error, a timeout, 408, 429 or 5xx. */
  retries: number;
}

/** SMART v2 scope for reading a peer's studies (what our own WADO-RS asks for, DESIGN §6). */
export const DEFAULT_PEER_SCOPE = "system/ImagingStudy.rs";

/** The UPS-RS worklist (src/dicomweb/worklist.ts) and this service as its performer (src/dicomweb/upsPerformer.ts). */
export interface UpsConfig {
  /** Worklist Label (0074,1202) of workitems created without one. */
  worklistLabel: string;
  /** Whether this process claims and performs workitems (it also needs a job handler, i.e. `serve`). */
  performer: boolean;
  /** The performer's AE title, marking the workitems it holds. */
  aeTitle: string;
  /** Scheduled Workitem Codes (0040,4018) the performer takes, as code value and coding scheme designator. */
  workitemCodes: ReadonlyArray<{ value: string; scheme: string }>;
  pollIntervalMs: number;
  /** Workitems performed at once. */
  concurrency: number;
}

/** The model set the pipeline runs (src/inference/) and where. */
export interface ModelConfig {
  /** A model set folder (DESIGN §5); the bundled trrg-mini by default. */
  directory: string;
  /** ONNX Runtime execution providers in order of preference; "cuda" falls back to the CPU with a warning. */
  executionProviders: ("cuda" | "cpu")[];
  /** Threads inside one ONNX operator; 0 lets ONNX Runtime choose. */
  intraOpThreads: number;
  /** Worker threads that decode and preprocess images; 0 does it on the main thread. */
  imageWorkers: number;
  /** The most concurrent reports whose greedy generation runs as one batch; 1 generates each alone. */
  generationBatch: number;
}

/** The embedded job queue (src/jobs/). Durations in milliseconds. */
export interface JobsConfig {
  /** A study is reported once no instance of it has arrived for this long (the study-stable trigger). */
  quietPeriodMs: number;
  /** Jobs run at once by one process. */
  concurrency: number;
  /** Runs of one job before it ends in state failed. */
  maxAttempts: number;
  /** Retry n waits min(cap, base × 2^(n−1)). */
  retryBaseMs: number;
  retryCapMs: number;
  /** How long a claimed job stays leased without a heartbeat; a dead worker's job is taken back after it. */
  leaseMs: number;
  /**
   * Redis (redis://…) for BullMQ dispatch: `serve` replicas queue, `trrg-gateway worker` processes run the jobs.
   * Without it the embedded queue is polled by whoever runs jobs. Either way the store holds the jobs' state.
   */
  redisUrl?: string;
  /** The BullMQ key prefix: deployments that share one Redis each take their own. */
  redisPrefix: string;
  /** `trrg-gateway worker`: the port of its /healthz, /readyz and /metrics. */
  workerPort: number;
}

export interface AuthConfig {
  /**
   * "embedded": this service runs its own OAuth 2.0 authorization server (oidc-provider) at /oauth2 and trusts
   * it; "external": tokens come from the hospital's issuer.
   */
  mode: "embedded" | "external";
  issuer: string;
  /** JWKS of the issuer; when absent, taken from the issuer's discovery document. */
  jwksUrl: string | undefined;
  /** The `aud` every access token must carry: this service's base URL by default. */
  audience: string;
  clockSkewSeconds: number;
  /** Embedded server: registered clients (JSON) and the persisted signing keys (private JWKS). */
  clientsFile: string;
  keysFile: string;
  /** Embedded server: access token lifetime; SMART Backend Services caps it at 300 s. */
  accessTokenTtlSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const BYTE_UNITS: Record<string, number> = {
  "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** Parses "1048576", "512MB" or "2GiB" into bytes. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(text);
  if (!match) return undefined;
  const factor = BYTE_UNITS[(match[2] ?? "").toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.floor(Number(match[1]) * factor);
}

const byteSize = z.string().transform((text, ctx) => {
  const bytes = parseByteSize(text);
  if (bytes === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a byte size such as 1048576, 512MB or 2GiB, got "${text}"` });
    return z.NEVER;
  }
  return bytes;
});

const integer = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    const value = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || value < min || value > max) {
      ctx.addIssue({ code: "custom", message: `expected an integer from ${min} to ${max}, got "${text}"` });
      return z.NEVER;
    }
    return value;
  });

const DURATION_UNITS: Record<string, number> = { "": 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "30" (seconds, as the other second-valued settings), "500ms", "30s", "10m" or "1h" into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) return undefined;
  const factor = DURATION_UNITS[(match[2] ?? "").toLowerCase()];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

const duration = (minMs: number, maxMs: number) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `expected a duration such as 30 (seconds), 500ms, 30s or 10m, from ${minMs} ms to ${maxMs} ms, got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });

const httpUrl = z.string().transform((text, ctx) => {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)");
    return url.href.replace(/\/+$/, "");
  } catch {
    ctx.addIssue({ code: "custom", message: `expected an http(s) URL, got "${text}"` });
    return z.NEVER;
  }
});

const uidList = z.string().transform((text, ctx) => {
  if (text.trim() === "*" || text.trim() === "any") return "any" as const;
  const uids = text.split(",").map((uid) => uid.trim()).filter(Boolean);
  const bad = uids.filter((uid) => !/^[0-9]+(\.[0-9]+)*$/.test(uid));
  if (bad.length > 0) {
    ctx.addIssue({ code: "custom", message: `expected "*" or comma-separated UIDs, got "${bad.join(", ")}"` });
    return z.NEVER;
  }
  return new Set(uids);
});

const environmentSchema = z.object({
  TRRG_HOST: z.string().min(1).default("127.0.0.1"),
  TRRG_PORT: integer(0, 65535).default(8080),
  TRRG_PUBLIC_URL: httpUrl.optional(),
  TRRG_DATA_DIR: z.string().min(1).default("data"),
  TRRG_SQLITE_PATH: z.string().min(1).optional(),
  TRRG_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, "expected a PostgreSQL connection URL, postgres://user:password@host:port/database")
    .optional(),
  TRRG_STORAGE_DIR: z.string().min(1).optional(),
  TRRG_STORAGE_MIN_FREE: byteSize.default(256 * 2 ** 20),
  TRRG_STOW_MAX_PART_SIZE: byteSize.default(2 * 2 ** 30),
  TRRG_STOW_MAX_REQUEST_SIZE: byteSize.default(4 * 2 ** 30),
  TRRG_STOW_SOP_CLASSES: uidList.default("any"),
  TRRG_QIDO_DEFAULT_LIMIT: integer(1, 100_000).default(100),
  TRRG_QIDO_MAX_LIMIT: integer(1, 100_000).default(1000),
  TRRG_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TRRG_AUTH_MODE: z.enum(["embedded", "external"]).default("embedded"),
  TRRG_AUTH_ISSUER: httpUrl.optional(),
  TRRG_AUTH_JWKS_URL: httpUrl.optional(),
  TRRG_AUTH_AUDIENCE: z.string().min(1).optional(),
  TRRG_AUTH_CLOCK_SKEW: integer(0, 300).default(30),
  TRRG_AUTH_CLIENTS_FILE: z.string().min(1).optional(),
  TRRG_AUTH_KEYS_FILE: z.string().min(1).optional(),
  TRRG_AUTH_TOKEN_TTL: integer(30, 300).default(300),
  TRRG_CORS_ORIGINS: z.string().default(""),
  TRRG_RATE_LIMIT: integer(0, 1_000_000).default(1200),
  TRRG_AUDIT_SYSLOG: z.string().transform((text, ctx) => {
    const url = URL.canParse(text) ? new URL(text) : undefined;
    if (!url || (url.protocol !== "udp:" && url.protocol !== "tcp:") || !url.hostname) {
      ctx.addIssue({ code: "custom", message: `expected udp://host:port or tcp://host:port, got "${text}"` });
      return z.NEVER;
    }
    return url;
  }).optional(),
  TRRG_METRICS_BEARER: z
    .string()
    .regex(/^[\w.~+/-]{16,}=*$/, "expected a bearer token of at least 16 characters from A-Z a-z 0-9 - . _ ~ + / (RFC 6750)")
    .optional(),
  TRRG_JOB_QUIET_PERIOD: duration(0, 24 * 3_600_000).default(30_000),
  TRRG_UPS_WORKLIST_LABEL: z.string().trim().min(1).max(64).default("TRRG CHEST X-RAY REPORTS"),
  TRRG_UPS_PERFORMER: z.enum(["on", "off"]).default("on"),
  TRRG_UPS_AE_TITLE: z.string().regex(/^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$/, "expected an AE title: 1 to 16 characters, no backslash").default("TRRG_GATEWAY"),
  TRRG_UPS_WORKITEM_CODES: z
    .string()
    .default("CXR-REPORT^99TRRG")
    .transform((text, ctx) => {
      const codes = text.split(",").map((entry) => entry.trim()).filter(Boolean).map((entry) => entry.split("^"));
      if (codes.length === 0 || codes.some((code) => code.length !== 2 || !code[0] || !code[1])) {
        ctx.addIssue({ code: "custom", message: "expected CODE^SCHEME entries separated by commas, e.g. 110005^DCM" });
        return z.NEVER;
      }
      return codes.map(([value, scheme]) => ({ value: value!.trim(), scheme: scheme!.trim() }));
    }),
  TRRG_UPS_POLL_INTERVAL: duration(50, 3_600_000).default(2_000),
  TRRG_UPS_CONCURRENCY: integer(1, 64).default(2),
  TRRG_JOB_CONCURRENCY: integer(1, 64).default(1),
  TRRG_JOB_MAX_ATTEMPTS: integer(1, 100).default(3),
  TRRG_JOB_RETRY_BASE: duration(0, 24 * 3_600_000).default(10_000),
  TRRG_JOB_RETRY_CAP: duration(0, 7 * 24 * 3_600_000).default(600_000),
  TRRG_JOB_LEASE: duration(100, 24 * 3_600_000).default(60_000),
  TRRG_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, "expected a Redis URL, redis://[:password@]host:port[/db] (rediss:// for TLS)")
    .optional(),
  TRRG_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "expected 1 to 64 letters, digits, '_', '.' or '-'")
    .default("bull"),
  TRRG_WORKER_PORT: integer(0, 65535).default(9464),
  TRRG_MODEL_DIR: z.string().min(1).optional(),
  TRRG_EXECUTION_PROVIDERS: z
    .string()
    .default("cpu")
    .transform((text, ctx) => {
      const providers = text.split(",").map((p) => p.trim().toLowerCase()).filter(Boolean);
      const unknown = providers.filter((p) => p !== "cuda" && p !== "cpu");
      if (providers.length === 0 || unknown.length > 0) {
        ctx.addIssue({ code: "custom", message: `expected a comma-separated list of cuda and cpu, got "${text}"` });
        return z.NEVER;
      }
      return providers as ("cuda" | "cpu")[];
    }),
  TRRG_INTRA_OP_THREADS: integer(0, 256).default(0),
  TRRG_IMAGE_WORKERS: integer(0, 64).default(0),
  TRRG_GENERATION_BATCH: integer(1, 64).default(4),
  TRRG_FHIR_PATIENT_REFERENCE: z.enum(["identifier", "literal"]).default("identifier"),
  TRRG_FHIR_PATIENT_ID_SYSTEMS: z
    .string()
    .default("{}")
    .transform((text, ctx) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const valid = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === "string" && /^[a-z][a-z0-9+.-]*:/i.test(v));
      if (!valid) {
        ctx.addIssue({ code: "custom", message: 'expected a JSON object from Issuer of Patient ID to a URI, e.g. {"HOSP": "urn:oid:1.2.3"}' });
        return z.NEVER;
      }
      return parsed as Record<string, string>;
    }),
  TRRG_FHIR_ORGANIZATION: z.string().min(1).max(200).default("trrg-gateway"),
  TRRG_FHIR_TARGET_URL: httpUrl.optional(),
  TRRG_FHIR_TARGET_AUTH: z.enum(["none", "token", "smart-backend"]).optional(),
  TRRG_FHIR_TARGET_TOKEN_FILE: z.string().min(1).optional(),
  TRRG_FHIR_TARGET_CLIENT_ID: z.string().regex(/^[\x21-\x7e]{1,255}$/, "expected 1 to 255 printable ASCII characters without spaces").optional(),
  TRRG_FHIR_TARGET_TOKEN_URL: httpUrl.optional(),
  TRRG_FHIR_TARGET_KEY_FILE: z.string().min(1).optional(),
  TRRG_FHIR_TARGET_SCOPE: z.string().trim().min(1).optional(),
  TRRG_FHIR_DELIVERY_RETRY_BASE: duration(0, 24 * 3_600_000).default(10_000),
  TRRG_FHIR_DELIVERY_RETRY_CAP: duration(0, 7 * 24 * 3_600_000).default(600_000),
  TRRG_FHIR_DELIVERY_TIMEOUT: duration(100, 600_000).default(30_000),
  TRRG_DICOMWEB_PEERS_FILE: z.string().min(1).optional(),
  TRRG_DICOMWEB_DEFAULT_PEER: z.string().min(1).optional(),
});

export type Environment = Record<string, string | undefined>;

type ParsedEnvironment = z.infer<typeof environmentSchema>;

/** The settings each target auth kind needs, and the ones it must not be given (a sign of a mistaken setup). */
const TARGET_AUTH_SETTINGS = {
  none: { needs: [], takes: [] },
  token: { needs: ["TRRG_FHIR_TARGET_TOKEN_FILE"], takes: ["TRRG_FHIR_TARGET_TOKEN_FILE"] },
  "smart-backend": {
    needs: ["TRRG_FHIR_TARGET_CLIENT_ID", "TRRG_FHIR_TARGET_KEY_FILE"],
    takes: ["TRRG_FHIR_TARGET_CLIENT_ID", "TRRG_FHIR_TARGET_KEY_FILE", "TRRG_FHIR_TARGET_TOKEN_URL", "TRRG_FHIR_TARGET_SCOPE"],
  },
} as const satisfies Record<OutboundAuth["kind"], { needs: readonly string[]; takes: readonly string[] }>;

const TARGET_SETTINGS = [
  "TRRG_FHIR_TARGET_AUTH",
  "TRRG_FHIR_TARGET_TOKEN_FILE",
  "TRRG_FHIR_TARGET_CLIENT_ID",
  "TRRG_FHIR_TARGET_TOKEN_URL",
  "TRRG_FHIR_TARGET_KEY_FILE",
  "TRRG_FHIR_TARGET_SCOPE",
] as const;

/** The delivery settings, checked as a whole; undefined without a target. Files are resolved from the working folder. */
function deliveryConfig(env: ParsedEnvironment): FhirDeliveryConfig | undefined {
  const given = (name: (typeof TARGET_SETTINGS)[number]) => env[name] !== undefined;
  if (env.TRRG_FHIR_TARGET_URL === undefined) {
    const stray = TARGET_SETTINGS.filter(given);
    if (stray.length > 0) throw new ConfigError(stray.map((name) => `${name}: set, but TRRG_FHIR_TARGET_URL is not (no target, no delivery)`));
    return undefined;
  }
  const kind = env.TRRG_FHIR_TARGET_AUTH ?? "none";
  const { needs, takes } = TARGET_AUTH_SETTINGS[kind];
  const problems = [
    ...needs.filter((name) => !given(name)).map((name) => `${name}: required when TRRG_FHIR_TARGET_AUTH is ${kind}`),
    ...TARGET_SETTINGS.filter((name) => name !== "TRRG_FHIR_TARGET_AUTH" && given(name) && !(takes as readonly string[]).includes(name)).map(
      (name) => `${name}: not used when TRRG_FHIR_TARGET_AUTH is ${kind}${kind === "none" ? " (the default)" : ""}`,
    ),
  ];
  if (env.TRRG_FHIR_DELIVERY_RETRY_BASE > env.TRRG_FHIR_DELIVERY_RETRY_CAP) {
    problems.push("TRRG_FHIR_DELIVERY_RETRY_BASE: must not exceed TRRG_FHIR_DELIVERY_RETRY_CAP");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const auth: OutboundAuth =
    kind === "token"
      ? { kind, tokenFile: path.resolve(env.TRRG_FHIR_TARGET_TOKEN_FILE!) }
      : kind === "smart-backend"
        ? {
            kind,
            clientId: env.TRRG_FHIR_TARGET_CLIENT_ID!,
            keyFile: path.resolve(env.TRRG_FHIR_TARGET_KEY_FILE!),
            tokenUrl: env.TRRG_FHIR_TARGET_TOKEN_URL,
            scope: (env.TRRG_FHIR_TARGET_SCOPE ?? DEFAULT_TARGET_SCOPE).split(/\s+/).join(" "),
          }
        : { kind };
  return {
    targetUrl: env.TRRG_FHIR_TARGET_URL,
    auth,
    retryBaseMs: env.TRRG_FHIR_DELIVERY_RETRY_BASE,
    retryCapMs: env.TRRG_FHIR_DELIVERY_RETRY_CAP,
    timeoutMs: env.TRRG_FHIR_DELIVERY_TIMEOUT,
  };
}

const filePath = z.string().min(1, "expected a file path");

/** An auth entry of the peers file; file paths are still as written (resolved by `resolvePeerFiles`). */
const peerAuthSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("none") }),
  z.strictObject({ kind: z.literal("token"), tokenFile: filePath }),
  z.strictObject({
    kind: z.literal("smart-backend"),
    clientId: z.string().regex(/^[\x21-\x7e]{1,255}$/, "expected 1 to 255 printable ASCII characters without spaces"),
    keyFile: filePath,
    tokenUrl: httpUrl.optional(),
    scope: z.string().trim().min(1).optional(),
  }),
]);

/** A base URL that can be compared by prefix: no credentials, query or fragment. */
const peerBaseUrl = httpUrl.superRefine((href, ctx) => {
  const url = new URL(href);
  if (url.username || url.password) ctx.addIssue({ code: "custom", message: "must not hold credentials: give them in auth" });
  if (url.search || url.hash) ctx.addIssue({ code: "custom", message: "must not have a query or fragment" });
});

const peerSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "expected 1 to 64 letters, digits, '.', '_' or '-'"),
  baseUrl: peerBaseUrl,
  auth: peerAuthSchema,
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  retries: z.number().int().min(0).max(10).default(3),
});

const peersFileSchema = z.array(peerSchema).superRefine((peers, ctx) => {
  const seen = new Set<string>();
  peers.forEach((peer, i) => {
    if (seen.has(peer.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `"${peer.name}" is listed twice` });
    seen.add(peer.name);
  });
});

type ParsedPeer = z.infer<typeof peerSchema>;

function readPeersFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError([`TRRG_DICOMWEB_PEERS_FILE: cannot read "${file}" as JSON: ${(error as Error).message}`]);
  }
}

/** "peer 1 (pacs) auth.tokenFile" for the zod path [1, "auth", "tokenFile"]. */
function peerIssueAt(issuePath: readonly PropertyKey[], raw: unknown): string {
  const [index, ...rest] = issuePath;
  if (typeof index !== "number") return "the file";
  const name = (raw as { name?: unknown }[])[index]?.name;
  const label = typeof name === "string" && name.length <= 64 ? `peer ${index} (${name})` : `peer ${index}`;
  return rest.length > 0 ? `${label} ${rest.map(String).join(".")}` : label;
}

/** Token and key files are named relative to the peers file, so that the file and its secrets move together. */
function resolvePeerFiles(peer: ParsedPeer, folder: string): DicomwebPeerConfig {
  const { auth } = peer;
  const resolved: OutboundAuth =
    auth.kind === "token"
      ? { kind: "token", tokenFile: path.resolve(folder, auth.tokenFile) }
      : auth.kind === "smart-backend"
        ? {
            kind: "smart-backend",
            clientId: auth.clientId,
            keyFile: path.resolve(folder, auth.keyFile),
            tokenUrl: auth.tokenUrl,
            scope: (auth.scope ?? DEFAULT_PEER_SCOPE).split(/\s+/).join(" "),
          }
        : { kind: "none" };
  return { ...peer, auth: resolved };
}

/** The DICOMweb peers: none without TRRG_DICOMWEB_PEERS_FILE. The file is relative to the working folder. */
function dicomwebClientConfig(env: ParsedEnvironment): DicomwebClientConfig {
  const defaultPeer = env.TRRG_DICOMWEB_DEFAULT_PEER;
  if (env.TRRG_DICOMWEB_PEERS_FILE === undefined) {
    if (defaultPeer !== undefined) throw new ConfigError(["TRRG_DICOMWEB_DEFAULT_PEER: set, but TRRG_DICOMWEB_PEERS_FILE is not (no peers)"]);
    return { peers: [], defaultPeer: undefined };
  }
  const file = path.resolve(env.TRRG_DICOMWEB_PEERS_FILE);
  const raw = readPeersFile(file);
  const result = peersFileSchema.safeParse(raw);
  if (!result.success) {
    const at = Array.isArray(raw) ? (issuePath: readonly PropertyKey[]) => peerIssueAt(issuePath, raw) : () => "the file";
    throw new ConfigError(
      result.error.issues.map((issue) => `TRRG_DICOMWEB_PEERS_FILE: "${file}", ${at(issue.path)}: ${Array.isArray(raw) ? issue.message : "expected a JSON array of peers"}`),
    );
  }
  const peers = result.data.map((peer) => resolvePeerFiles(peer, path.dirname(file)));
  if (defaultPeer !== undefined && !peers.some((peer) => peer.name === defaultPeer)) {
    const listed = peers.map((peer) => peer.name).join(", ") || "none";
    throw new ConfigError([`TRRG_DICOMWEB_DEFAULT_PEER: "${defaultPeer}" is not a peer of TRRG_DICOMWEB_PEERS_FILE (listed: ${listed})`]);
  }
  return { peers, defaultPeer };
}

function readConfigFile(file: string): Environment {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError([`TRRG_CONFIG_FILE: cannot read "${file}": ${(error as Error).message}`]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`TRRG_CONFIG_FILE: "${file}" must hold a JSON object of TRRG_* keys`]);
  }
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
}

/** Builds the configuration; throws ConfigError naming every invalid or unknown TRRG_* variable. */
export function loadConfig(environment: Environment = process.env): Config {
  const fromFile = environment.TRRG_CONFIG_FILE ? readConfigFile(environment.TRRG_CONFIG_FILE) : {};
  const merged: Environment = { ...fromFile };
  for (const [key, value] of Object.entries(environment)) {
    if (key.startsWith("TRRG_") && key !== "TRRG_CONFIG_FILE" && value !== undefined && value !== "") {
      merged[key] = value;
    }
  }
  const known = new Set(Object.keys(environmentSchema.shape));
  const unknown = Object.keys(merged).filter((key) => !known.has(key));
  const result = environmentSchema.safeParse(merged);
  const problems = unknown.map((key) => `${key}: unknown setting`);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const env = result.data;
  if (env.TRRG_QIDO_DEFAULT_LIMIT > env.TRRG_QIDO_MAX_LIMIT) {
    throw new ConfigError(["TRRG_QIDO_DEFAULT_LIMIT: must not exceed TRRG_QIDO_MAX_LIMIT"]);
  }
  if (env.TRRG_STOW_MAX_PART_SIZE > env.TRRG_STOW_MAX_REQUEST_SIZE) {
    throw new ConfigError(["TRRG_STOW_MAX_PART_SIZE: must not exceed TRRG_STOW_MAX_REQUEST_SIZE"]);
  }
  if (env.TRRG_JOB_RETRY_BASE > env.TRRG_JOB_RETRY_CAP) {
    throw new ConfigError(["TRRG_JOB_RETRY_BASE: must not exceed TRRG_JOB_RETRY_CAP"]);
  }
  if (env.TRRG_AUTH_MODE === "external" && !env.TRRG_AUTH_ISSUER) {
    throw new ConfigError(["TRRG_AUTH_ISSUER: required when TRRG_AUTH_MODE is external"]);
  }
  const delivery = deliveryConfig(env);
  const dicomwebClient = dicomwebClientConfig(env);
  const dataDir = path.resolve(env.TRRG_DATA_DIR);
  const origin = env.TRRG_PUBLIC_URL ?? httpOrigin(env.TRRG_HOST, env.TRRG_PORT);
  const corsOrigins = env.TRRG_CORS_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean);
  return {
    http: { host: env.TRRG_HOST, port: env.TRRG_PORT, publicUrl: env.TRRG_PUBLIC_URL },
    dataDir,
    database: {
      sqlitePath: path.resolve(dataDir, env.TRRG_SQLITE_PATH ?? "trrg.sqlite"),
      ...(env.TRRG_DATABASE_URL ? { postgresUrl: env.TRRG_DATABASE_URL } : {}),
    },
    storage: {
      instancesDir: path.resolve(dataDir, env.TRRG_STORAGE_DIR ?? "instances"),
      minFreeBytes: env.TRRG_STORAGE_MIN_FREE,
    },
    stow: {
      maxPartBytes: env.TRRG_STOW_MAX_PART_SIZE,
      maxRequestBytes: env.TRRG_STOW_MAX_REQUEST_SIZE,
      acceptedSopClasses: env.TRRG_STOW_SOP_CLASSES,
    },
    qido: { defaultLimit: env.TRRG_QIDO_DEFAULT_LIMIT, maxLimit: env.TRRG_QIDO_MAX_LIMIT },
    log: { level: env.TRRG_LOG_LEVEL },
    auth: {
      mode: env.TRRG_AUTH_MODE,
      issuer: env.TRRG_AUTH_ISSUER ?? `${origin}/oauth2`,
      jwksUrl: env.TRRG_AUTH_JWKS_URL,
      audience: env.TRRG_AUTH_AUDIENCE ?? origin,
      clockSkewSeconds: env.TRRG_AUTH_CLOCK_SKEW,
      clientsFile: path.resolve(dataDir, env.TRRG_AUTH_CLIENTS_FILE ?? "oauth-clients.json"),
      keysFile: path.resolve(dataDir, env.TRRG_AUTH_KEYS_FILE ?? "oauth-keys.json"),
      accessTokenTtlSeconds: env.TRRG_AUTH_TOKEN_TTL,
    },
    corsOrigins,
    rateLimitPerMinute: env.TRRG_RATE_LIMIT,
    auditSyslog: env.TRRG_AUDIT_SYSLOG,
    metrics: { bearerToken: env.TRRG_METRICS_BEARER },
    jobs: {
      quietPeriodMs: env.TRRG_JOB_QUIET_PERIOD,
      concurrency: env.TRRG_JOB_CONCURRENCY,
      maxAttempts: env.TRRG_JOB_MAX_ATTEMPTS,
      retryBaseMs: env.TRRG_JOB_RETRY_BASE,
      retryCapMs: env.TRRG_JOB_RETRY_CAP,
      leaseMs: env.TRRG_JOB_LEASE,
      ...(env.TRRG_REDIS_URL ? { redisUrl: env.TRRG_REDIS_URL } : {}),
      redisPrefix: env.TRRG_REDIS_PREFIX,
      workerPort: env.TRRG_WORKER_PORT,
    },
    model: {
      directory: env.TRRG_MODEL_DIR ? path.resolve(env.TRRG_MODEL_DIR) : BUNDLED_MODEL_DIR,
      executionProviders: env.TRRG_EXECUTION_PROVIDERS,
      intraOpThreads: env.TRRG_INTRA_OP_THREADS,
      imageWorkers: env.TRRG_IMAGE_WORKERS,
      generationBatch: env.TRRG_GENERATION_BATCH,
    },
    fhir: {
      patientLinkage: { rule: env.TRRG_FHIR_PATIENT_REFERENCE, issuerSystems: env.TRRG_FHIR_PATIENT_ID_SYSTEMS },
      organizationName: env.TRRG_FHIR_ORGANIZATION,
      ...(delivery ? { delivery } : {}),
    },
    dicomwebClient,
    ups: {
      worklistLabel: env.TRRG_UPS_WORKLIST_LABEL,
      performer: env.TRRG_UPS_PERFORMER === "on",
      aeTitle: env.TRRG_UPS_AE_TITLE,
      workitemCodes: env.TRRG_UPS_WORKITEM_CODES,
      pollIntervalMs: env.TRRG_UPS_POLL_INTERVAL,
      concurrency: env.TRRG_UPS_CONCURRENCY,
    },
  };
}

/** The documented settings, for `--help`. */
export const SETTINGS_HELP: ReadonlyArray<[string, string]> = [
  ["TRRG_CONFIG_FILE", "JSON file of TRRG_* settings; environment variables override it"],
  ["TRRG_HOST", "listen address (default 127.0.0.1)"],
  ["TRRG_PORT", "listen port (default 8080)"],
  ["TRRG_PUBLIC_URL", "external base URL used in RetrieveURL (default: from the request Host)"],
  ["TRRG_DATA_DIR", "data folder for the embedded database and instance files (default ./data)"],
  ["TRRG_SQLITE_PATH", "SQLite database file, relative to the data folder (default trrg.sqlite)"],
  ["TRRG_DATABASE_URL", "PostgreSQL connection URL (postgres://…): the store lives there instead of in SQLite (default: SQLite)"],
  ["TRRG_STORAGE_DIR", "instance file folder, relative to the data folder (default instances)"],
  ["TRRG_STORAGE_MIN_FREE", "free space kept on the storage volume; below it STOW answers 0xA700 (default 256MiB)"],
  ["TRRG_STOW_MAX_PART_SIZE", "largest instance accepted in one STOW-RS part (default 2GiB)"],
  ["TRRG_STOW_MAX_REQUEST_SIZE", "largest STOW-RS request body (default 4GiB)"],
  ["TRRG_STOW_SOP_CLASSES", "SOP Class UIDs accepted, comma-separated, or * for any (default *)"],
  ["TRRG_QIDO_DEFAULT_LIMIT", "QIDO-RS results per page when no limit is given (default 100)"],
  ["TRRG_QIDO_MAX_LIMIT", "largest QIDO-RS limit honoured (default 1000)"],
  ["TRRG_LOG_LEVEL", "fatal, error, warn, info, debug, trace or silent (default info)"],
  ["TRRG_AUTH_MODE", "embedded (run our own OAuth 2.0 server at /oauth2) or external (default embedded)"],
  ["TRRG_AUTH_ISSUER", "token issuer URL (default: this service's /oauth2); required when external"],
  ["TRRG_AUTH_JWKS_URL", "issuer's JWKS URL (default: from its .well-known/openid-configuration)"],
  ["TRRG_AUTH_AUDIENCE", "audience access tokens must name (default: this service's base URL)"],
  ["TRRG_AUTH_CLOCK_SKEW", "seconds of clock skew tolerated on exp/nbf/iat, at most 300 (default 30)"],
  ["TRRG_AUTH_CLIENTS_FILE", "embedded server: registered clients, JSON (default oauth-clients.json in the data folder)"],
  ["TRRG_AUTH_KEYS_FILE", "embedded server: signing keys, created on first start (default oauth-keys.json)"],
  ["TRRG_AUTH_TOKEN_TTL", "embedded server: access token lifetime in seconds, 30 to 300 (default 300)"],
  ["TRRG_CORS_ORIGINS", "comma-separated browser origins allowed by CORS (default none: CORS closed)"],
  ["TRRG_RATE_LIMIT", "requests per minute per client, 0 for no limit (default 1200)"],
  ["TRRG_AUDIT_SYSLOG", "also send every AuditEvent to this RFC 5424 syslog collector: udp://host:514 or tcp://host:601"],
  ["TRRG_METRICS_BEARER", "bearer token a Prometheus scrape of /metrics must send, 16+ characters (default: /metrics is open; it holds no patient data)"],
  ["TRRG_UPS_WORKLIST_LABEL", "Worklist Label given to UPS workitems created without one (default TRRG CHEST X-RAY REPORTS)"],
  ["TRRG_UPS_PERFORMER", "on: claim and perform UPS workitems that ask for a report; off: only serve the worklist (default on)"],
  ["TRRG_UPS_AE_TITLE", "the performer's AE title, marking the workitems it holds (default TRRG_GATEWAY)"],
  ["TRRG_UPS_WORKITEM_CODES", "Scheduled Workitem Codes the performer takes, CODE^SCHEME,… (default CXR-REPORT^99TRRG)"],
  ["TRRG_UPS_POLL_INTERVAL", "how often the performer looks at the worklist (default 2s)"],
  ["TRRG_UPS_CONCURRENCY", "workitems performed at once (default 2)"],
  ["TRRG_JOB_QUIET_PERIOD", "a study is reported once no instance has arrived for this long: 30 (seconds), 500ms, 2m (default 30s)"],
  ["TRRG_JOB_CONCURRENCY", "report jobs run at once by one process, 1 to 64 (default 1)"],
  ["TRRG_JOB_MAX_ATTEMPTS", "runs of a job before it ends failed, 1 to 100 (default 3)"],
  ["TRRG_JOB_RETRY_BASE", "wait before the first retry, doubled for each next one (default 10s)"],
  ["TRRG_JOB_RETRY_CAP", "longest wait between retries (default 10m)"],
  ["TRRG_JOB_LEASE", "a running job whose worker sent no heartbeat for this long is taken back and run again (default 60s)"],
  ["TRRG_REDIS_URL", "Redis URL (redis://…): report jobs are dispatched over BullMQ to `trrg-gateway worker` processes, and UPS event reports relayed between `serve` replicas (default: the embedded queue, one process)"],
  ["TRRG_REDIS_PREFIX", "prefix of the BullMQ keys and of the UPS event channel in Redis, one per deployment sharing a Redis (default bull)"],
  ["TRRG_WORKER_PORT", "port of a `trrg-gateway worker` process's /healthz, /readyz and /metrics (default 9464)"],
  ["TRRG_MODEL_DIR", "model set folder: manifest.json, ONNX stages, tokenizer.json (default the bundled models/trrg-mini)"],
  ["TRRG_EXECUTION_PROVIDERS", "ONNX Runtime providers in order: cpu, or cuda,cpu (falls back to the CPU with a warning; default cpu)"],
  ["TRRG_INTRA_OP_THREADS", "threads inside one ONNX operator, 0 for ONNX Runtime's choice (default 0)"],
  ["TRRG_IMAGE_WORKERS", "worker threads that decode and preprocess images, 0 for the main thread (default 0)"],
  ["TRRG_GENERATION_BATCH", "most concurrent reports generated as one decoder batch, 1 to 64; 1 turns batching off (default 4)"],
  ["TRRG_FHIR_PATIENT_REFERENCE", "DiagnosticReport.subject: identifier (logical, by Patient ID and issuer; default) or literal (Patient/<Patient ID>)"],
  ["TRRG_FHIR_PATIENT_ID_SYSTEMS", 'JSON object from Issuer of Patient ID to identifier system URI ("" for no issuer; default {})'],
  ["TRRG_FHIR_ORGANIZATION", "name of the organisation running the service, DiagnosticReport.performer (default trrg-gateway)"],
  ["TRRG_FHIR_TARGET_URL", "FHIR base URL of the EHR's server: each report is delivered there as one transaction Bundle (default: no delivery)"],
  ["TRRG_FHIR_TARGET_AUTH", "none, token (a static bearer token from a file) or smart-backend (SMART Backend Services; default none)"],
  ["TRRG_FHIR_TARGET_TOKEN_FILE", "token: file holding the bearer token (the token itself never goes in a variable)"],
  ["TRRG_FHIR_TARGET_CLIENT_ID", "smart-backend: our client_id at the target's authorization server"],
  ["TRRG_FHIR_TARGET_KEY_FILE", "smart-backend: our private JWK, or a JWKS holding it, with kid; RS384 (RSA) or ES384 (P-384)"],
  ["TRRG_FHIR_TARGET_TOKEN_URL", "smart-backend: token endpoint (default: token_endpoint of the target's .well-known/smart-configuration)"],
  ["TRRG_FHIR_TARGET_SCOPE", `smart-backend: scopes asked for (default ${DEFAULT_TARGET_SCOPE})`],
  ["TRRG_FHIR_DELIVERY_RETRY_BASE", "wait before the first delivery retry, doubled for each next one; retried until delivered or rejected (default 10s)"],
  ["TRRG_FHIR_DELIVERY_RETRY_CAP", "longest wait between delivery retries (default 10m)"],
  ["TRRG_FHIR_DELIVERY_TIMEOUT", "longest wait for one request to the target or its token endpoint (default 30s)"],
  [
    "TRRG_DICOMWEB_PEERS_FILE",
    'JSON array of the DICOMweb servers studies may be retrieved from by WADO-RS: {"name", "baseUrl", "auth": {"kind": "none"} | ' +
      '{"kind": "token", "tokenFile"} | {"kind": "smart-backend", "clientId", "keyFile", "tokenUrl"?, "scope"?}, "timeoutMs"? (30000), ' +
      `"retries"? (3)}; file paths relative to its folder; default scope ${DEFAULT_PEER_SCOPE} (default: no peers)`,
  ],
  ["TRRG_DICOMWEB_DEFAULT_PEER", "name of the peer a study is retrieved from when a workitem gives only its Study Instance UID (default: none)"],
];
