// SQL of the QIDO-RS searches over the study/series/instance index. Conditions arrive already parsed (PS3.4
// C.2.2.2 matching kinds); this module only turns them into SQL that runs unchanged on SQLite and PostgreSQL:
// no dialect functions, explicit NULL ordering, and LIKE with an explicit escape character.
import { sql, type RawBuilder, type SqlBool } from "kysely";
import type { Database } from "./database.js";
import type { InstanceTable, SeriesTable, StudyTable } from "./schema.js";

export type StudyColumn =
  | "study_instance_uid"
  | "patient_id"
  | "issuer_of_patient_id"
  | "patient_name"
  | "patient_birth_date"
  | "patient_sex"
  | "study_date"
  | "study_time"
  | "accession_number"
  | "referring_physician_name"
  | "study_description"
  | "study_id";
export type SeriesColumn = "series_instance_uid" | "modality" | "series_number" | "series_description" | "body_part_examined";
export type InstanceColumn = "sop_instance_uid" | "sop_class_uid" | "instance_number";

export type ColumnRef =
  | { table: "studies"; column: StudyColumn }
  | { table: "series"; column: SeriesColumn }
  | { table: "instances"; column: InstanceColumn };

export type Match =
  /** Single value matching (C.2.2.2.1); ignoreCase for PN. */
  | { kind: "equals"; value: string | number; ignoreCase?: boolean }
  /** UID list matching (C.2.2.2.2), also used for lists of code strings. */
  | { kind: "oneOf"; values: readonly string[] }
  /** Wildcard matching (C.2.2.2.4): a LIKE pattern whose literal %, _ and \ are escaped with \. */
  | { kind: "like"; pattern: string; ignoreCase?: boolean }
  /** Range matching (C.2.2.2.5) on values that sort as text (DA: YYYYMMDD); both bounds inclusive. */
  | { kind: "range"; from?: string; to?: string }
  /** Range matching on the HHMMSS of a TM value; bounds are six digits, inclusive. */
  | { kind: "timeRange"; from: string; to: string };

export type Condition =
  | { target: ColumnRef; match: Match }
  /** ModalitiesInStudy: the study has a series of one of these modalities. */
  | { target: "modalitiesInStudy"; match: { kind: "oneOf"; values: readonly string[] } };

export interface Page {
  limit: number;
  offset: number;
}

function conditionSql(condition: Condition): RawBuilder<SqlBool> {
  if (condition.target === "modalitiesInStudy") {
    return sql<SqlBool>`exists (select 1 from series as modality_series
      where modality_series.study_instance_uid = studies.study_instance_uid
      and modality_series.modality in (${sql.join(condition.match.values)}))`;
  }
  const ref = sql.ref(`${condition.target.table}.${condition.target.column}`);
  const match = condition.match;
  switch (match.kind) {
    case "equals":
      return match.ignoreCase ? sql<SqlBool>`lower(${ref}) = lower(${match.value})` : sql<SqlBool>`${ref} = ${match.value}`;
    case "oneOf":
      return sql<SqlBool>`${ref} in (${sql.join(match.values)})`;
    case "like":
      // Both sides lowered for PN: the database's lower(), so the two agree (SQLite folds ASCII only).
      return match.ignoreCase
        ? sql<SqlBool>`lower(${ref}) like lower(${match.pattern}) escape '\\'`
        : sql<SqlBool>`${ref} like ${match.pattern} escape '\\'`;
    case "range": {
      const bounds: RawBuilder<SqlBool>[] = [];
      if (match.from !== undefined) bounds.push(sql<SqlBool>`${ref} >= ${match.from}`);
      if (match.to !== undefined) bounds.push(sql<SqlBool>`${ref} <= ${match.to}`);
      return bounds.length ? sql<SqlBool>`(${sql.join(bounds, sql` and `)})` : sql<SqlBool>`${ref} is not null`;
    }
    case "timeRange": {
      // HHMMSS of a stored TM ("10", "1015", "101500.25" → 100000, 101500, 101500).
      const hhmmss = sql`substr(${ref} || '000000', 1, 6)`;
      return sql<SqlBool>`(${hhmmss} >= ${match.from} and ${hhmmss} <= ${match.to})`;
    }
  }
}

const nullsLast = (column: string) => sql`case when ${sql.ref(column)} is null then 1 else 0 end`;

