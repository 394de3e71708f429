// STOW-RS against a real PACS: the same phantom chest X-rays stored one instance per request (multipart/related;
// type="application/dicom", PS3.18 §10.5) into trrg-gateway and into Debian's Orthanc with its DICOMweb plugin, at
// 1 to 32 concurrent clients, in one run on the same machine and disk. Each round runs every client count on both
// servers, the one going first alternating; the table gives medians over the rounds, and each server's peak memory
// (VmHWM of its own process). Both stores are durable: each fsyncs an instance before it answers.
//
//   npm run bench:stow-vs-orthanc    (BENCH_QUICK=1 for a short run, BENCH_ROUNDS=N to set the rounds)
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_RENDER, makePhantomStudy } from "../src/phantom/study.js";
import { startOrthanc, type RunningOrthanc } from "../test/support/orthanc.js";
import { peakRssMiB } from "../test/support/processMemory.js";
import {
  gatewayToken,
  median,
  processCpuSeconds,
  settle,
  startGateway,
  stopGateway,
  stowRequest,
  throughputSince,
  type GatewayProcess,
  type StowTarget,
  type Throughput,
} from "./support/stowClient.js";

const QUICK = process.env.BENCH_QUICK === "1";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 5));
const INSTANCES = QUICK ? 48 : 256;
const CLIENT_COUNTS = [1, 2, 4, 8, 16, 32];
const GATEWAY_PORT = 18191;
const FIRST_SEED = 4_000_001;
/** Digits at the end of every UID rewritten for each measurement, so that every store is of new instances. */
const SUFFIX_DIGITS = 6;

/** One file of the phantom set and where its Study, Series and SOP Instance UIDs lie in it. */
interface SetInstance {
  part10: Buffer;
  uids: { uid: string; positions: number[] }[];
}

interface Peer {
  name: "trrg-gateway" | "Orthanc";
  pid: number;
  /** Where to send, with a fresh token where one is needed (trrg-gateway's live at most 300 s). */
  target(): Promise<StowTarget>;
  throughput: Map<number, Measurement[]>;
  idleRssMiB: number;
}

/** One timed store of the set: its throughput and the server's CPU time per instance, in milliseconds. */
interface Measurement extends Throughput {
  cpuMsPerInstance: number;
}

/** The files of the phantom set and the UIDs to rewrite in each: its Study, Series and SOP Instance UIDs. */
type SetManifest = { file: string; uids: string[] }[];

/** Phantom studies rendered as a PACS would send them, written once to `dir`, until there are `count` files. */
async function writePhantomSet(dir: string, count: number): Promise<void> {
  const manifest: SetManifest = [];
  for (let seed = FIRST_SEED; manifest.length < count; seed++) {
    const study = makePhantomStudy(seed, DEFAULT_RENDER);
    for (const image of study.images.slice(0, count - manifest.length)) {
      const file = `${String(manifest.length).padStart(5, "0")}.dcm`;
      await writeFile(path.join(dir, file), image.part10);
      manifest.push({ file, uids: [study.studyInstanceUID, image.seriesInstanceUID, image.sopInstanceUID] });
    }
  }
  await writeFile(path.join(dir, "manifest.json"), JSON.stringify(manifest));
}

function positionsOf(part10: Buffer, uid: string): number[] {
  const positions: number[] = [];
  for (let at = part10.indexOf(uid, 0, "latin1"); at >= 0; at = part10.indexOf(uid, at + 1, "latin1")) positions.push(at);
  return positions;
}

async function readPhantomSet(dir: string): Promise<SetInstance[]> {
  const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as SetManifest;
  return Promise.all(
    manifest.map(async ({ file, uids }) => {
      const part10 = await readFile(path.join(dir, file));
      return { part10, uids: uids.map((uid) => ({ uid, positions: positionsOf(part10, uid) })) };
    }),
  );
}

/** A copy whose UIDs end in the measurement's number: same lengths, so nothing else in the file moves. */
function variant(instance: SetInstance, measurement: number): Buffer {
  const copy = Buffer.from(instance.part10);
  const suffix = String(measurement).padStart(SUFFIX_DIGITS, "0");
  for (const { uid, positions } of instance.uids) {
    for (const at of positions) copy.write(uid.slice(0, -SUFFIX_DIGITS) + suffix, at, "latin1");
  }
  return copy;
}

