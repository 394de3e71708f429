// Opens the store through Kysely: the embedded SQLite file, or PostgreSQL for scale-out (one query code path for
// both), and brings its schema up to date.
import { mkdirSync } from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, sql, type MigrationProvider, type Transaction } from "kysely";
import pg from "pg";
import { migrations } from "./migrations.js";
import type { DatabaseSchema } from "./schema.js";

export type Database = Kysely<DatabaseSchema>;

export async function openDatabase(sqlitePath: string): Promise<Database> {
  mkdirSync(path.dirname(sqlitePath), { recursive: true });
  const connection = new SQLite(sqlitePath);
  // WAL for concurrent readers; synchronous=FULL so an acknowledged store survives power loss;
  // case-sensitive LIKE so wildcard matching behaves as on PostgreSQL.
  connection.pragma("journal_mode = WAL");
  connection.pragma("synchronous = FULL");
  connection.pragma("foreign_keys = ON");
  connection.pragma("busy_timeout = 5000");
  connection.pragma("case_sensitive_like = ON");
  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: connection }) });
  await migrateToLatest(db);
  return db;
}

/** The configured store: PostgreSQL when a URL is given, else SQLite. */
export async function openConfiguredDatabase(database: { sqlitePath: string; postgresUrl?: string | undefined }): Promise<Database> {
  return database.postgresUrl ? openPostgresDatabase(database.postgresUrl) : openDatabase(database.sqlitePath);
}

// BIGINT (counts, sizes) as JavaScript numbers, as SQLite gives them; they stay far below 2^53. Set once, for the
// process: the parser table is pg's own global.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export async function openPostgresDatabase(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // A connection that PostgreSQL drops (a restart, a failover) emits 'error': on the pool while idle, on the client
  // while checked out. Without listeners either would end the process. The query in flight fails with the reason
  // (and is retried by whoever ran it); the pool discards the connection and opens a new one for the next query.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

const provider: MigrationProvider = { getMigrations: async () => migrations };

async function migrateToLatest(db: Database): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`database migration ${failed} failed: ${(error as Error).message}`);
  }
}

/** A trivial round trip, for readiness checks. */
export async function pingDatabase(db: Database): Promise<void> {
  await sql`select 1`.execute(db);
}

/**
 * Whether the store is PostgreSQL, where concurrent transactions need locks (`SELECT ... FOR UPDATE`, advisory
 * locks) to read then write safely; SQLite has neither and serializes every writer anyway.
 */
export function isPostgres(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