// Stable result order: study date and time, then UID; series number, then UID; instance number, then UID.
const STUDY_ORDER = [
  nullsLast("studies.study_date"),
  sql.ref("studies.study_date"),
  nullsLast("studies.study_time"),
  sql.ref("studies.study_time"),
  sql.ref("studies.study_instance_uid"),
];
const SERIES_ORDER = [
  nullsLast("series.series_number"),
  sql.ref("series.series_number"),
  sql.ref("series.series_instance_uid"),
];
const INSTANCE_ORDER = [
  nullsLast("instances.instance_number"),
  sql.ref("instances.instance_number"),
  sql.ref("instances.sop_instance_uid"),
];

export type StudyRow = Omit<StudyTable, "created_at" | "updated_at">;

export type SeriesRow = StudyRow & Omit<SeriesTable, "created_at">;

export type InstanceRow = SeriesRow &
  Pick<InstanceTable, "sop_instance_uid" | "sop_class_uid" | "instance_number" | "transfer_syntax_uid" | "metadata">;

const STUDY_COLUMNS = [
  "studies.study_instance_uid",
  "studies.patient_id",
  "studies.issuer_of_patient_id",
  "studies.patient_name",
  "studies.patient_birth_date",
  "studies.patient_sex",
  "studies.study_date",
  "studies.study_time",
  "studies.accession_number",
  "studies.referring_physician_name",
  "studies.study_description",
  "studies.study_id",
] as const;

const SERIES_COLUMNS = [
  "series.series_instance_uid",
  "series.modality",
  "series.series_number",
  "series.series_description",
  "series.body_part_examined",
] as const;

/** Studies matching every condition, in study date/time order; one row beyond the page tells more exist. */
export async function searchStudies(db: Database, conditions: readonly Condition[], page: Page): Promise<StudyRow[]> {
  let query = db.selectFrom("studies").select(STUDY_COLUMNS);
  for (const condition of conditions) query = query.where(conditionSql(condition));
  for (const order of STUDY_ORDER) query = query.orderBy(order);
  return query.limit(page.limit).offset(page.offset).execute();
}

/** Series (with their study's attributes) matching every condition, in study then series order. */
export async function searchSeries(db: Database, conditions: readonly Condition[], page: Page): Promise<SeriesRow[]> {
  let query = db
    .selectFrom("series")
    .innerJoin("studies", "studies.study_instance_uid", "series.study_instance_uid")
    .select([...STUDY_COLUMNS, ...SERIES_COLUMNS]);
  for (const condition of conditions) query = query.where(conditionSql(condition));
  for (const order of [...STUDY_ORDER, ...SERIES_ORDER]) query = query.orderBy(order);
  const rows = await query.limit(page.limit).offset(page.offset).execute();
  return rows.map((row) => ({ ...row, series_number: numberOrNull(row.series_number) }));
}

/** Instances (with their series' and study's attributes) matching every condition, in study/series/instance order. */
export async function searchInstances(db: Database, conditions: readonly Condition[], page: Page): Promise<InstanceRow[]> {
  let query = db
    .selectFrom("instances")
    .innerJoin("series", "series.series_instance_uid", "instances.series_instance_uid")
    .innerJoin("studies", "studies.study_instance_uid", "instances.study_instance_uid")
    .select([
      ...STUDY_COLUMNS,
      ...SERIES_COLUMNS,
      "instances.sop_instance_uid",
      "instances.sop_class_uid",
      "instances.instance_number",
      "instances.transfer_syntax_uid",
      "instances.metadata",
    ]);
  for (const condition of conditions) query = query.where(conditionSql(condition));
  for (const order of [...STUDY_ORDER, ...SERIES_ORDER, ...INSTANCE_ORDER]) query = query.orderBy(order);
  const rows = await query.limit(page.limit).offset(page.offset).execute();
  return rows.map((row) => ({
    ...row,
    series_number: numberOrNull(row.series_number),
    instance_number: numberOrNull(row.instance_number),
  }));
}

function numberOrNull(value: number | string | bigint | null): number | null {
  return value === null ? null : Number(value);
}

/** Bind-parameter lists are kept short: SQLite and PostgreSQL both cap the number of parameters per statement. */
const CHUNK = 500;

