// STOW-RS benchmark: throughput for 1, 8 and 32 concurrent clients sending 2 MB and 10 MB instances (one
// instance per request), compared side by side with four peers on the same machine and disk: `cp` of the same
// files, `cp` followed by `sync` (durable, as STOW-RS is), the same files written and fsynced one by one by as
// many writers as there are clients (the floor of any store that acknowledges an instance only once it is on
// disk, with no HTTP, parsing or index at all), and an HTTP server that only reads and discards the same requests
// (the ceiling of any HTTP upload here); then the server's peak memory as one request grows from 10 MB to 1 GB.
// The server runs as its own process (the built CLI), so its memory is measured alone.
//
//   npm run bench:stow            (BENCH_QUICK=1 for a short run, BENCH_ROUNDS=N to set the rounds)
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, open, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeInstance } from "../test/fixtures/dicomFactory.js";
import { peakRssMiB } from "../test/support/processMemory.js";
import {
  gatewayToken,
  median,
  settle,
  startGateway,
  stopGateway,
  stowRequest,
  throughputSince,
  type GatewayProcess,
  type Throughput,
} from "./support/stowClient.js";

const QUICK = process.env.BENCH_QUICK === "1";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 8));
const TEMPLATE_UID = "2.25.1000000000000000000000000000000000000";

/** The bearer token every request carries: the real path, token validation and audit record included. */
let authorization = "";

async function startServer(port: number): Promise<GatewayProcess> {
  const server = await startGateway(port);
  authorization = await gatewayToken(server);
  return server;
}

/** The discarding HTTP server (bench/discardServer.ts), a peer that does no work but receive. */
async function startDiscardServer(port: number): Promise<ChildProcess> {
  const child = fork(path.join(import.meta.dirname, "discardServer.ts"), [String(port)], { execArgv: ["--import", "tsx"] });
  await once(child, "message");
  return child;
}

/** A template instance of about `megabytes` MB whose SOP Instance UID can be rewritten in place. */
function template(megabytes: number): Buffer {
  const side = Math.round(Math.sqrt((megabytes * 1e6) / 2));
  return makeInstance({ rows: side, columns: side, sopInstanceUID: TEMPLATE_UID, seed: megabytes });
}

/** Copies of the template, each with its own SOP Instance UID (same length, patched in meta and data set). */
function* variants(base: Buffer, count: number, run: number): Generator<Buffer> {
  const positions: number[] = [];
  for (let at = base.indexOf(TEMPLATE_UID); at >= 0; at = base.indexOf(TEMPLATE_UID, at + 1)) positions.push(at);
  for (let i = 0; i < count; i++) {
    const copy = Buffer.from(base);
    const suffix = `${run}${String(i).padStart(8, "0")}`;
    const uid = TEMPLATE_UID.slice(0, TEMPLATE_UID.length - suffix.length) + suffix;
    for (const at of positions) copy.write(uid, at, "latin1");
    yield copy;
  }
}

/** One STOW-RS request to the trrg-gateway (or the discard peer) under test, with the current token. */
function store(port: number, instances: Iterable<Buffer>): Promise<void> {
  return stowRequest({ port, path: "/dicomweb/studies", authorization }, instances);
}

async function measureStow(port: number, base: Buffer, clients: number, perClient: number, run: number): Promise<Throughput> {
  const batches = Array.from({ length: clients }, (_, c) => [...variants(base, perClient, run * 100 + c)]);
  // Warm-up, untimed: one request per client opens its connection and wakes the server after the idle settle.
  await Promise.all([...variants(base, clients, run * 100 + 99)].map((instance) => store(port, [instance])));
  const started = process.hrtime.bigint();
  await Promise.all(
    batches.map(async (batch) => {
      for (const instance of batch) await store(port, [instance]);
    }),
  );
  return throughputSince(started, clients * perClient, base.length);
}

