// Scale-out on one machine (issue 9): studies stored over STOW-RS and reported per minute with 1, 2 and 4
// `trrg-gateway worker` processes behind one `serve` API replica on PostgreSQL and Redis (test/support/cluster.ts),
// side by side with the embedded mode — one `serve` process on SQLite that runs the jobs itself — at one job runner.
// Every process is a real one started from src/main.ts through tsx, as the fault tests start them, on a fresh store
// for every run. Each job runner runs one job at a time with one thread per ONNX operator, so N runners use at most
// N cores for inference.
//
// One run of a variant: start the deployment, report one untimed warm-up study per job runner (first ONNX runs
// allocate), then store the whole set up front through 4 STOW-RS clients (one study per request) and wait until
// every job has finished. The clock runs from the start of the first STOW-RS request to the last job's finished_at
// in the store, less the quiet period: no job can be due before one quiet period after the first study is stored,
// so those seconds are idle by construction on every variant. Reported besides: how long the STOW-RS of the set
// took (it overlaps the first jobs), per-study latency from its STOW-RS response to its job's end (less the quiet
// period; with the whole set queued at once it is mostly the wait behind the studies stored before it), the job's
// own run time (started_at to finished_at), CPU time per study of the gateway processes and of PostgreSQL and
// Redis, and each job runner's peak memory (VmHWM). Rounds run every variant once, in an order rotated each round.
//
//   npm run bench:scale      (BENCH_QUICK=1 for a short run; BENCH_STUDIES=N studies per run, BENCH_ROUNDS=N rounds)
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_RENDER, makePhantomStudy } from "../src/phantom/study.js";
import { openDatabase, type Database } from "../src/store/database.js";
import { startCluster, startServiceProcess, untilReady } from "../test/support/cluster.js";
import { freePort } from "../test/support/debianPeers.js";
import { peakRssMiB } from "../test/support/processMemory.js";
import { requestToken, SHARED_KEYS_FILE, TEST_CLIENTS, writeTestClients } from "../test/support/testApp.js";
import { median, processCpuSeconds, settle, stowRequest, type StowTarget } from "./support/stowClient.js";

const QUICK = process.env.BENCH_QUICK === "1";
const STUDIES = Number(process.env.BENCH_STUDIES ?? (QUICK ? 16 : 200));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
/** Test seeds of the bundled model (models/trrg-mini/MODEL_CARD.md: 600 from 2000001), never trained on. */
const FIRST_SEED = 2_000_001;
const FIRST_WARM_UP_SEED = 2_000_501;
const STOW_CLIENTS = 4;
const QUIET_PERIOD_MS = 1000;

/**
 * Settings of every process in every variant, over the cluster's own (test/support/cluster.ts). The lease is the
 * service's default rather than the fault tests' 3 s: four workers on two cores must not lose jobs to a late
 * heartbeat. The embedded runner polls the store every second when idle (its lease is longer than that).
 */
const SETTINGS: Record<string, string> = {
  TRRG_JOB_QUIET_PERIOD: `${QUIET_PERIOD_MS}ms`,
  TRRG_JOB_CONCURRENCY: "1",
  TRRG_INTRA_OP_THREADS: "1",
  TRRG_JOB_LEASE: "60s",
  TRRG_RATE_LIMIT: "0",
  TRRG_UPS_PERFORMER: "off",
  TRRG_STORAGE_MIN_FREE: "0",
  TRRG_LOG_LEVEL: "warn",
};

interface Variant {
  name: string;
  mode: "embedded" | "scale-out";
  /** Processes that run report jobs: the one embedded serve, or the worker processes. */
  runners: number;
}

const VARIANTS: Variant[] = [
  { name: "embedded (SQLite), 1 serve", mode: "embedded", runners: 1 },
  { name: "scale-out (PostgreSQL + Redis), 1 worker", mode: "scale-out", runners: 1 },
  { name: "scale-out (PostgreSQL + Redis), 2 workers", mode: "scale-out", runners: 2 },
  { name: "scale-out (PostgreSQL + Redis), 4 workers", mode: "scale-out", runners: 4 },
];

