// Memory of a running process as the kernel counts it, for benchmarks that compare servers run as processes.
import { readFile } from "node:fs/promises";

/** Peak resident set size of a process (VmHWM in /proc/PID/status), in MiB. */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kilobytes = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  if (kilobytes === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kilobytes) / 1024;
}