async function inChunks<T>(keys: readonly string[], run: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const unique = [...new Set(keys)];
  const results: T[] = [];
  for (let start = 0; start < unique.length; start += CHUNK) {
    results.push(...(await run(unique.slice(start, start + CHUNK))));
  }
  return results;
}

/** Rows of `table` per value of `column`, for the given values. */
async function countPer(
  db: Database,
  table: "series" | "instances",
  column: "study_instance_uid" | "series_instance_uid",
  keys: readonly string[],
): Promise<Map<string, number>> {
  const rows = await inChunks(keys, (chunk) =>
    db
      .selectFrom(table)
      .select([sql<string>`${sql.ref(column)}`.as("key"), (eb) => eb.fn.countAll().as("count")])
      .where(sql.ref(column), "in", chunk)
      .groupBy(sql.ref(column))
      .execute(),
  );
  return new Map(rows.map((row) => [row.key, Number(row.count)]));
}

/** Number of Study Related Series (0020,1206) of each study. */
export function countSeriesByStudy(db: Database, studyUIDs: readonly string[]): Promise<Map<string, number>> {
  return countPer(db, "series", "study_instance_uid", studyUIDs);
}

/** Number of Study Related Instances (0020,1208) of each study. */
export function countInstancesByStudy(db: Database, studyUIDs: readonly string[]): Promise<Map<string, number>> {
  return countPer(db, "instances", "study_instance_uid", studyUIDs);
}

/** Number of Series Related Instances (0020,1209) of each series. */
export function countInstancesBySeries(db: Database, seriesUIDs: readonly string[]): Promise<Map<string, number>> {
  return countPer(db, "instances", "series_instance_uid", seriesUIDs);
}

/** Modalities in Study (0008,0061): the distinct modalities of each study's series, sorted. */
export async function modalitiesByStudy(db: Database, studyUIDs: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await inChunks(studyUIDs, (chunk) =>
    db
      .selectFrom("series")
      .select(["study_instance_uid", "modality"])
      .distinct()
      .where("study_instance_uid", "in", chunk)
      .where("modality", "is not", null)
      .execute(),
  );
  const result = new Map<string, string[]>();
  for (const row of rows) {
    if (row.modality === null) continue;
    const list = result.get(row.study_instance_uid) ?? [];
    list.push(row.modality);
    result.set(row.study_instance_uid, list);
  }
  for (const list of result.values()) list.sort();
  return result;
}

/**
 * The stored DICOM JSON of the first instance (series number, then instance number order) of each study or
 * series: the source of includefield attributes that the index does not hold.
 */
export async function firstInstanceMetadata(
  db: Database,
  level: "study" | "series",
  uids: readonly string[],
): Promise<Map<string, string>> {
  const firstInstances = await inChunks(uids, async (chunk) => {
    if (level === "study") {
      return db
        .selectFrom("studies")
        .select([
          "studies.study_instance_uid as uid",
          sql<string | null>`(select instances.sop_instance_uid from instances
            left join series on series.series_instance_uid = instances.series_instance_uid
            where instances.study_instance_uid = studies.study_instance_uid
            order by ${sql.join([...SERIES_ORDER, ...INSTANCE_ORDER])} limit 1)`.as("first"),
        ])
        .where("studies.study_instance_uid", "in", chunk)
        .execute();
    }
    return db
      .selectFrom("series")
      .select([
        "series.series_instance_uid as uid",
        sql<string | null>`(select instances.sop_instance_uid from instances
          where instances.series_instance_uid = series.series_instance_uid
          order by ${sql.join(INSTANCE_ORDER)} limit 1)`.as("first"),
      ])
      .where("series.series_instance_uid", "in", chunk)
      .execute();
  });
  const ownerOf = new Map<string, string>();
  for (const row of firstInstances) if (row.first !== null) ownerOf.set(row.first, row.uid);
  const rows = await inChunks([...ownerOf.keys()], (chunk) =>
    db.selectFrom("instances").select(["sop_instance_uid", "metadata"]).where("sop_instance_uid", "in", chunk).execute(),
  );
  const result = new Map<string, string>();
  for (const row of rows) {
    const owner = ownerOf.get(row.sop_instance_uid);
    if (owner !== undefined) result.set(owner, row.metadata);
  }
  return result;
}
