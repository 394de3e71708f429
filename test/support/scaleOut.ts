// The second configuration of the suite (TEST_STORE=postgres, npm run test:scale-out): the store on PostgreSQL and
// report jobs dispatched over BullMQ on Redis, both started once for the run by test/support/scaleOutSetup.ts. Each
// test app (testApp.ts, reportingServer.ts) gets a database and a BullMQ key prefix of its own, named after its
// data folder, so that reopening the folder reopens the same database and queue.
import path from "node:path";
import pg from "pg";

/** The database of a test app on the run's PostgreSQL server, created when missing. */
async function testDatabaseUrl(server: string, dataDir: string): Promise<string> {
  const name = `t_${path.basename(dataDir).replace(/[^A-Za-z0-9]/g, "_").toLowerCase()}`;
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (exists.rowCount === 0) await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  return `${server.slice(0, server.lastIndexOf("/"))}/${name}`;
}

/**
 * The settings that put the app on `dataDir` on the run's PostgreSQL and Redis, where the run has them and `env`
 * (the test's own settings) does not set them already; nothing on SQLite.
 */
export async function scaleOutEnv(dataDir: string, env: Record<string, string>): Promise<Record<string, string>> {
  const postgres = process.env.TEST_POSTGRES_URL;
  const redis = process.env.TEST_REDIS_URL;
  const settings: Record<string, string> = {};
  if (postgres && env.TRRG_DATABASE_URL === undefined) settings.TRRG_DATABASE_URL = await testDatabaseUrl(postgres, dataDir);
  if (redis && env.TRRG_REDIS_URL === undefined) {
    settings.TRRG_REDIS_URL = redis;
    // Every app its own BullMQ queue on the shared Redis (TRRG_REDIS_PREFIX allows letters, digits, _ . -).
    if (env.TRRG_REDIS_PREFIX === undefined) settings.TRRG_REDIS_PREFIX = path.basename(dataDir).replace(/[^A-Za-z0-9_.-]/g, "_").slice(-64);
  }
  return settings;
}
