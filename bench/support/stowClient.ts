// What the STOW-RS benchmarks share: trrg-gateway run as its own process from the built CLI (so its memory is
// measured alone), a token from its embedded authorization server, a streaming STOW-RS client, and the
// arithmetic of throughput and medians.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

const BOUNDARY = "benchBoundary7d3f";

export interface GatewayProcess {
  child: ChildProcess;
  port: number;
  dataDir: string;
}

/** A STOW-RS service: its loopback port, its store path (e.g. /dicomweb/studies) and the Authorization to send. */
export interface StowTarget {
  port: number;
  path: string;
  authorization?: string;
}

/** A token for the demo client the server registered on first start (as the README's `token` command does). */
export async function gatewayToken(gateway: GatewayProcess): Promise<string> {
  const clients = JSON.parse(await readFile(path.join(gateway.dataDir, "oauth-clients.json"), "utf8")) as { client_id: string; client_secret: string }[];
  const demo = clients.find((client) => client.client_id === "trrg-cli")!;
  const res = await fetch(`http://127.0.0.1:${gateway.port}/oauth2/token`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Authorization: `Basic ${Buffer.from(`${demo.client_id}:${demo.client_secret}`).toString("base64")}`,
    },
    body: "grant_type=client_credentials&scope=system%2FImagingStudy.c",
  });
  if (!res.ok) throw new Error(`token request failed: HTTP ${res.status}`);
  return `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
}

/** Starts `dist/src/main.js serve` on a fresh data folder; `env` adds or overrides TRRG_* settings. */
export async function startGateway(port: number, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "trrg-bench-"));
  const child = spawn(process.execPath, ["dist/src/main.js", "serve"], {
    env: { ...process.env, TRRG_DATA_DIR: dataDir, TRRG_PORT: String(port), TRRG_LOG_LEVEL: "warn", TRRG_STORAGE_MIN_FREE: "1GiB", ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/readyz`);
      return { child, port, dataDir };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  child.kill("SIGKILL");
  throw new Error("server did not start");
}

export async function stopGateway(gateway: GatewayProcess): Promise<void> {
  const exited = new Promise((resolve) => gateway.child.once("exit", resolve));
  gateway.child.kill("SIGTERM");
  await exited;
  await rm(gateway.dataDir, { recursive: true, force: true });
}

/** POSTs instances as one multipart/related request, writing each instance without concatenating them. */
export function stowRequest(target: StowTarget, instances: Iterable<Buffer>): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: target.port,
        path: target.path,
        method: "POST",
        headers: {
          "Content-Type": `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
          ...(target.authorization ? { Authorization: target.authorization } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode} from ${target.path}`))));
      },
    );
    req.on("error", reject);
    const head = Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
    const iterator = instances[Symbol.iterator]();
    const writeNext = () => {
      for (;;) {
        const next = iterator.next();
        if (next.done) {
          req.end(`--${BOUNDARY}--\r\n`);
          return;
        }
        req.write(head);
        req.write(next.value);
        if (!req.write("\r\n")) {
          req.once("drain", writeNext);
          return;
        }
      }
    };
    writeNext();
  });
}

export interface Throughput {
  instancesPerSecond: number;
  megabytesPerSecond: number;
}

/** Throughput of `count` instances of `bytes` each, moved since `started` (process.hrtime.bigint()). */
export function throughputSince(started: bigint, count: number, bytes: number): Throughput {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { instancesPerSecond: count / seconds, megabytesPerSecond: (count * bytes) / 1e6 / seconds };
}

/** CPU time a process has used so far (user and system, all its threads), in seconds, from /proc/PID/stat. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: /proc counts CPU time in these ticks, 100 a second on Linux whatever the kernel's own tick. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Starts each measurement from a quiet disk: nothing dirty, background write-back and journal work done. */
export async function settle(): Promise<void> {
  execFileSync("sync");
  await new Promise((resolve) => setTimeout(resolve, 1000));
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
