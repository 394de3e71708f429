// A real PACS for interoperability tests and benchmarks: Debian's Orthanc with its DICOMweb plugin, installed on
// first use, run as a child process on a configuration and storage of its own in a temporary folder.
// Orthanc binds all interfaces: callers only ever send traffic to 127.0.0.1.
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { peakRssMiB } from "./processMemory.js";
import { aptInstall, freePort, runCommand } from "./debianPeers.js";

const ORTHANC_BINARY = "/usr/sbin/Orthanc";
const PACKAGES = ["orthanc", "orthanc-dicomweb"];
const DICOMWEB_ROOT = "/dicom-web/";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_CHARS = 4000;

/** A DICOMweb server that Orthanc's own DICOMweb client may send to (the plugin's `DicomWeb.Servers`). */
export interface DicomWebPeer {
  /** Base URL of the peer's DICOMweb service, e.g. http://127.0.0.1:8080/dicomweb */
  url: string;
  /** Sent with every request to the peer, e.g. { Authorization: "Bearer …" }. */
  httpHeaders?: Record<string, string>;
}

export interface OrthancOptions {
  /** DICOMweb peers by the name used in /dicom-web/servers/{name}/…. */
  peers?: Record<string, DicomWebPeer>;
}

export interface RunningOrthanc {
  /** Orthanc's REST API, e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  /** Its DICOMweb service (QIDO-RS, WADO-RS, STOW-RS at `${dicomwebUrl}/studies`). */
  dicomwebUrl: string;
  pid: number;
  /** Orthanc's version, from GET /system. */
  version: string;
  /** The DICOMweb plugin's version and the file it was loaded from. */
  dicomweb: { version: string; plugin: string };
  /** Peak resident set size of the Orthanc process so far, in MiB. */
  peakRssMiB(): Promise<number>;
  /** The end of Orthanc's log, to explain a failed call. */
  logTail(): Promise<string>;
  /** Stops Orthanc and deletes its configuration and storage. */
  stop(): Promise<void>;
}

/** What Orthanc answers to POST /instances. */
export interface OrthancInstance {
  ID: string;
  ParentStudy: string;
  Status: "Success" | "AlreadyStored";
}

