// The command line as an operator runs it: src/main.ts in its own Node process (through tsx).
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const CLI_ARGS = ["--import", "tsx", path.join(import.meta.dirname, "..", "..", "src", "main.ts")];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `trrg-gateway <args>` with extra environment variables and gives its exit code and output. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return run(process.execPath, [...CLI_ARGS, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}