/** One phantom study as a PACS sends it: its Study Instance UID and its Part 10 files. */
interface SetStudy {
  studyInstanceUID: string;
  part10: Buffer[];
}

interface GatewayProcess {
  name: string;
  pid: number;
  /** Where its Prometheus metrics are: the API port for serve, the probe port for a worker. */
  metricsUrl: string;
}

/** A running deployment, whichever its mode: one API to store into, its job runners, and its store. */
interface Deployment {
  apiUrl: string;
  api: GatewayProcess;
  /** The processes that run report jobs (for the embedded mode, the API process itself). */
  runners: GatewayProcess[];
  /** PostgreSQL and Redis, for their CPU time: the listening ports of their servers. */
  peerPorts: number[];
  db: Database;
  stop(): Promise<void>;
}

async function startScaleOut(workers: number): Promise<Deployment> {
  const cluster = await startCluster({ env: SETTINGS });
  try {
    const api = await cluster.startApi("api");
    const started = [];
    for (let i = 1; i <= workers; i++) started.push(await cluster.startWorker(`worker-${i}`));
    const runners = started.map((w) => ({ name: w.name, pid: w.pid, metricsUrl: `${w.url}/metrics` }));
    return {
      apiUrl: api.url,
      api: { name: api.name, pid: api.pid, metricsUrl: `${api.url}/metrics` },
      runners,
      peerPorts: [Number(new URL(cluster.postgres.url).port), cluster.redis.port],
      db: cluster.db,
      stop: () => cluster.stop(),
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** One `trrg-gateway serve` on SQLite in a fresh data folder: no TRRG_DATABASE_URL or TRRG_REDIS_URL, so it runs the jobs. */
async function startEmbedded(): Promise<Deployment> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "trrg-bench-scale-"));
  const clientsFile = await writeTestClients(path.join(dataDir, "clients.json"), [TEST_CLIENTS.system]);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...SETTINGS,
    TRRG_DATA_DIR: dataDir,
    TRRG_HOST: "127.0.0.1",
    TRRG_PORT: String(port),
    TRRG_PUBLIC_URL: url,
    TRRG_AUTH_KEYS_FILE: SHARED_KEYS_FILE,
    TRRG_AUTH_CLIENTS_FILE: clientsFile,
  };
  delete env.TRRG_DATABASE_URL;
  delete env.TRRG_REDIS_URL;
  const serve = startServiceProcess("serve", "serve", port, env);
  const stopServer = async () => {
    await serve.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await untilReady(serve, 120_000);
    const db = await openDatabase(path.join(dataDir, "trrg.sqlite"));
    const runner = { name: serve.name, pid: serve.pid, metricsUrl: `${url}/metrics` };
    return {
      apiUrl: url,
      api: runner,
      runners: [runner],
      peerPorts: [],
      db,
      async stop() {
        await db.destroy();
        await stopServer();
      },
    };
  } catch (error) {
    await stopServer();
    throw error;
  }
}

/** A token of the system test client, which may store studies (system/ImagingStudy.c). */
async function systemToken(apiUrl: string): Promise<string> {
  return `Bearer ${await requestToken(apiUrl, TEST_CLIENTS.system)}`;
}

/** Stores every study (one STOW-RS request each) through STOW_CLIENTS clients; when each study's response ended. */
async function storeAll(target: StowTarget, studies: readonly SetStudy[]): Promise<Map<string, number>> {
  const ended = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: STOW_CLIENTS }, async () => {
      while (next < studies.length) {
        const study = studies[next++]!;
        await stowRequest(target, study.part10);
        ended.set(study.studyInstanceUID, Date.now());
      }
    }),
  );
  return ended;
}