/** Orthanc's answer to one REST call, whatever its status: a failed call is for the test to judge. */
export interface OrthancAnswer {
  status: number;
  body: unknown;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** The DICOMweb plugin's shared library, from the package's own file list; undefined when not installed. */
async function dicomwebPluginPath(): Promise<string | undefined> {
  const files = await runCommand("dpkg", ["-L", "orthanc-dicomweb"]).catch(() => "");
  const libraries = files.split("\n").filter((file) => /\/libOrthancDicomWeb\.so(\.[\d.]+)?$/.test(file));
  // Prefer the unversioned name in the plugins folder, as Debian's own /etc/orthanc/orthanc.json does.
  return libraries.find((file) => file.endsWith(".so")) ?? libraries[0];
}

/**
 * Installs Orthanc and its DICOMweb plugin from Debian where they are missing. The package's postinst may start
 * the system service (Docker images deny it through policy-rc.d): it is stopped again, and would not matter
 * anyway, as the instances here run on their own ports and storage.
 */
async function installOrthanc(): Promise<void> {
  await aptInstall(PACKAGES);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const [command, ...args] = [...sudo, "service", "orthanc", "stop"];
  await runCommand(command!, args).catch(() => undefined);
}

/** The Orthanc binary and DICOMweb plugin, installed first if either is missing. */
export async function ensureOrthanc(): Promise<{ binary: string; plugin: string }> {
  let plugin = await dicomwebPluginPath();
  if (!plugin || !(await exists(ORTHANC_BINARY))) {
    await installOrthanc();
    plugin = await dicomwebPluginPath();
  }
  if (!plugin || !(await exists(ORTHANC_BINARY))) throw new Error(`Orthanc is not usable after installing ${PACKAGES.join(" ")}`);
  return { binary: ORTHANC_BINARY, plugin };
}

function orthancConfiguration(storageDir: string, httpPort: number, dicomPort: number, plugin: string, peers: Record<string, DicomWebPeer>) {
  const servers = Object.fromEntries(
    Object.entries(peers).map(([name, peer]) => [
      name,
      // The plugin appends "studies" and the like to Url: it must end with a slash.
      { Url: peer.url.endsWith("/") ? peer.url : `${peer.url}/`, HttpHeaders: peer.httpHeaders ?? {} },
    ]),
  );
  return {
    Name: "trrg-interop",
    StorageDirectory: storageDir,
    IndexDirectory: storageDir,
    HttpPort: httpPort,
    // The DICOM (DIMSE) server is not used: only DICOMweb. Its port is a free one all the same.
    DicomServerEnabled: false,
    DicomPort: dicomPort,
    // Loopback only, and so no authentication needed (Orthanc's default ties one to the other).
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    SaveJobs: false,
    // fsync each stored file, Orthanc's default since 1.7.4, said here as benchmarks compare durable stores.
    SyncStorageArea: true,
    Plugins: [plugin],
    DicomWeb: { Enable: true, Root: DICOMWEB_ROOT, EnableWado: false, Ssl: false, Servers: servers },
  };
}

async function logTail(logFile: string): Promise<string> {
  const log = await readFile(logFile, "utf8").catch(() => "");
  return log.slice(-LOG_TAIL_CHARS);
}

/** Waits until GET /system answers, failing early if Orthanc exits. */
async function waitUntilUp(baseUrl: string, exited: Promise<number | null>): Promise<{ Version: string }> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`Orthanc exited with ${exitCode} while starting`);
    try {
      const res = await fetch(`${baseUrl}/system`);
      if (res.ok) return (await res.json()) as { Version: string };
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Orthanc did not answer GET /system within ${START_TIMEOUT_MS / 1000} s`);
}

/** Starts a fresh Orthanc with the DICOMweb plugin on free loopback ports; install it first if needed. */
export async function startOrthanc(options: OrthancOptions = {}): Promise<RunningOrthanc> {
  const { binary, plugin } = await ensureOrthanc();
  const dir = await mkdtemp(path.join(tmpdir(), "trrg-orthanc-"));
  const httpPort = await freePort();
  const configFile = path.join(dir, "orthanc.json");
  await writeFile(configFile, JSON.stringify(orthancConfiguration(path.join(dir, "storage"), httpPort, await freePort(), plugin, options.peers ?? {}), null, 2));
  const logFile = path.join(dir, "orthanc.log");
  const log = openSync(logFile, "w");
  const child = spawn(binary, [configFile], { stdio: ["ignore", log, log] });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    const system = await waitUntilUp(baseUrl, exited);
    const dicomweb = (await (await fetch(`${baseUrl}/plugins/dicom-web`)).json()) as { Version: string };
    return {
      baseUrl,
      dicomwebUrl: `${baseUrl}${DICOMWEB_ROOT.replace(/\/$/, "")}`,
      pid: child.pid!,
      version: system.Version,
      dicomweb: { version: dicomweb.Version, plugin },
      peakRssMiB: () => peakRssMiB(child.pid!),
      logTail: () => logTail(logFile),
      stop,
    };
  } catch (error) {
    const tail = await logTail(logFile);
    await stop();
    throw new Error(`${(error as Error).message}; Orthanc's log ends:\n${tail}`, { cause: error });
  }
}

/** Stores one DICOM Part 10 file in Orthanc through its REST API (POST /instances). */
export async function uploadToOrthanc(orthanc: RunningOrthanc, part10: Buffer): Promise<OrthancInstance> {
  const res = await fetch(`${orthanc.baseUrl}/instances`, { method: "POST", headers: { "Content-Type": "application/dicom" }, body: part10 });
  if (!res.ok) throw new Error(`Orthanc refused the instance: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as OrthancInstance;
}

/**
 * Asks Orthanc's DICOMweb client to send resources (Orthanc's own study, series or instance IDs) to the
 * configured server `serverName` over STOW-RS, and to answer only once it has (POST /dicom-web/servers/{name}/stow).
 */
export async function orthancStowTo(orthanc: RunningOrthanc, serverName: string, resources: string[]): Promise<OrthancAnswer> {
  const res = await fetch(`${orthanc.dicomwebUrl}/servers/${encodeURIComponent(serverName)}/stow`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ Resources: resources, Synchronous: true }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: res.status, body };
}
