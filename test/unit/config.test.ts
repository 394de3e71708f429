import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_TARGET_SCOPE, loadConfig, parseByteSize, parseDuration, SETTINGS_HELP } from "../../src/config.js";

describe("loadConfig", () => {
  it("gives the embedded defaults: loopback 8080, SQLite and files under ./data", () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ host: "127.0.0.1", port: 8080, publicUrl: undefined });
    expect(config.dataDir).toBe(path.resolve("data"));
    expect(config.database.sqlitePath).toBe(path.resolve("data", "trrg.sqlite"));
    expect(config.storage.instancesDir).toBe(path.resolve("data", "instances"));
    expect(config.stow.acceptedSopClasses).toBe("any");
  });

  it("keeps the store in SQLite unless a PostgreSQL URL is given, and refuses another kind of URL", () => {
    expect(loadConfig({}).database.postgresUrl).toBeUndefined();
    expect(loadConfig({ TRRG_DATABASE_URL: "postgres://trrg@127.0.0.1:5432/trrg" }).database.postgresUrl).toBe("postgres://trrg@127.0.0.1:5432/trrg");
    expect(() => loadConfig({ TRRG_DATABASE_URL: "mysql://db/trrg" })).toThrow(/TRRG_DATABASE_URL: expected a PostgreSQL connection URL/);
  });

  it("dispatches jobs over Redis only when a Redis URL is given, and refuses another kind of URL", () => {
    expect(loadConfig({}).jobs.redisUrl).toBeUndefined();
    expect(loadConfig({}).jobs.workerPort).toBe(9464);
    expect(loadConfig({ TRRG_REDIS_URL: "redis://127.0.0.1:6379/2", TRRG_WORKER_PORT: "9500" }).jobs).toMatchObject({ redisUrl: "redis://127.0.0.1:6379/2", workerPort: 9500 });
    expect(() => loadConfig({ TRRG_REDIS_URL: "http://cache:6379" })).toThrow(/TRRG_REDIS_URL: expected a Redis URL/);
    expect(() => loadConfig({ TRRG_WORKER_PORT: "70000" })).toThrow(/TRRG_WORKER_PORT/);
    expect(loadConfig({ TRRG_REDIS_PREFIX: "site-a" }).jobs.redisPrefix).toBe("site-a");
    expect(() => loadConfig({ TRRG_REDIS_PREFIX: "a:b" })).toThrow(/TRRG_REDIS_PREFIX/);
  });

  it("leaves /metrics open unless a scrape token is set, and refuses a token too short or a header cannot carry", () => {
    expect(loadConfig({}).metrics).toEqual({ bearerToken: undefined });
    expect(loadConfig({ TRRG_METRICS_BEARER: "scrape-Token_0123456789~+/==" }).metrics.bearerToken).toBe("scrape-Token_0123456789~+/==");
    expect(() => loadConfig({ TRRG_METRICS_BEARER: "short-token" })).toThrow(/TRRG_METRICS_BEARER: expected a bearer token of at least 16 characters/);
    expect(() => loadConfig({ TRRG_METRICS_BEARER: "with a space 0123456789" })).toThrow(/TRRG_METRICS_BEARER/);
    expect(SETTINGS_HELP.map(([name]) => name)).toContain("TRRG_METRICS_BEARER");
  });

  it("reads the UPS settings: the performer's codes as CODE^SCHEME, and refuses a bad AE title or code list", () => {
    const ups = loadConfig({ TRRG_UPS_WORKITEM_CODES: "110005^DCM, CXR-REPORT^99TRRG", TRRG_UPS_AE_TITLE: "AI_MANAGER" }).ups;
    expect(ups.workitemCodes).toEqual([{ value: "110005", scheme: "DCM" }, { value: "CXR-REPORT", scheme: "99TRRG" }]);
    expect(ups.aeTitle).toBe("AI_MANAGER");
    expect(loadConfig({}).ups).toMatchObject({ performer: true, aeTitle: "TRRG_GATEWAY", pollIntervalMs: 2000, concurrency: 2 });
    expect(() => loadConfig({ TRRG_UPS_WORKITEM_CODES: "110005" })).toThrow(/TRRG_UPS_WORKITEM_CODES: expected CODE\^SCHEME/);
    expect(() => loadConfig({ TRRG_UPS_AE_TITLE: "A".repeat(17) })).toThrow(/TRRG_UPS_AE_TITLE/);
    expect(() => loadConfig({ TRRG_UPS_AE_TITLE: "BAD\\AE" })).toThrow(/TRRG_UPS_AE_TITLE/);
  });

  it("reads sizes with units and UID lists", () => {
    const config = loadConfig({
      TRRG_STOW_MAX_PART_SIZE: "512MB",
      TRRG_STOW_MAX_REQUEST_SIZE: "2GiB",
      TRRG_STOW_SOP_CLASSES: "1.2.840.10008.5.1.4.1.1.1, 1.2.840.10008.5.1.4.1.1.1.1",
      TRRG_PUBLIC_URL: "https://pacs-gw.example.org/",
    });
    expect(config.stow.maxPartBytes).toBe(512e6);
    expect(config.stow.maxRequestBytes).toBe(2 * 2 ** 30);
    expect(config.stow.acceptedSopClasses).toEqual(new Set(["1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1"]));
    expect(config.http.publicUrl).toBe("https://pacs-gw.example.org");
  });

  it("names every bad variable in one error", () => {
    let error: unknown;
    try {
      loadConfig({ TRRG_PORT: "http", TRRG_STOW_MAX_PART_SIZE: "big", TRRG_LOG_LEVEL: "loud", TRRG_PROT: "1" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toMatch(/TRRG_PORT: expected an integer from 0 to 65535, got "http"/);
    expect(problems).toMatch(/TRRG_STOW_MAX_PART_SIZE: expected a byte size/);
    expect(problems).toMatch(/TRRG_LOG_LEVEL/);
    expect(problems).toMatch(/TRRG_PROT: unknown setting/);
  });

  it("rejects a part limit above the request limit", () => {
    expect(() => loadConfig({ TRRG_STOW_MAX_PART_SIZE: "2GB", TRRG_STOW_MAX_REQUEST_SIZE: "1GB" })).toThrow(/must not exceed/);
  });

  it("reads the job settings, durations in seconds or with a unit", () => {
    expect(loadConfig({}).jobs).toEqual({ quietPeriodMs: 30_000, concurrency: 1, maxAttempts: 3, retryBaseMs: 10_000, retryCapMs: 600_000, leaseMs: 60_000, redisPrefix: "bull", workerPort: 9464 });
    const config = loadConfig({
      TRRG_JOB_QUIET_PERIOD: "45",
      TRRG_JOB_CONCURRENCY: "2",
      TRRG_JOB_MAX_ATTEMPTS: "5",
      TRRG_JOB_RETRY_BASE: "500ms",
      TRRG_JOB_RETRY_CAP: "2m",
      TRRG_JOB_LEASE: "1h",
    });
    expect(config.jobs).toEqual({ quietPeriodMs: 45_000, concurrency: 2, maxAttempts: 5, retryBaseMs: 500, retryCapMs: 120_000, leaseMs: 3_600_000, redisPrefix: "bull", workerPort: 9464 });
  });

  it("rejects a bad duration by name, and a retry base above its cap", () => {
    expect(() => loadConfig({ TRRG_JOB_LEASE: "soon" })).toThrow(/TRRG_JOB_LEASE: expected a duration/);
    expect(() => loadConfig({ TRRG_JOB_CONCURRENCY: "0" })).toThrow(/TRRG_JOB_CONCURRENCY/);
    expect(() => loadConfig({ TRRG_JOB_RETRY_BASE: "5m", TRRG_JOB_RETRY_CAP: "1m" })).toThrow(/TRRG_JOB_RETRY_BASE: must not exceed/);
  });

  it("runs the bundled model on the CPU unless told otherwise", () => {
    const config = loadConfig({});
    expect(config.model.directory).toMatch(/models[/\\]trrg-mini$/);
    expect(config.model.executionProviders).toEqual(["cpu"]);
    expect(config.model.generationBatch).toBe(4);
    const gpu = loadConfig({ TRRG_MODEL_DIR: "site-model", TRRG_EXECUTION_PROVIDERS: "CUDA, cpu", TRRG_INTRA_OP_THREADS: "4", TRRG_GENERATION_BATCH: "16" });
    expect(gpu.model).toEqual({ directory: path.resolve("site-model"), executionProviders: ["cuda", "cpu"], intraOpThreads: 4, imageWorkers: 0, generationBatch: 16 });
    expect(() => loadConfig({ TRRG_GENERATION_BATCH: "0" })).toThrow(/TRRG_GENERATION_BATCH/);
  });

  it("rejects an execution provider it does not know, by name", () => {
    expect(() => loadConfig({ TRRG_EXECUTION_PROVIDERS: "cuda,tensorrt" })).toThrow(/TRRG_EXECUTION_PROVIDERS: expected a comma-separated list of cuda and cpu/);
  });

  it("layers the environment over a JSON config file", async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "trrg-config-")), "config.json");
    await writeFile(file, JSON.stringify({ TRRG_PORT: 9000, TRRG_HOST: "0.0.0.0" }));
    const config = loadConfig({ TRRG_CONFIG_FILE: file, TRRG_PORT: "9100" });
    expect(config.http.port).toBe(9100);
    expect(config.http.host).toBe("0.0.0.0");
  });

  it("delivers to no FHIR server unless a target URL is set", () => {
    expect(loadConfig({}).fhir.delivery).toBeUndefined();
    expect(loadConfig({ TRRG_FHIR_TARGET_URL: "https://ehr.example.org/fhir/" }).fhir.delivery).toEqual({
      targetUrl: "https://ehr.example.org/fhir",
      auth: { kind: "none" },
      retryBaseMs: 10_000,
      retryCapMs: 600_000,
      timeoutMs: 30_000,
    });
  });

  it("reads SMART Backend Services delivery settings, with the SMART v2 scopes for conditional create by default", () => {
    const delivery = loadConfig({
      TRRG_FHIR_TARGET_URL: "https://ehr.example.org/fhir",
      TRRG_FHIR_TARGET_AUTH: "smart-backend",
      TRRG_FHIR_TARGET_CLIENT_ID: "trrg-gateway",
      TRRG_FHIR_TARGET_KEY_FILE: "keys/delivery.jwks.json",
      TRRG_FHIR_DELIVERY_RETRY_BASE: "2s",
      TRRG_FHIR_DELIVERY_RETRY_CAP: "1h",
      TRRG_FHIR_DELIVERY_TIMEOUT: "15",
    }).fhir.delivery;
    expect(delivery).toEqual({
      targetUrl: "https://ehr.example.org/fhir",
      auth: { kind: "smart-backend", clientId: "trrg-gateway", keyFile: path.resolve("keys/delivery.jwks.json"), tokenUrl: undefined, scope: DEFAULT_TARGET_SCOPE },
      retryBaseMs: 2000,
      retryCapMs: 3_600_000,
      timeoutMs: 15_000,
    });
    expect(DEFAULT_TARGET_SCOPE).toBe("system/DiagnosticReport.cr system/Observation.cr system/Device.cr system/Provenance.cr");
    const custom = loadConfig({
      TRRG_FHIR_TARGET_URL: "https://ehr.example.org/fhir",
      TRRG_FHIR_TARGET_AUTH: "smart-backend",
      TRRG_FHIR_TARGET_CLIENT_ID: "trrg-gateway",
      TRRG_FHIR_TARGET_KEY_FILE: "/etc/trrg/key.json",
      TRRG_FHIR_TARGET_TOKEN_URL: "https://auth.example.org/token",
      TRRG_FHIR_TARGET_SCOPE: "system/DiagnosticReport.c   system/Observation.c",
    }).fhir.delivery!.auth;
    expect(custom).toMatchObject({ tokenUrl: "https://auth.example.org/token", scope: "system/DiagnosticReport.c system/Observation.c" });
  });

  it("reads a static token's file name, never a token", () => {
    const delivery = loadConfig({ TRRG_FHIR_TARGET_URL: "http://127.0.0.1:9000/fhir", TRRG_FHIR_TARGET_AUTH: "token", TRRG_FHIR_TARGET_TOKEN_FILE: "/run/secrets/ehr-token" }).fhir.delivery;
    expect(delivery?.auth).toEqual({ kind: "token", tokenFile: "/run/secrets/ehr-token" });
    expect(() => loadConfig({ TRRG_FHIR_TARGET_URL: "http://127.0.0.1:9000/fhir", TRRG_FHIR_TARGET_TOKEN: "abc" })).toThrow(/TRRG_FHIR_TARGET_TOKEN: unknown setting/);
  });

  it("names what each target auth kind is missing, and what it was given that it does not use", () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ TRRG_FHIR_TARGET_URL: "https://ehr.example.org/fhir", ...env });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
      return [];
    };
    expect(problems({ TRRG_FHIR_TARGET_AUTH: "smart-backend" })).toEqual([
      "TRRG_FHIR_TARGET_CLIENT_ID: required when TRRG_FHIR_TARGET_AUTH is smart-backend",
      "TRRG_FHIR_TARGET_KEY_FILE: required when TRRG_FHIR_TARGET_AUTH is smart-backend",
    ]);
    expect(problems({ TRRG_FHIR_TARGET_AUTH: "token" })).toEqual(["TRRG_FHIR_TARGET_TOKEN_FILE: required when TRRG_FHIR_TARGET_AUTH is token"]);
    expect(problems({ TRRG_FHIR_TARGET_AUTH: "token", TRRG_FHIR_TARGET_TOKEN_FILE: "t", TRRG_FHIR_TARGET_CLIENT_ID: "c" })).toEqual([
      "TRRG_FHIR_TARGET_CLIENT_ID: not used when TRRG_FHIR_TARGET_AUTH is token",
    ]);
    expect(problems({ TRRG_FHIR_TARGET_KEY_FILE: "k.json" })).toEqual(["TRRG_FHIR_TARGET_KEY_FILE: not used when TRRG_FHIR_TARGET_AUTH is none (the default)"]);
    expect(problems({ TRRG_FHIR_TARGET_AUTH: "oauth" })[0]).toMatch(/^TRRG_FHIR_TARGET_AUTH: /);
    expect(problems({ TRRG_FHIR_DELIVERY_RETRY_BASE: "5m", TRRG_FHIR_DELIVERY_RETRY_CAP: "1m" })).toEqual([
      "TRRG_FHIR_DELIVERY_RETRY_BASE: must not exceed TRRG_FHIR_DELIVERY_RETRY_CAP",
    ]);
    expect(problems({ TRRG_FHIR_DELIVERY_TIMEOUT: "soon" })[0]).toMatch(/^TRRG_FHIR_DELIVERY_TIMEOUT: expected a duration/);
  });

  it("refuses target settings without a target URL, rather than ignore them", () => {
    expect(() => loadConfig({ TRRG_FHIR_TARGET_AUTH: "token", TRRG_FHIR_TARGET_TOKEN_FILE: "t" })).toThrow(
      /TRRG_FHIR_TARGET_AUTH: set, but TRRG_FHIR_TARGET_URL is not[\s\S]*TRRG_FHIR_TARGET_TOKEN_FILE: set, but TRRG_FHIR_TARGET_URL is not/,
    );
    expect(() => loadConfig({ TRRG_FHIR_TARGET_URL: "ftp://ehr.example.org/fhir" })).toThrow(/TRRG_FHIR_TARGET_URL: expected an http\(s\) URL/);
  });

  it("documents every delivery setting in the help", () => {
    const documented = new Set(SETTINGS_HELP.map(([name]) => name));
    for (const name of [
      "TRRG_FHIR_TARGET_URL",
      "TRRG_FHIR_TARGET_AUTH",
      "TRRG_FHIR_TARGET_TOKEN_FILE",
      "TRRG_FHIR_TARGET_CLIENT_ID",
      "TRRG_FHIR_TARGET_TOKEN_URL",
      "TRRG_FHIR_TARGET_KEY_FILE",
      "TRRG_FHIR_TARGET_SCOPE",
      "TRRG_FHIR_DELIVERY_RETRY_BASE",
      "TRRG_FHIR_DELIVERY_RETRY_CAP",
      "TRRG_FHIR_DELIVERY_TIMEOUT",
    ]) {
      expect(documented).toContain(name);
    }
  });

  it("reports an unreadable config file by name", () => {
    expect(() => loadConfig({ TRRG_CONFIG_FILE: "/nonexistent/trrg.json" })).toThrow(/TRRG_CONFIG_FILE: cannot read/);
  });
});

describe("parseByteSize", () => {
  it.each([
    ["1048576", 1048576],
    ["10KB", 10_000],
    ["10 KiB", 10_240],
    ["1.5GB", 1.5e9],
  ])("reads %s", (text, bytes) => expect(parseByteSize(text)).toBe(bytes));

  it.each(["", "-1", "ten", "5XB"])("refuses %j", (text) => expect(parseByteSize(text)).toBeUndefined());
});

describe("parseDuration", () => {
  it.each([
    ["30", 30_000],
    ["1.5", 1500],
    ["250ms", 250],
    ["30s", 30_000],
    ["10m", 600_000],
    ["2H", 7_200_000],
  ])("reads %s as %i ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "ten", "-5s", "5d", "5 minutes"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