/** Waits until `count` jobs in the store have finished (succeeded or failed): one cheap count every 250 ms. */
async function untilFinished(db: Database, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await db
      .selectFrom("jobs")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("state", "in", ["succeeded", "failed"])
      .executeTakeFirstOrThrow();
    if (Number(row.count) >= count) return;
    if (Date.now() > deadline) throw new Error(`${row.count} of ${count} jobs finished within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs that succeeded so far in one process, from its trrg_job_duration_seconds histogram. */
async function succeededRuns(process_: GatewayProcess): Promise<number> {
  const text = await (await fetch(process_.metricsUrl)).text();
  return Number(/^trrg_job_duration_seconds_count\{outcome="succeeded"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** PIDs of the processes listening on a loopback TCP port (the PostgreSQL postmaster, redis-server). */
function listenerPids(port: number): number[] {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

/**
 * CPU time of a process and all its descendants (user and system), in seconds: PostgreSQL's backends are children
 * of the postmaster; those that exited are in its cutime and cstime once reaped.
 */
async function treeCpuSeconds(root: number): Promise<number> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields.length > 1) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  let seconds = 0;
  for (const pid of tree) seconds += await processCpuSeconds(pid).catch(() => 0);
  const rootStat = await readFile(`/proc/${root}/stat`, "utf8");
  const fields = rootStat.slice(rootStat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command name: cutime and cstime are 16 and 17 (indexes 13 and 14 here), in USER_HZ ticks.
  return seconds + (Number(fields[13]) + Number(fields[14])) / 100;
}

interface RunResult {
  studiesPerMinute: number;
  /** First STOW-RS request's start to the last one's response, seconds. */
  stowSeconds: number;
  /** The measured time, quiet period taken out, seconds. */
  windowSeconds: number;
  latencyP50: number;
  latencyP95: number;
  runP50: number;
  runP95: number;
  /** CPU seconds per study: the gateway processes (API and job runners), and PostgreSQL with Redis. */
  gatewayCpuPerStudy: number;
  peersCpuPerStudy: number;
  /** VmHWM of each job runner after the run, MiB; and of the API process (the same process when embedded). */
  runnerPeakMiB: number[];
  apiPeakMiB: number;
  /** Timed jobs each runner ran, in its order. */
  jobsPerRunner: number[];
  /** Jobs run more than once, and jobs that failed. */
  reruns: number;
  failed: number;
  /** The machine's 1-minute load average when the run ended: how much else was running. */
  loadAtEnd: number;
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function runVariant(variant: Variant, set: readonly SetStudy[], warmUp: readonly SetStudy[]): Promise<RunResult> {
  const deployment = variant.mode === "embedded" ? await startEmbedded() : await startScaleOut(variant.runners);
  try {
    const target: StowTarget = { port: Number(new URL(deployment.apiUrl).port), path: "/dicomweb/studies", authorization: await systemToken(deployment.apiUrl) };
    await storeAll(target, warmUp);
    await untilFinished(deployment.db, warmUp.length, 300_000);
    const runsBefore = await Promise.all(deployment.runners.map(succeededRuns));
    if (runsBefore.some((runs) => runs === 0)) console.error(`  (a job runner got no warm-up study: ${runsBefore.join(", ")})`);
    const gatewayPids = [...new Set([deployment.api.pid, ...deployment.runners.map((r) => r.pid)])];
    const peerPids = deployment.peerPorts.flatMap(listenerPids);
    const cpuOf = (pids: number[]) => Promise.all(pids.map(treeCpuSeconds)).then((s) => s.reduce((a, b) => a + b, 0));
    await settle();

    const gatewayCpuBefore = await cpuOf(gatewayPids);
    const peersCpuBefore = await cpuOf(peerPids);
    const started = Date.now();
    const stowEnded = await storeAll(target, set);
    const stowSeconds = (Math.max(...stowEnded.values()) - started) / 1000;
    await untilFinished(deployment.db, warmUp.length + set.length, 120_000 + set.length * 10_000);
    const gatewayCpu = (await cpuOf(gatewayPids)) - gatewayCpuBefore;
    const peersCpu = (await cpuOf(peerPids)) - peersCpuBefore;

    const jobs = await deployment.db
      .selectFrom("jobs")
      .select(["study_instance_uid", "state", "attempts", "started_at", "finished_at"])
      .where("study_instance_uid", "in", set.map((s) => s.studyInstanceUID))
      .execute();
    const succeeded = jobs.filter((job) => job.state === "succeeded");
    const lastFinished = Math.max(...jobs.map((job) => Date.parse(job.finished_at!)));
    const windowSeconds = (lastFinished - started - QUIET_PERIOD_MS) / 1000;
    const latencies = succeeded.map((job) => (Date.parse(job.finished_at!) - stowEnded.get(job.study_instance_uid)! - QUIET_PERIOD_MS) / 1000);
    const runTimes = succeeded.map((job) => (Date.parse(job.finished_at!) - Date.parse(job.started_at!)) / 1000);
    const runsAfter = await Promise.all(deployment.runners.map(succeededRuns));
    return {
      studiesPerMinute: (succeeded.length / windowSeconds) * 60,
      stowSeconds,
      windowSeconds,
      latencyP50: percentile(latencies, 50),
      latencyP95: percentile(latencies, 95),
      runP50: percentile(runTimes, 50),
      runP95: percentile(runTimes, 95),
      gatewayCpuPerStudy: gatewayCpu / set.length,
      peersCpuPerStudy: peersCpu / set.length,
      runnerPeakMiB: await Promise.all(deployment.runners.map((r) => peakRssMiB(r.pid))),
      apiPeakMiB: await peakRssMiB(deployment.api.pid),
      jobsPerRunner: runsAfter.map((after, i) => after - runsBefore[i]!),
      reruns: jobs.filter((job) => Number(job.attempts) > 1).length,
      failed: jobs.length - succeeded.length + (set.length - jobs.length),
      loadAtEnd: loadavg()[0]!,
    };
  } finally {
    await deployment.stop();
  }
}

function phantomSet(firstSeed: number, count: number): SetStudy[] {
  return Array.from({ length: count }, (_, i) => {
    const study = makePhantomStudy(firstSeed + i, DEFAULT_RENDER);
    return { studyInstanceUID: study.studyInstanceUID, part10: study.images.map((image) => image.part10) };
  });
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const span = (values: number[], digits = 1) => `${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)}`;

/** The median over rounds of a variant's throughput over another's in the same round: steadier than a ratio of medians when the machine's load drifts. */
function pairedRatio(results: Map<Variant, RunResult[]>, variant: Variant, base: Variant): number {
  const runs = results.get(variant)!;
  const baseRuns = results.get(base)!;
  return median(runs.map((run, round) => run.studiesPerMinute / baseRuns[round]!.studiesPerMinute));
}

function resultTable(results: Map<Variant, RunResult[]>): string[] {
  const perMinute = (variant: Variant) => median(results.get(variant)!.map((r) => r.studiesPerMinute));
  const lines = [
    "| deployment | studies/min (median) | range over rounds | × embedded | × 1 worker | per job runner | STOW-RS of the set s | latency p50 s | latency p95 s | job run p50 s | job run p95 s | gateway CPU s/study | PostgreSQL + Redis CPU s/study | peak RSS per job runner MiB | API process peak RSS MiB | reruns / failed |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const variant of VARIANTS) {
    const runs = results.get(variant)!;
    const m = (f: (r: RunResult) => number, digits = 1) => fixed(median(runs.map(f)), digits);
    const value = perMinute(variant);
    lines.push(
      `| ${variant.name} | ${fixed(value)} | ${span(runs.map((r) => r.studiesPerMinute))} | ${fixed(pairedRatio(results, variant, VARIANTS[0]!), 2)} | ` +
        `${variant.mode === "scale-out" ? fixed(pairedRatio(results, variant, VARIANTS[1]!), 2) : ""} | ${fixed(value / variant.runners)} | ${m((r) => r.stowSeconds)} | ` +
        `${m((r) => r.latencyP50)} | ${m((r) => r.latencyP95)} | ${m((r) => r.runP50, 2)} | ${m((r) => r.runP95, 2)} | ` +
        `${m((r) => r.gatewayCpuPerStudy, 2)} | ${variant.mode === "scale-out" ? m((r) => r.peersCpuPerStudy, 3) : "–"} | ` +
        `${m((r) => Math.max(...r.runnerPeakMiB), 0)} | ${variant.mode === "scale-out" ? m((r) => r.apiPeakMiB, 0) : "(the same process)"} | ` +
        `${runs.reduce((s, r) => s + r.reruns, 0)} / ${runs.reduce((s, r) => s + r.failed, 0)} |`,
    );
  }
  return lines;
}

function roundsTable(results: Map<Variant, RunResult[]>): string[] {
  return [
    `| deployment | ${Array.from({ length: ROUNDS }, (_, r) => `round ${r + 1} studies/min`).join(" | ")} | timed jobs per job runner, each round | load average (1 min) at each run's end |`,
    `|---|${"---|".repeat(ROUNDS)}---|---|`,
    ...VARIANTS.map((variant) => {
      const runs = results.get(variant)!;
      return (
        `| ${variant.name} | ${runs.map((r) => fixed(r.studiesPerMinute)).join(" | ")} | ${runs.map((r) => r.jobsPerRunner.join("+")).join(", ")} | ` +
        `${runs.map((r) => fixed(r.loadAtEnd)).join(", ")} |`
      );
    }),
  ];
}

