// The service as `serve` runs it (src/server.ts: listening, the TRRG pipeline running its report jobs, the UPS
// performer) on a test data folder, with the test clients registered and tokens got from its own OAuth server.
import path from "node:path";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { closeReportModel, openReportModel, studyJobHandler, type ReportModel } from "../../src/pipeline/studyJob.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { scaleOutEnv } from "./scaleOut.js";
import { requestToken, SHARED_KEYS_FILE, TEST_CLIENTS, writeTestClients, type TestClient } from "./testApp.js";

export interface ReportingServer {
  readonly server: RunningServer;
  readonly config: Config;
  /** An access token of one of the registered clients (default: the system client with all its scopes). */
  token(client?: TestClient, scope?: string): Promise<string>;
  /** Stops the server and starts it again on the same data folder (a restart). */
  restart(): Promise<RunningServer>;
  stop(): Promise<void>;
}

/**
 * Starts the service on `dataDir` with `env` over the test defaults; `clients` are registered with its OAuth server.
 * With TEST_STORE=postgres it runs on the run's PostgreSQL and Redis, as test apps do (test/support/scaleOut.ts).
 */
export async function startReportingServer(dataDir: string, env: Record<string, string>, clients: TestClient[] = [TEST_CLIENTS.system]): Promise<ReportingServer> {
  const clientsFile = await writeTestClients(path.join(dataDir, "clients.json"), clients);
  const config = loadConfig({
    TRRG_DATA_DIR: dataDir,
    TRRG_PORT: "0",
    TRRG_LOG_LEVEL: "silent",
    TRRG_STORAGE_MIN_FREE: "0",
    TRRG_AUTH_KEYS_FILE: SHARED_KEYS_FILE,
    TRRG_AUTH_CLIENTS_FILE: clientsFile,
    ...(await scaleOutEnv(dataDir, env)),
    ...env,
  });
  const reportModel: ReportModel = await openReportModel(config, createLogger("silent"));
  const start = () => startServer(config, { createJobHandler: (services) => studyJobHandler(services, reportModel) });
  let server = await start();
  return {
    get server() {
      return server;
    },
    config,
    token: (client = TEST_CLIENTS.system, scope = client.scope) => requestToken(server.url, client, scope),
    async restart() {
      await server.stop();
      server = await start();
      return server;
    },
    async stop() {
      await server.stop();
      await closeReportModel(reportModel);
    },
  };
}
