// Opens the embedded SQLite database through Kysely (the same query code later runs on PostgreSQL) and brings
// its schema up to date.
import { mkdirSync } from "node:fs";
import path from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect, sql, type MigrationProvider } from "kysely";
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