async function measureCp(base: Buffer, count: number, run: number, withSync: boolean): Promise<Throughput> {
  const root = await mkdtemp(path.join(tmpdir(), "trrg-bench-cp-"));
  try {
    await mkdir(path.join(root, "src"));
    let i = 0;
    for (const instance of variants(base, count, run)) await writeFile(path.join(root, "src", `${i++}.dcm`), instance);
    execFileSync("sync");
    const started = process.hrtime.bigint();
    execFileSync("cp", ["-r", path.join(root, "src"), path.join(root, "dst")]);
    if (withSync) execFileSync("sync", ["-f", path.join(root, "dst")]);
    return throughputSince(started, count, base.length);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Each of `clients` writers creates, writes and fsyncs its files one after another, as a durable store must. */
async function measureDurableWrites(base: Buffer, clients: number, perClient: number, run: number): Promise<Throughput> {
  const root = await mkdtemp(path.join(tmpdir(), "trrg-bench-fsync-"));
  try {
    const batches = Array.from({ length: clients }, (_, c) => [...variants(base, perClient, run * 100 + c)]);
    const started = process.hrtime.bigint();
    await Promise.all(
      batches.map(async (batch, c) => {
        for (const [i, instance] of batch.entries()) {
          const file = await open(path.join(root, `${c}-${i}.dcm`), "wx");
          await file.write(instance);
          await file.sync();
          await file.close();
        }
      }),
    );
    return throughputSince(started, clients * perClient, base.length);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function throughputTable(): Promise<void> {
  console.log("\n## Throughput (median of %d rounds)\n", ROUNDS);
  console.log(
    "| instance | clients | instances | STOW-RS inst/s | STOW-RS MB/s | HTTP discard MB/s | cp MB/s | cp+sync MB/s | write+fsync MB/s | STOW/discard | STOW/cp | STOW/(cp+sync) | STOW/(write+fsync) | (write+fsync)/cp |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  const server = await startServer(18181);
  const discard = await startDiscardServer(18183);
  try {
    for (const megabytes of [2, 10]) {
      const base = template(megabytes);
      for (const clients of [1, 8, 32]) {
        const total = QUICK ? Math.max(clients, 16) : megabytes === 2 ? 192 : 64;
        const perClient = Math.max(1, Math.round(total / clients));
        const count = perClient * clients;
        const stow: Throughput[] = [];
        const cp: Throughput[] = [];
        const cpSync: Throughput[] = [];
        const sink: Throughput[] = [];
        const fsynced: Throughput[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          // Side by side: each round runs the peers back to back on the same files and disk, in an order rotated
          // each round, so that disk work left behind by one run does not always fall on the same peer.
          const runs = [
            async () => {
              authorization = await gatewayToken(server); // tokens live at most 300 s
              stow.push(await measureStow(server.port, base, clients, perClient, megabytes * 1000 + clients * 10 + round));
            },
            async () => cp.push(await measureCp(base, count, round, false)),
            async () => cpSync.push(await measureCp(base, count, round, true)),
            async () => sink.push(await measureStow(18183, base, clients, perClient, round)),
            async () => fsynced.push(await measureDurableWrites(base, clients, perClient, round)),
          ];
          for (const measure of [...runs.slice(round % runs.length), ...runs.slice(0, round % runs.length)]) {
            await settle();
            await measure();
          }
        }
        const s = median(stow.map((x) => x.megabytesPerSecond));
        const c = median(cp.map((x) => x.megabytesPerSecond));
        const cs = median(cpSync.map((x) => x.megabytesPerSecond));
        const d = median(sink.map((x) => x.megabytesPerSecond));
        const w = median(fsynced.map((x) => x.megabytesPerSecond));
        const ips = median(stow.map((x) => x.instancesPerSecond));
        console.log(
          `| ${(base.length / 1e6).toFixed(1)} MB | ${clients} | ${count} | ${ips.toFixed(1)} | ${s.toFixed(0)} | ${d.toFixed(0)} | ${c.toFixed(0)} | ${cs.toFixed(0)} | ${w.toFixed(0)} | ${(s / d).toFixed(2)} | ${(s / c).toFixed(2)} | ${(s / cs).toFixed(2)} | ${(s / w).toFixed(2)} | ${(w / c).toFixed(2)} |`,
        );
      }
    }
  } finally {
    discard.kill();
    await stopGateway(server);
  }
}

async function memoryTable(): Promise<void> {
  console.log("\n## Server peak memory (VmHWM) for one request, a fresh server per size\n");
  console.log("| request size | instances of 10 MB | peak RSS MiB | growth over idle MiB |");
  console.log("|---|---|---|---|");
  const base = template(10);
  const sizes = QUICK ? [1, 10, 30] : [1, 10, 100];
  for (const count of sizes) {
    const server = await startServer(18182);
    try {
      const idle = await peakRssMiB(server.child.pid!);
      await store(server.port, variants(base, count, count));
      const peak = await peakRssMiB(server.child.pid!);
      console.log(`| ${((count * base.length) / 1e6).toFixed(0)} MB | ${count} | ${peak.toFixed(0)} | ${(peak - idle).toFixed(0)} |`);
    } finally {
      await stopGateway(server);
    }
  }
}

async function main(): Promise<void> {
  console.log(`# STOW-RS benchmark (${new Date().toISOString()}, node ${process.version}, ${QUICK ? "quick" : "full"})`);
  await memoryTable();
  await throughputTable();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
