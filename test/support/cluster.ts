// A scale-out deployment on loopback for the fault tests and the scale benchmark: one PostgreSQL and one Redis from
// Debian, a shared instance folder, and `trrg-gateway serve` API replicas and `trrg-gateway worker` processes, each
// a real Node process started from src/main.ts as an operator starts them. Processes can be killed (SIGKILL) or
// stopped (SIGTERM) one by one; the store is opened in the test process to count what happened.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { openPostgresDatabase, type Database } from "../../src/store/database.js";
import { makeMultipartRelated } from "../fixtures/dicomFactory.js";
import { CLI_ARGS } from "./cli.js";
import { freePort } from "./debianPeers.js";
import { startPostgres, type RunningPostgres } from "./postgres.js";
import { startRedis, type RunningRedis } from "./redis.js";
import { requestToken, SHARED_KEYS_FILE, TEST_CLIENTS, writeTestClients, type TestClient } from "./testApp.js";

/** Phantom studies small enough that hundreds go through this machine in a fault test (256 × 256 pixels). */
export const SMALL_PHANTOM = { rows: 256, columns: 256, pixelSpacingMm: 1.4 };

/** The URL every replica names itself by, as behind a load balancer: tokens of one replica hold at every other. */
export const CLUSTER_PUBLIC_URL = "http://trrg-cluster.test";

export interface ClusterProcess {
  readonly name: string;
  readonly kind: "serve" | "worker";
  /** Where it answers: the API for serve, the probes for worker. */
  readonly url: string;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  readonly exited: Promise<number | null>;
  /** Whether it has ended. */
  hasExited(): boolean;
  /** The tail of what it wrote (its log), for a failing test's message. */
  output(): string;
  /** SIGKILL: a crash, nothing cleaned up. */
  kill(): Promise<void>;
  /** SIGTERM: the graceful stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface Cluster {
  readonly postgres: RunningPostgres;
  readonly redis: RunningRedis;
  /** The instance folder all processes share (a shared volume in a real deployment). */
  readonly storageDir: string;
  /** The store, opened in the test process. */
  readonly db: Database;
  startApi(name: string, env?: Record<string, string>): Promise<ClusterProcess>;
  startWorker(name: string, env?: Record<string, string>): Promise<ClusterProcess>;
  /** A token of the system test client from one replica's OAuth server. */
  token(api: ClusterProcess, client?: TestClient): Promise<string>;
  /** Stops every process still running, then PostgreSQL and Redis, and deletes the folders. */
  stop(): Promise<void>;
}

const OUTPUT_TAIL = 20_000;

export interface ClusterOptions {
  /** Settings for every process, over the cluster's defaults. */
  env?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const root = await mkdtemp(path.join(tmpdir(), "trrg-cluster-"));
  const storageDir = path.join(root, "shared-instances");
  await mkdir(storageDir);
  const clientsFile = await writeTestClients(path.join(root, "clients.json"));
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  const db = await openPostgresDatabase(postgres.url);
  const processes: ClusterProcess[] = [];
  const common = {
    TRRG_DATABASE_URL: postgres.url,
    TRRG_REDIS_URL: redis.url,
    TRRG_STORAGE_DIR: storageDir,
    TRRG_STORAGE_MIN_FREE: "0",
    TRRG_PUBLIC_URL: CLUSTER_PUBLIC_URL,
    TRRG_AUTH_KEYS_FILE: SHARED_KEYS_FILE,
    TRRG_AUTH_CLIENTS_FILE: clientsFile,
    TRRG_RATE_LIMIT: "0",
    TRRG_HOST: "127.0.0.1",
    TRRG_LOG_LEVEL: "warn",
    TRRG_JOB_QUIET_PERIOD: "1s",
    TRRG_JOB_LEASE: "3s",
    TRRG_JOB_RETRY_BASE: "200ms",
    TRRG_JOB_RETRY_CAP: "1s",
    TRRG_INTRA_OP_THREADS: "1",
    TRRG_UPS_PERFORMER: "off",
    ...options.env,
  };

  const launch = async (name: string, kind: "serve" | "worker", env: Record<string, string>): Promise<ClusterProcess> => {
    const dataDir = path.join(root, name);
    await mkdir(dataDir, { recursive: true });
    const port = await freePort();
    const portSetting = kind === "serve" ? { TRRG_PORT: String(port) } : { TRRG_WORKER_PORT: String(port) };
    const started = startServiceProcess(name, kind, port, { ...process.env, ...common, TRRG_DATA_DIR: dataDir, ...portSetting, ...env });
    processes.push(started);
    await untilReady(started);
    return started;
  };

  return {
    postgres,
    redis,
    storageDir,
    db,
    startApi: (name, env = {}) => launch(name, "serve", env),
    startWorker: (name, env = {}) => launch(name, "worker", env),
    token: (api, client = TEST_CLIENTS.system) => requestToken(api.url, client),
    async stop() {
      await Promise.all(processes.map((p) => p.stop().catch(() => null)));
      await db.destroy();
      await Promise.all([postgres.stop(), redis.stop()]);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * `trrg-gateway <kind>` as its own Node process with exactly `env`, answering on 127.0.0.1:`port` (the API for
 * serve, the probes for worker); wait for it with untilReady.
 */
export function startServiceProcess(name: string, kind: "serve" | "worker", port: number, env: NodeJS.ProcessEnv): ClusterProcess {
  const child = spawn(process.execPath, [...CLI_ARGS, kind], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let ended = false;
  const append = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-OUTPUT_TAIL));
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code))).finally(() => (ended = true));
  const signal = (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
  };
  return {
    name,
    kind,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    exited,
    hasExited: () => ended || child.exitCode !== null,
    output: () => output,
    kill: async () => {
      signal("SIGKILL");
      await exited;
    },
    stop: async () => {
      signal("SIGTERM");
      return exited;
    },
  };
}