let measurements = 0;

/** Stores the whole set once through `clients` concurrent clients, each sending its next instance when answered. */
async function measure(peer: Peer, set: SetInstance[], clients: number): Promise<Measurement> {
  const target = await peer.target();
  // Warm-up, untimed: one request per client opens its connection and wakes the server after the idle settle.
  const warmUp = ++measurements;
  await Promise.all(set.slice(0, clients).map((instance) => stowRequest(target, [variant(instance, warmUp)])));
  const copies = set.map((instance) => variant(instance, ++measurements));
  let next = 0;
  const cpuBefore = await processCpuSeconds(peer.pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < copies.length) await stowRequest(target, [copies[next++]!]);
    }),
  );
  const bytes = copies.reduce((sum, copy) => sum + copy.length, 0) / copies.length;
  const throughput = throughputSince(started, copies.length, bytes);
  const cpuSeconds = (await processCpuSeconds(peer.pid)) - cpuBefore;
  return { ...throughput, cpuMsPerInstance: (cpuSeconds * 1000) / copies.length };
}

async function gatewayPeer(gateway: GatewayProcess): Promise<Peer> {
  return {
    name: "trrg-gateway",
    pid: gateway.child.pid!,
    target: async () => ({ port: gateway.port, path: "/dicomweb/studies", authorization: await gatewayToken(gateway) }),
    throughput: new Map(),
    idleRssMiB: await peakRssMiB(gateway.child.pid!),
  };
}

async function orthancPeer(orthanc: RunningOrthanc): Promise<Peer> {
  return {
    name: "Orthanc",
    pid: orthanc.pid,
    target: async () => ({ port: Number(new URL(orthanc.baseUrl).port), path: "/dicom-web/studies" }),
    throughput: new Map(),
    idleRssMiB: await orthanc.peakRssMiB(),
  };
}

async function runRounds(peers: [Peer, Peer], set: SetInstance[]): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [level, clients] of CLIENT_COUNTS.entries()) {
      // Who goes first alternates, so disk work one leaves behind does not always fall on the same server.
      const order = (round + level) % 2 === 0 ? peers : ([peers[1], peers[0]] as const);
      for (const peer of order) {
        await settle();
        const result = await measure(peer, set, clients);
        peer.throughput.set(clients, [...(peer.throughput.get(clients) ?? []), result]);
        console.error(
          `round ${round + 1}/${ROUNDS}, ${clients} clients, ${peer.name}: ${result.instancesPerSecond.toFixed(1)} inst/s, ${result.cpuMsPerInstance.toFixed(1)} ms CPU/inst`,
        );
      }
    }
  }
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const range = (values: number[]) => `${fixed(Math.min(...values))}–${fixed(Math.max(...values))}`;

function throughputTable(trrg: Peer, orthanc: Peer): string[] {
  const lines = [
    `| clients | trrg-gateway inst/s | Orthanc inst/s | trrg/Orthanc | trrg-gateway MB/s | Orthanc MB/s | trrg-gateway range inst/s | Orthanc range inst/s | trrg-gateway CPU ms/inst | Orthanc CPU ms/inst |`,
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const clients of CLIENT_COUNTS) {
    const t = trrg.throughput.get(clients)!;
    const o = orthanc.throughput.get(clients)!;
    const ti = median(t.map((x) => x.instancesPerSecond));
    const oi = median(o.map((x) => x.instancesPerSecond));
    lines.push(
      `| ${clients} | ${fixed(ti)} | ${fixed(oi)} | ${fixed(ti / oi, 2)} | ${fixed(median(t.map((x) => x.megabytesPerSecond)), 0)} | ${fixed(median(o.map((x) => x.megabytesPerSecond)), 0)} | ${range(t.map((x) => x.instancesPerSecond))} | ${range(o.map((x) => x.instancesPerSecond))} | ${fixed(median(t.map((x) => x.cpuMsPerInstance)))} | ${fixed(median(o.map((x) => x.cpuMsPerInstance)))} |`,
    );
  }
  return lines;
}

