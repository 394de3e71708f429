// A private Redis server for tests: Debian's redis-server (installed with apt-get when missing), its data in a
// temporary folder, on a free loopback port. It can be stopped and started again on the same port (the fault
// tests restart it under load); stop() without restarting deletes the folder.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { aptInstall, freePort } from "./debianPeers.js";

export interface RunningRedis {
  /** redis://127.0.0.1:port */
  url: string;
  port: number;
  /** Kills the server (SIGKILL: as a crash, nothing saved) and starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Kills the server and leaves it down until start(). */
  kill(): Promise<void>;
  /** Starts it again after kill(); nothing when it is running. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const REDIS_SERVER = "/usr/bin/redis-server";

export async function ensureRedis(): Promise<string> {
  if (!existsSync(REDIS_SERVER)) await aptInstall(["redis-server"]);
  if (!existsSync(REDIS_SERVER)) throw new Error(`redis-server was installed but ${REDIS_SERVER} is missing`);
  return REDIS_SERVER;
}

/** Resolves once the server answers PING on the port. */
async function untilAnswers(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => socket.write("PING\r\n"));
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString().startsWith("+PONG"));
      });
      socket.once("error", () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startRedis(): Promise<RunningRedis> {
  const server = await ensureRedis();
  const dir = await mkdtemp(path.join(tmpdir(), "trrg-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    if (child && child.exitCode === null) return;
    // No persistence: a restart loses everything in Redis, the worst case the service must survive.
    child = spawn(server, ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child.stderr?.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    try {
      await untilAnswers(port);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${output}`);
    }
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    kill,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
