// What the suites that run real servers from Debian (Orthanc, PostgreSQL) share: installing the packages with
// apt-get where they are missing, and a free loopback port for the server to listen on.
import { spawn } from "node:child_process";
import { createServer } from "node:net";

const OUTPUT_TAIL_CHARS = 4000;

/** Runs a command, resolving with its output; rejects with the output when it exits non-zero. */
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output.slice(-OUTPUT_TAIL_CHARS)}`)),
    );
  });
}

/** apt-get as root, through sudo for anyone else. */
function aptGet(args: string[]): Promise<string> {
  const command = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", "DPkg::Lock::Timeout=300", ...args];
  return process.getuid?.() === 0 ? runCommand(command[0]!, command.slice(1)) : runCommand("sudo", ["-n", ...command]);
}

/** Installs Debian packages; a machine that never ran apt-get update has no package lists yet, so then it does. */
export async function aptInstall(packages: readonly string[]): Promise<void> {
  try {
    await aptGet(["install", "-y", "-q", ...packages]);
  } catch {
    await aptGet(["update", "-q"]);
    await aptGet(["install", "-y", "-q", ...packages]);
  }
}

/** A TCP port free on loopback right now (the server takes it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
