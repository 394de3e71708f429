// A worker process for the restart test in test/jobs.test.ts: it opens the database argv[2] names (a SQLite file,
// or a PostgreSQL URL when the suite runs on PostgreSQL), runs the real
// JobRunner with a lease of argv[3] ms, prints "started <job id>" when its handler begins, and then never finishes,
// until the test kills it with SIGKILL.
import { JobQueue } from "../../src/jobs/jobQueue.js";
import { JobRunner } from "../../src/jobs/jobRunner.js";
import { createLogger } from "../../src/log.js";
import { openDatabase, openPostgresDatabase } from "../../src/store/database.js";

const [database, leaseText] = process.argv.slice(2);
const leaseMs = Number(leaseText);
const db = /^postgres(ql)?:/.test(database!) ? await openPostgresDatabase(database!) : await openDatabase(database!);
const queue = new JobQueue(db, { maxAttempts: 3, retryBaseMs: 0, retryCapMs: 0, leaseMs });
const runner = new JobRunner(
  queue,
  (job) => {
    process.stdout.write(`started ${job.id}\n`);
    return new Promise<never>(() => undefined);
  },
  { concurrency: 1, leaseMs, pollIntervalMs: 20, owner: "worker-process", logger: createLogger("silent") },
);
runner.start();