/** Resolves once the process answers /readyz with 200; rejects with its output when it exits first or takes too long. */
export async function untilReady(proc: ClusterProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.hasExited()) throw new Error(`${proc.name} exited before it was ready:\n${proc.output()}`);
    const ready = await fetch(`${proc.url}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} was not ready within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** STOW-RS of one study's instances to one replica; the HTTP status and the DICOM JSON response. */
export async function storeStudy(api: ClusterProcess, token: string, instances: readonly Buffer[]): Promise<{ status: number; body: unknown }> {
  const { body, contentType } = makeMultipartRelated([...instances]);
  const res = await fetch(`${api.url}/dicomweb/studies`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": contentType, Accept: "application/dicom+json" },
    body,
  });
  const text = await res.text();
  const json = /json/.test(res.headers.get("content-type") ?? "");
  return { status: res.status, body: json && text ? (JSON.parse(text) as unknown) : text };
}

/** What became of a set of studies, counted in the store. */
export interface StudyOutcomes {
  studies: number;
  /** Studies with exactly one job, and that job succeeded. */
  reportedOnce: number;
  /** Jobs per state over these studies. */
  jobs: Record<string, number>;
  /** Successful runs recorded in the audit trail, over these studies' jobs (one per job when each ran to success once). */
  successfulRuns: number;
  /** Runs started in all (a crash or a retry adds one). */
  attempts: number;
  /** DiagnosticReports published for these studies. */
  reports: number;
  /** Instances stored for these studies. */
  instances: number;
}

export async function studyOutcomes(db: Database, studyUIDs: readonly string[]): Promise<StudyOutcomes> {
  const uids = [...new Set(studyUIDs)];
  const jobs = uids.length === 0 ? [] : await db.selectFrom("jobs").select(["id", "study_instance_uid", "state", "attempts"]).where("study_instance_uid", "in", uids).execute();
  const jobIds = new Set(jobs.map((j) => j.id));
  const runs = await db.selectFrom("audit_events").select(["entity_refs"]).where("outcome", "=", "0").where("entity_refs", "like", "%job:%").execute();
  let successfulRuns = 0;
  for (const run of runs) {
    const id = /(?:^| )job:(\S+)/.exec(run.entity_refs)?.[1];
    if (id !== undefined && jobIds.has(decodeURIComponent(id))) successfulRuns++;
  }
  const byStudy = new Map<string, typeof jobs>();
  for (const job of jobs) byStudy.set(job.study_instance_uid, [...(byStudy.get(job.study_instance_uid) ?? []), job]);
  const states: Record<string, number> = {};
  for (const job of jobs) states[job.state] = (states[job.state] ?? 0) + 1;
  const reports = await db
    .selectFrom("fhir_search_index")
    .innerJoin("fhir_resources", "fhir_resources.seq", "fhir_search_index.resource_seq")
    .select((eb) => eb.fn.count<number>("fhir_resources.seq").distinct().as("count"))
    .where("fhir_resources.resource_type", "=", "DiagnosticReport")
    .where("fhir_search_index.param", "=", "study-instance-uid")
    // ImagingStudy identifiers carry the UID as urn:oid:… (FHIR R4 imagingstudy.html).
    .where("fhir_search_index.value", "in", uids.length ? [...uids, ...uids.map((uid) => `urn:oid:${uid}`)] : [""])
    .executeTakeFirstOrThrow();
  const instances = await db
    .selectFrom("instances")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .where("study_instance_uid", "in", uids.length ? uids : [""])
    .executeTakeFirstOrThrow();
  return {
    studies: uids.length,
    reportedOnce: [...byStudy.values()].filter((list) => list.length === 1 && list[0]!.state === "succeeded").length,
    jobs: states,
    successfulRuns,
    attempts: jobs.reduce((sum, j) => sum + Number(j.attempts), 0),
    reports: Number(reports.count),
    instances: Number(instances.count),
  };
}

/**
 * Waits until every one of the studies has a finished job (succeeded or failed) and each success its AuditEvent
 * (a run is audited just after its job is marked succeeded), or throws with the counts.
 */
export async function untilReported(db: Database, studyUIDs: readonly string[], timeoutMs: number): Promise<StudyOutcomes> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcomes = await studyOutcomes(db, studyUIDs);
    const succeeded = outcomes.jobs.succeeded ?? 0;
    const finished = succeeded + (outcomes.jobs.failed ?? 0);
    if (finished >= outcomes.studies && outcomes.successfulRuns >= succeeded) return outcomes;
    if (Date.now() > deadline) throw new Error(`not every study was reported within ${timeoutMs} ms: ${JSON.stringify(outcomes)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** How often each value occurs, e.g. HTTP statuses: { "200": 28, "503": 2 }. */
export function countOf(values: readonly (number | string)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Prints one fault test's counts as a line of its own: `[faults] <what>: {json}` (the acceptance asks for them). */
export function printCounts(what: string, counts: object): void {
  process.stdout.write(`[faults] ${what}: ${JSON.stringify(counts)}\n`);
}

/** A cluster for the tests of one file: started before them, stopped after; call the result to get it. */
export function clusterForFile(options: ClusterOptions = {}): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(options);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error("the cluster has not started");
    return cluster;
  };
}
