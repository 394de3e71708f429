// The FHIR resources the service publishes, in the database with their search index: saved together in one
// transaction, read by id, and searched by the criteria of searchRequest.ts. Saving a resource that has not
// changed keeps its version; a changed one gets the next versionId (R4 resource.html#Meta).
import type { Resource } from "@medplum/fhirtypes";
import { sql, type Expression, type ExpressionBuilder, type SqlBool, type Transaction } from "kysely";
import { isPostgres, type Database } from "../store/database.js";
import type { DatabaseSchema } from "../store/schema.js";
import { indexRows, type SupportedResourceType } from "./searchIndex.js";
import type { Alternative, Criterion, Inclusion, ResourceSearch } from "./searchRequest.js";

export interface SearchResult {
  total: number;
  resources: Resource[];
  included: Resource[];
}

/** Restricts reads to one patient (a patient/ scope's launch context, DESIGN §6). */
export interface PatientRestriction {
  patient: string | undefined;
}

function withoutVersion(resource: Resource): string {
  const meta = { ...resource.meta };
  delete meta.versionId;
  delete meta.lastUpdated;
  return JSON.stringify({ ...resource, meta });
}

/** A resource as stored, and whether this save wrote a new version of it (false: it was stored unchanged). */
export interface SavedResource {
  resource: Resource;
  changed: boolean;
}

function withVersion(resource: Resource, versionId: number, now: string): Resource {
  return { ...resource, meta: { ...resource.meta, versionId: String(versionId), lastUpdated: now } } as Resource;
}

async function writeIndex(tx: Transaction<DatabaseSchema>, saved: Resource, seq: number): Promise<void> {
  const rows = indexRows(saved).map((r) => ({ ...r, resource_seq: seq }));
  if (rows.length > 0) await tx.insertInto("fhir_search_index").values(rows).execute();
}

// Insert first, and only on conflict read the stored row under a row lock: two jobs saving the same resource at
// once (say, the Patient two studies share) then queue on the row instead of both reading "absent" and racing to
// insert, which PostgreSQL's READ COMMITTED would allow.
async function saveOne(tx: Transaction<DatabaseSchema>, resource: Resource, now: string): Promise<SavedResource> {
  const type = resource.resourceType;
  const id = resource.id as string;
  const first = withVersion(resource, 1, now);
  const inserted = await tx
    .insertInto("fhir_resources")
    .values({ resource_type: type, id, version_id: 1, last_updated: now, content: JSON.stringify(first) })
    .onConflict((oc) => oc.columns(["resource_type", "id"]).doNothing())
    .returning("seq")
    .executeTakeFirst();
  if (inserted) {
    await writeIndex(tx, first, inserted.seq);
    return { resource: first, changed: true };
  }
  let storedRow = tx.selectFrom("fhir_resources").select(["seq", "version_id", "content"]).where("resource_type", "=", type).where("id", "=", id);
  if (isPostgres(tx)) storedRow = storedRow.forUpdate();
  const existing = await storedRow.executeTakeFirstOrThrow();
  const stored = JSON.parse(existing.content) as Resource;
  if (withoutVersion(stored) === withoutVersion(resource)) return { resource: stored, changed: false };
  const saved = withVersion(resource, existing.version_id + 1, now);
  await tx
    .updateTable("fhir_resources")
    .set({ version_id: existing.version_id + 1, last_updated: now, content: JSON.stringify(saved) })
    .where("seq", "=", existing.seq)
    .execute();
  await tx.deleteFrom("fhir_search_index").where("resource_seq", "=", existing.seq).execute();
  await writeIndex(tx, saved, existing.seq);
  return { resource: saved, changed: true };
}

/**
 * Saves resources inside the caller's transaction, so that what must be written with them (the delivery outbox
 * row, publishReport.ts) commits or rolls back together with them.
 */
export async function saveResourcesIn(tx: Transaction<DatabaseSchema>, resources: readonly Resource[], now = new Date()): Promise<SavedResource[]> {
  const saved: SavedResource[] = [];
  for (const resource of resources) saved.push(await saveOne(tx, resource, now.toISOString()));
  return saved;
}

