// A private PostgreSQL server for tests: Debian's postgresql (installed with apt-get when missing), a new cluster
// in a temporary folder, listening on a free loopback port, one database for the test. Stopped and deleted after.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { aptInstall, freePort } from "./debianPeers.js";

export interface RunningPostgres {
  /** postgres://… of the test database. */
  url: string;
  /** Stops the server (fast shutdown: connections cut, as at a failover) and starts it again on the same port. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const DEBIAN_BIN = "/usr/lib/postgresql";

function binDir(): string | undefined {
  if (!existsSync(DEBIAN_BIN)) return undefined;
  const versions = readdirSync(DEBIAN_BIN).filter((v) => existsSync(path.join(DEBIAN_BIN, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] && path.join(DEBIAN_BIN, versions[0], "bin");
}

/** Installs Debian's postgresql when its binaries are missing; returns their folder. */
export async function ensurePostgres(): Promise<string> {
  const found = binDir();
  if (found) return found;
  await aptInstall(["postgresql"]);
  const installed = binDir();
  if (!installed) throw new Error("postgresql was installed but its initdb was not found under /usr/lib/postgresql");
  return installed;
}

/** PostgreSQL refuses to run as root: as root, the server runs as Debian's postgres user. */
function asServerUser(command: string, args: string[]): string[] {
  return userInfo().uid === 0 ? ["runuser", "-u", "postgres", "--", command, ...args] : [command, ...args];
}

function run(command: string, args: string[]): void {
  const [file, ...rest] = asServerUser(command, args);
  const result = spawnSync(file!, rest, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${path.basename(command)} failed: ${result.stderr || result.stdout}`);
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = await ensurePostgres();
  const dir = await mkdtemp(path.join(tmpdir(), "trrg-postgres-"));
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    await chown(dir, uid, gid);
  }
  await chmod(dir, 0o700);
  const data = path.join(dir, "data");
  const port = await freePort();
  run(path.join(bin, "initdb"), ["-D", data, "-U", "trrg", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const start = () => run(path.join(bin, "pg_ctl"), ["-D", data, "-l", path.join(dir, "log"), "-w", "-o", `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, "start"]);
  start();
  run(path.join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "trrg", "trrg"]);
  return {
    url: `postgres://trrg@127.0.0.1:${port}/trrg`,
    async restart(downMs = 0) {
      run(path.join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      start();
    },
    async stop() {
      run(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
