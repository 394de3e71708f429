// vitest globalSetup: every test app of the run logs (at debug level) to one file, and at the end of the run the
// file is searched for the patient names and IDs the fixtures use. Any hit fails the run: logs must never carry
// patient data (DESIGN §6); that belongs in the audit trail only.
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/** Patient names and IDs used by the fixtures and tests (DICOM PN components appear on their own too). */
export const FIXTURE_PATIENT_DATA = [
  "Test^Patient",
  "TEST0001",
  "Zyxwick",
  "Hermione",
  "MRN-99887766",
  "DOE^JOHN",
  "Doe^Jane",
  "Smith^Anna",
  "PID-A",
  "PID-B",
  "PID-C",
  "PID-D",
  "PATIENT-A",
  "PATIENT-OTHER",
];

const file = path.join(tmpdir(), `trrg-test-logs-${process.pid}.jsonl`);

export async function setup(): Promise<void> {
  await rm(file, { force: true });
  process.env.TEST_LOG_CAPTURE_FILE = file;
}

export async function teardown(): Promise<void> {
  if (!existsSync(file)) {
    process.stderr.write("log capture: the test apps wrote no log at all, so nothing was checked\n");
    process.exitCode = 1;
    return;
  }
  const log = await readFile(file, "utf8");
  const hits = FIXTURE_PATIENT_DATA.filter((value) => log.includes(value));
  const lines = log.split("\n").filter(Boolean).length;
  if (hits.length > 0) {
    // A throw here is only printed by vitest; the exit status is what CI reads.
    process.stderr.write(`log capture: ${lines} log lines contain patient data: ${hits.join(", ")} (see ${file})\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`log capture: ${lines} log lines from the whole suite, no patient name or ID in them\n`);
  await rm(file, { force: true });
}
