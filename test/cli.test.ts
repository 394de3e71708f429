// The command line as an operator runs it: the built CLI in its own process.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, CLI_ARGS } from "./support/cli.js";
import { freePort } from "./support/rawHttp.js";

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "trrg-cli-"));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("trrg-gateway command line", () => {
  it("prints usage and every setting for --help", async () => {
    const result = await cli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/trrg-gateway serve/);
    expect(result.stdout).toMatch(/TRRG_STOW_MAX_REQUEST_SIZE/);
  });

  it("refuses an unknown command with status 2", async () => {
    const result = await cli(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it("stops at start with a message naming a bad setting", async () => {
    const result = await cli(["serve"], { TRRG_PORT: "eighty", TRRG_DATA_DIR: dataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/TRRG_PORT: expected an integer/);
  });

  it("refuses to start on a model set that does not check out, saying why", async () => {
    const result = await cli(["serve"], { TRRG_DATA_DIR: dataDir, TRRG_MODEL_DIR: path.join(dataDir, "no-model") });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/model manifest .*no-model.*manifest\.json cannot be read \(ENOENT\)/);
  });

  it("reports a port already in use instead of hanging", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await cli(["serve"], { TRRG_PORT: String(port), TRRG_DATA_DIR: dataDir, TRRG_LOG_LEVEL: "silent" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it("serves on its embedded defaults: token from the embedded server, a protected route, audit verify", async () => {
    const port = await freePort();
    const env = { TRRG_PORT: String(port), TRRG_DATA_DIR: dataDir };
    const child = spawn(process.execPath, [...CLI_ARGS, "serve"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let logs = "";
    child.stdout.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    try {
      let ready: Response | undefined;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ready?.status).toBe(200);
      expect(await ready?.json()).toEqual({ status: "ready", checks: { database: "ok", storage: "ok" } });
      expect((await fetch(`http://127.0.0.1:${port}/dicomweb/studies`)).status).toBe(401);

      // The README flow: the demo client created on first start, a token from the CLI, then a protected route.
      const token = await cli(["token", "--client", "trrg-cli"], env);
      expect(token.code).toBe(0);
      expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const studies = await fetch(`http://127.0.0.1:${port}/dicomweb/studies`, { headers: { Authorization: `Bearer ${token.stdout.trim()}` } });
      expect(studies.status).toBe(200);
      const smart = await fetch(`http://127.0.0.1:${port}/.well-known/smart-configuration`);
      expect(((await smart.json()) as { token_endpoint: string }).token_endpoint).toBe(`http://127.0.0.1:${port}/oauth2/token`);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
    const lines = logs.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.some((line) => line.msg === "trrg-gateway listening")).toBe(true);
    expect(lines.find((line) => line.route === "/readyz")).toMatchObject({ method: "GET", status: 200 });

    const verified = await cli(["audit", "verify"], env);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/ok/i);

    // Someone with access to the database file edits a record behind the service's back.
    const db = new Database(path.join(dataDir, "trrg.sqlite"));
    db.exec("DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;");
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as { name: string }[]) {
      db.exec(`DROP TRIGGER ${name}`);
    }
    const events = db.prepare("SELECT event FROM audit_events ORDER BY seq").all() as { event: string }[];
    const codes = events.map(({ event }) => (JSON.parse(event) as { subtype?: { code: string }[] }).subtype?.[0]?.code);
    expect(codes[0]).toBe("110120"); // Application Start
    expect(codes.at(-1)).toBe("110121"); // Application Stop
    db.prepare(
      "UPDATE audit_events SET event = replace(event, '\"outcome\":\"4\"', '\"outcome\":\"0\"') WHERE seq = (SELECT min(seq) FROM audit_events WHERE outcome = '4')",
    ).run();
    db.close();
    const tampered = await cli(["audit", "verify"], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout + tampered.stderr).toMatch(/hash-mismatch|index-mismatch/);
  });
});