async function memoryTable(trrg: Peer, orthanc: Peer): Promise<string[]> {
  const peaks = { trrg: await peakRssMiB(trrg.pid), orthanc: await peakRssMiB(orthanc.pid) };
  return [
    "| server | VmHWM after start MiB | VmHWM after the run MiB | growth MiB |",
    "|---|---|---|---|",
    `| trrg-gateway | ${fixed(trrg.idleRssMiB, 0)} | ${fixed(peaks.trrg, 0)} | ${fixed(peaks.trrg - trrg.idleRssMiB, 0)} |`,
    `| Orthanc | ${fixed(orthanc.idleRssMiB, 0)} | ${fixed(peaks.orthanc, 0)} | ${fixed(peaks.orthanc - orthanc.idleRssMiB, 0)} |`,
    `| trrg/Orthanc | ${fixed(trrg.idleRssMiB / orthanc.idleRssMiB, 2)} | ${fixed(peaks.trrg / peaks.orthanc, 2)} | |`,
  ];
}

async function main(): Promise<void> {
  const started = new Date();
  const work = await mkdtemp(path.join(tmpdir(), "trrg-bench-vs-orthanc-"));
  let gateway: GatewayProcess | undefined;
  let orthanc: RunningOrthanc | undefined;
  try {
    const setDir = path.join(work, "set");
    await mkdir(setDir);
    await writePhantomSet(setDir, INSTANCES);
    const set = await readPhantomSet(setDir);
    const meanMB = set.reduce((sum, instance) => sum + instance.part10.length, 0) / set.length / 1e6;
    // Report jobs are held off (TRRG_JOB_QUIET_PERIOD): the model would otherwise report the stored studies on the
    // same cores mid-measurement, and Orthanc does no such work. No rate limit: Orthanc has none either.
    gateway = await startGateway(GATEWAY_PORT, { TRRG_JOB_QUIET_PERIOD: "24h", TRRG_RATE_LIMIT: "0" });
    orthanc = await startOrthanc();
    const peers: [Peer, Peer] = [await gatewayPeer(gateway), await orthancPeer(orthanc)];
    await runRounds(peers, set);
    const report = [
      `# STOW-RS: trrg-gateway against Orthanc (${started.toISOString()}, ${QUICK ? "quick" : "full"})`,
      "",
      `${set.length} phantom chest X-rays (DX/CR, ${DEFAULT_RENDER.rows}×${DEFAULT_RENDER.columns}, ${fixed(meanMB, 2)} MB each on average), ` +
        `stored one instance per STOW-RS request by 1 to 32 concurrent clients over loopback; median of ${ROUNDS} rounds, the server going first ` +
        `alternating. Node ${process.version}, ${cpus().length} cores; Orthanc ${orthanc.version} with DICOMweb plugin ${orthanc.dicomweb.version} ` +
        `(${orthanc.dicomweb.plugin}), SyncStorageArea on, default HTTP threads; trrg-gateway from dist/src/main.js serve, every request with a ` +
        "real token and audited, report jobs held off, no rate limit.",
      "",
      "## Throughput",
      "",
      ...throughputTable(peers[0], peers[1]),
      "",
      "CPU ms/inst: the CPU time of the server's process (user and system, all threads) over the timed store, per instance.",
      "",
      "## Peak memory (VmHWM of each server process)",
      "",
      ...(await memoryTable(peers[0], peers[1])),
      "",
      "trrg-gateway's VmHWM after start includes its report model, loaded at start whether or not jobs run.",
      "",
    ];
    console.log(report.join("\n"));
    const file = path.join(import.meta.dirname, "results", `stow-vs-orthanc-${started.toISOString().slice(0, 10)}${QUICK ? "-quick" : ""}.md`);
    await writeFile(file, report.join("\n"));
    console.error(`written to ${path.relative(process.cwd(), file)}`);
  } finally {
    if (gateway) await stopGateway(gateway);
    await orthanc?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