async function main(): Promise<void> {
  const date = execFileSync("date", ["+%F"], { encoding: "utf8" }).trim();
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const uncommitted = execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((line) => line.slice(3));
  const loadBefore = loadavg();
  const began = Date.now();
  console.error(`rendering ${STUDIES} phantom studies at ${DEFAULT_RENDER.rows}×${DEFAULT_RENDER.columns} …`);
  const set = phantomSet(FIRST_SEED, STUDIES);
  const warmUp = phantomSet(FIRST_WARM_UP_SEED, Math.max(...VARIANTS.map((v) => v.runners)));
  const images = set.reduce((sum, s) => sum + s.part10.length, 0);
  const megabytes = set.reduce((sum, s) => sum + s.part10.reduce((a, b) => a + b.length, 0), 0) / 1e6;

  const results = new Map<Variant, RunResult[]>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const variant = VARIANTS[(k + round) % VARIANTS.length]!;
      const result = await runVariant(variant, set, warmUp.slice(0, variant.runners));
      results.get(variant)!.push(result);
      console.error(
        `round ${round + 1}/${ROUNDS}, ${variant.name}: ${fixed(result.studiesPerMinute)} studies/min over ${fixed(result.windowSeconds)} s ` +
          `(STOW-RS ${fixed(result.stowSeconds)} s, jobs per runner ${result.jobsPerRunner.join("+")}, load ${loadavg().map((l) => fixed(l, 2)).join(" ")})`,
      );
    }
  }

  const minutes = (Date.now() - began) / 60_000;
  const loadAfter = loadavg();
  const embedded = median(results.get(VARIANTS[0]!)!.map((r) => r.studiesPerMinute));
  const oneWorker = median(results.get(VARIANTS[1]!)!.map((r) => r.studiesPerMinute));
  const oneWorkerPaired = pairedRatio(results, VARIANTS[1]!, VARIANTS[0]!);
  const command = `${QUICK ? "BENCH_QUICK=1 " : ""}${process.env.BENCH_STUDIES ? `BENCH_STUDIES=${STUDIES} ` : ""}${process.env.BENCH_ROUNDS ? `BENCH_ROUNDS=${ROUNDS} ` : ""}npm run bench:scale`;
  const report = [
    `# Scale-out: studies per minute with 1, 2 and 4 workers, against the embedded mode (${date}, ${QUICK ? "quick" : "full"})`,
    "",
    `${STUDIES} phantom studies per run (test seeds ${FIRST_SEED}–${FIRST_SEED + STUDIES - 1}, ${images} images, ${DEFAULT_RENDER.rows}×${DEFAULT_RENDER.columns}, ` +
      `${fixed(megabytes / STUDIES, 2)} MB a study), stored up front by ${STOW_CLIENTS} STOW-RS clients, one study per request, then reported; ` +
      `${ROUNDS === 1 ? "one round" : `median of ${ROUNDS} rounds, the variants' order rotated each round`}, every run on a fresh store and fresh processes. ` +
      `Each job runner: TRRG_JOB_CONCURRENCY=1, TRRG_INTRA_OP_THREADS=1; TRRG_JOB_QUIET_PERIOD=1s, taken out of the time. ` +
      `Scale-out: one \`serve\` API replica (loads no model) and N \`worker\` processes on PostgreSQL 15 and Redis from Debian; embedded: one \`serve\` on SQLite ` +
      `running its jobs. Tree ${commit}${uncommitted.length ? ` with uncommitted ${uncommitted.join(", ")}` : ""}, Node ${process.version}.`,
    "",
    `**Machine: ${cpus().length} cores, shared with other work during the run** (load average ${loadBefore.map((l) => fixed(l, 2)).join(" ")} at the start, ` +
      `${loadAfter.map((l) => fixed(l, 2)).join(" ")} at the end; the run took ${fixed(minutes)} min). Four single-threaded workers on two cores cannot ` +
      "scale linearly: past two, workers only take turns on the same cores. Compare the figures within this run, not across runs.",
    "",
    ...resultTable(results),
    "",
    ...roundsTable(results),
    "",
    `PostgreSQL/Redis mode against embedded at one job runner: ${fixed(oneWorker)} against ${fixed(embedded)} studies/min (medians); ` +
      `paired by round, ${fixed(oneWorkerPaired, 2)}× the embedded throughput (${fixed(Math.abs(1 - oneWorkerPaired) * 100)}% ${oneWorkerPaired <= 1 ? "fewer" : "more"} studies a minute).`,
    "",
    "Columns:",
    "- × embedded, × 1 worker: the variant's throughput over the embedded (or 1-worker) run of the same round, median over the rounds.",
    "- studies/min: studies whose job succeeded, per minute from the start of the first STOW-RS request to the last job's finished_at, less " +
      "the 1 s quiet period (no job can be due before it; the embedded runner then finds the first due job at its next poll of the store, ≤ 1 s, counted).",
    "- STOW-RS of the set: first request's start to the last response, overlapping the first jobs (the API's STOW work shares the cores with them).",
    "- latency: each study's STOW-RS response to its job's finished_at, less the quiet period. The whole set is queued at once, so this is mostly " +
      `the wait behind earlier studies and grows with the set (p50 ≈ half the run): compare variants at this set size (${STUDIES}), not with a live feed.`,
    "- job run: started_at to finished_at of one job (claim to result recorded), the time one study takes once a runner holds it.",
    "- CPU s/study: user + system CPU over the timed part, all threads; gateway = the API and job runner processes (with their children), " +
      "PostgreSQL + Redis = the postmaster with its backends, and redis-server (including the bench's own count of finished jobs, 4 a second). The bench client's own process is in neither.",
    "- peak RSS: VmHWM of the job runner processes after the run (the largest runner; each loads its own model), and of the API replica.",
    "- timed jobs per job runner: succeeded runs each process counted (its trrg_job_duration_seconds), warm-up study taken out.",
    "",
    "Caveats: PostgreSQL is the test server of test/support/postgres.ts, started with fsync=off, while SQLite in the embedded mode runs " +
      "synchronous=FULL; the PostgreSQL mode's commits are thus cheaper here than on a durable production server, and its overhead is if anything understated. " +
      "On a machine shared with other work, more processes also win a larger share of the cores from that work (the kernel shares CPU time " +
      "between processes, not deployments), which flatters the multi-worker figures. The processes run src/main.ts through tsx (the same for every " +
      "variant). Memory of PostgreSQL and Redis is not counted.",
    "",
    `Reproduce: \`${command}\` (tree ${commit}).`,
    "",
  ];
  console.log(report.join("\n"));
  const file = path.join(import.meta.dirname, "results", `scale-${date}${QUICK ? "-quick" : ""}.md`);
  await writeFile(file, report.join("\n"));
  console.error(`written to ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
