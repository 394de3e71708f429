// vitest globalSetup: with TEST_STORE=postgres the suite runs in the scale-out configuration, the store on
// PostgreSQL and report jobs dispatched over Redis (BullMQ). One PostgreSQL (test/support/postgres.ts) and one Redis
// (test/support/redis.ts) are started for the run; every test app gets a database and a BullMQ key prefix of its
// own on them (test/support/scaleOut.ts).
import { startPostgres, type RunningPostgres } from "./postgres.js";
import { startRedis, type RunningRedis } from "./redis.js";

let postgres: RunningPostgres | undefined;
let redis: RunningRedis | undefined;

export async function setup(): Promise<void> {
  if (process.env.TEST_STORE !== "postgres") return;
  postgres = await startPostgres();
  process.env.TEST_POSTGRES_URL = postgres.url;
  redis = await startRedis();
  process.env.TEST_REDIS_URL = redis.url;
}

export async function teardown(): Promise<void> {
  await redis?.stop();
  await postgres?.stop();
}