/** Saves resources all or none; returns them as stored (meta.versionId and lastUpdated set). */
export async function saveResources(db: Database, resources: readonly Resource[], now = new Date()): Promise<Resource[]> {
  const saved = await db.transaction().execute((tx) => saveResourcesIn(tx, resources, now));
  return saved.map((s) => s.resource);
}

type Where = ExpressionBuilder<DatabaseSchema, "fhir_resources">;

function indexed(eb: Where, param: string, match: (ib: ExpressionBuilder<DatabaseSchema, "fhir_search_index">) => Expression<SqlBool>) {
  return eb(
    "fhir_resources.seq",
    "in",
    eb.selectFrom("fhir_search_index").select("resource_seq").where("param", "=", param).where(match),
  );
}

function alternativeMatch(ib: ExpressionBuilder<DatabaseSchema, "fhir_search_index">, alternative: Alternative): Expression<SqlBool> {
  switch (alternative.kind) {
    case "token": {
      const parts: Expression<SqlBool>[] = [];
      if (alternative.value !== undefined) parts.push(ib("value", "=", alternative.value));
      if (alternative.system !== undefined) parts.push(ib("system", "=", alternative.system));
      return ib.and(parts);
    }
    case "string":
      return alternative.exact
        ? ib("value", "=", alternative.value)
        : sql<SqlBool>`value like ${`${alternative.value.replace(/[\\%_]/g, "\\$&")}%`} escape '\\'`;
    case "date":
      return dateMatch(ib, alternative);
  }
}

/** search.html "date" prefixes, comparing the resource's range [date_start, date_end) with the value's. */
function dateMatch(ib: ExpressionBuilder<DatabaseSchema, "fhir_search_index">, { prefix, start, end }: Extract<Alternative, { kind: "date" }>): Expression<SqlBool> {
  const within = ib.and([ib("date_start", ">=", start), ib("date_end", "<=", end)]);
  switch (prefix) {
    case "eq":
      return within;
    case "ne":
      return ib.not(within);
    case "gt":
      return ib("date_end", ">", end);
    case "lt":
      return ib("date_start", "<", start);
    case "ge":
      return ib("date_end", ">", start);
    case "le":
      return ib("date_start", "<", end);
    case "sa":
      return ib("date_start", ">=", end);
    case "eb":
      return ib("date_end", "<=", start);
  }
}

function criterionMatch(eb: Where, { param, alternatives }: Criterion): Expression<SqlBool> {
  return indexed(eb, param, (ib) => ib.or(alternatives.map((a) => alternativeMatch(ib, a))));
}

/** The patient's own resources: by literal reference or by the identifier value of the logical reference. */
function patientMatch(eb: Where, resourceType: SupportedResourceType, patient: string): Expression<SqlBool> | undefined {
  const ofPatient = (inner: Where) =>
    inner.or([
      indexed(inner, "patient", (ib) => ib("value", "=", `Patient/${patient}`)),
      indexed(inner, "patient:identifier", (ib) => ib("value", "=", patient)),
    ]);
  if (resourceType === "DiagnosticReport" || resourceType === "Observation") return ofPatient(eb);
  if (resourceType === "Provenance") {
    const reports = eb
      .selectFrom("fhir_resources as r")
      .select(sql<string>`'DiagnosticReport/' || r.id`.as("ref"))
      .where("r.resource_type", "=", "DiagnosticReport")
      .where((inner) =>
        inner.or([
          inner("r.seq", "in", inner.selectFrom("fhir_search_index").select("resource_seq").where("param", "=", "patient").where("value", "=", `Patient/${patient}`)),
          inner("r.seq", "in", inner.selectFrom("fhir_search_index").select("resource_seq").where("param", "=", "patient:identifier").where("value", "=", patient)),
        ]),
      );
    return indexed(eb, "target", (ib) => ib("value", "in", reports));
  }
  return undefined; // a Device (the model) is not patient data
}

