// vitest globalSetup: with TEST_STORE=postgres the suite runs on PostgreSQL. One server is started for the
// run (test/support/postgres.ts) and every test app gets a database of its own on it (test/support/testApp.ts).
import { startPostgres, type RunningPostgres } from "./postgres.js";

let server: RunningPostgres | undefined;

export async function setup(): Promise<void> {
  if (process.env.TEST_STORE !== "postgres") return;
  server = await startPostgres();
  process.env.TEST_POSTGRES_URL = server.url;
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
