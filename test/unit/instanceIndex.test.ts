// The index writer's group commit: concurrent entries share transactions without mixing up their outcomes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { InstanceIndexWriter, type IndexedInstance } from "../../src/store/instanceIndex.js";

function entry(study: string, series: string, sop: string): IndexedInstance {
  return {
    study: {
      study_instance_uid: study, patient_id: "P", issuer_of_patient_id: null, patient_name: "Doe^Jane",
      patient_birth_date: null, patient_sex: null, study_date: "20260101", study_time: null, accession_number: null,
      referring_physician_name: null, study_description: null, study_id: null,
    },
    series: { series_instance_uid: series, study_instance_uid: study, modality: "DX", series_number: 1, series_description: null, body_part_examined: null },
    instance: {
      sop_instance_uid: sop, series_instance_uid: series, study_instance_uid: study, sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.1",
      instance_number: 1, transfer_syntax_uid: "1.2.840.10008.1.2.1", file_path: `${sop}.dcm`, file_size: 10, metadata: "{}",
    },
  };
}

let dir: string;
let db: Database;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "trrg-index-"));
  db = await openDatabase(path.join(dir, "index.sqlite"));
});
afterEach(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe("InstanceIndexWriter", () => {
  it("indexes concurrent entries once each and reports resends as already indexed", async () => {
    const writer = new InstanceIndexWriter(db);
    const entries = Array.from({ length: 40 }, (_, i) => entry(`1.2.${i % 3}`, `1.3.${i % 5}.${i % 3}`, `1.4.${i}`));
    const outcomes = await Promise.all([...entries, ...entries.slice(0, 10)].map((e) => writer.add(e)));
    expect(outcomes.slice(0, 40)).toEqual(Array(40).fill("inserted"));
    expect(outcomes.slice(40)).toEqual(Array(10).fill("already-indexed"));
    expect(await db.selectFrom("instances").select("sop_instance_uid").execute()).toHaveLength(40);
    expect(await db.selectFrom("studies").select("study_instance_uid").execute()).toHaveLength(3);
  });

  it("fails only the entry that cannot be written when it shares a group with good ones", async () => {
    const writer = new InstanceIndexWriter(db);
    const bad = entry("1.2.9", "1.3.9", "1.4.9");
    (bad.instance as { sop_class_uid: string | null }).sop_class_uid = null; // violates NOT NULL
    const results = await Promise.allSettled([writer.add(entry("1.2.1", "1.3.1", "1.4.1")), writer.add(bad), writer.add(entry("1.2.2", "1.3.2", "1.4.2"))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const rows = await db.selectFrom("instances").select("sop_instance_uid").orderBy("sop_instance_uid").execute();
    expect(rows.map((r) => r.sop_instance_uid)).toEqual(["1.4.1", "1.4.2"]);
  });
});