function matching(db: Database, search: Pick<ResourceSearch, "resourceType" | "criteria">, restriction: PatientRestriction) {
  return db
    .selectFrom("fhir_resources")
    .where("resource_type", "=", search.resourceType)
    .where((eb) => {
      const parts = search.criteria.map((c) => criterionMatch(eb, c));
      const patient = restriction.patient === undefined ? undefined : patientMatch(eb, search.resourceType, restriction.patient);
      if (patient) parts.push(patient);
      return eb.and(parts);
    });
}

export async function readResource(db: Database, resourceType: SupportedResourceType, id: string, restriction: PatientRestriction): Promise<Resource | undefined> {
  const row = await matching(db, { resourceType, criteria: [] }, restriction).select("content").where("id", "=", id).executeTakeFirst();
  return row ? (JSON.parse(row.content) as Resource) : undefined;
}

export async function searchResources(db: Database, search: ResourceSearch, restriction: PatientRestriction): Promise<SearchResult> {
  const counted = await matching(db, search, restriction).select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
  const total = Number(counted.n);
  if (search.summaryCount || search.count === 0) return { total, resources: [], included: [] };
  let query = matching(db, search, restriction).select(["seq", "content"]);
  if (search.sort) {
    const key = sql<string>`(select min(i.date_start) from fhir_search_index i where i.resource_seq = fhir_resources.seq and i.param = ${search.sort.param})`;
    query = query.orderBy(key, search.sort.descending ? "desc" : "asc");
  }
  const rows = await query.orderBy("seq", "asc").limit(search.count).offset(search.offset).execute();
  const resources = rows.map((r) => JSON.parse(r.content) as Resource);
  const included = await includedResources(db, rows.map((r) => r.seq), resources, search.includes, restriction);
  return { total, resources, included };
}

async function includedResources(
  db: Database,
  seqs: readonly number[],
  matches: readonly Resource[],
  includes: readonly Inclusion[],
  restriction: PatientRestriction,
): Promise<Resource[]> {
  if (seqs.length === 0 || includes.length === 0) return [];
  const found = new Map<string, Resource>();
  const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
  for (const inclusion of includes) {
    const rows = inclusion.reverse
      ? await reverseIncluded(db, matches, inclusion, restriction)
      : await forwardIncluded(db, seqs, inclusion, restriction);
    for (const resource of rows) {
      const key = `${resource.resourceType}/${resource.id}`;
      if (!seen.has(key)) found.set(key, resource);
    }
  }
  return [...found.values()];
}

/** _include: the resources the matches reference through the parameter. */
async function forwardIncluded(db: Database, seqs: readonly number[], { param }: Inclusion, restriction: PatientRestriction): Promise<Resource[]> {
  const references = await db
    .selectFrom("fhir_search_index")
    .select("value")
    .where("param", "=", param)
    .where("resource_seq", "in", [...seqs])
    .execute();
  const byType = new Map<string, string[]>();
  for (const { value } of references) {
    const [type, id] = value.split("/") as [string, string];
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  const out: Resource[] = [];
  for (const [type, ids] of byType) {
    const rows = await matching(db, { resourceType: type as SupportedResourceType, criteria: [] }, restriction)
      .select("content")
      .where("id", "in", ids)
      .execute();
    out.push(...rows.map((r) => JSON.parse(r.content) as Resource));
  }
  return out;
}

/** _revinclude: the resources of sourceType whose parameter references one of the matches. */
async function reverseIncluded(db: Database, matches: readonly Resource[], { sourceType, param }: Inclusion, restriction: PatientRestriction): Promise<Resource[]> {
  const references = matches.map((r) => `${r.resourceType}/${r.id}`);
  const rows = await matching(db, { resourceType: sourceType, criteria: [] }, restriction)
    .select("content")
    .where((eb) => indexed(eb, param, (ib) => ib("value", "in", references)))
    .execute();
  return rows.map((r) => JSON.parse(r.content) as Resource);
}
