// The long-lived services of one process, and their start-up and shut-down in mirror order.
import type { Config } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { openDatabase, type Database } from "./store/database.js";
import { InstanceFileStore } from "./store/fileStore.js";
import { InstanceIndexWriter } from "./store/instanceIndex.js";

export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  files: InstanceFileStore;
  index: InstanceIndexWriter;
}

export async function openServices(config: Config, logger: Logger = createLogger(config.log.level)): Promise<Services> {
  const files = new InstanceFileStore(config.storage.instancesDir);
  await files.open();
  const db = await openDatabase(config.database.sqlitePath);
  return { config, logger, db, files, index: new InstanceIndexWriter(db) };
}

export async function closeServices(services: Services): Promise<void> {
  await services.db.destroy();
}
