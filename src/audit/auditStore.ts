// The audit trail: FHIR R4 AuditEvents stored append-only in seq order 1, 2, 3… with a hash chain
// (src/audit/hashChain.ts), searched newest first. DESIGN.md §6 "Audit".
import { sql, type SqlBool } from "kysely";
import { isPostgres, type Database } from "../store/database.js";
import { GroupCommitQueue } from "../store/groupCommit.js";
import type { AuditEventTable } from "../store/schema.js";
import {
  BALP_ENTITY_TYPE,
  DICOM_UID_SYSTEM,
  JOB_SYSTEM,
  OAUTH_CLIENT_SYSTEM,
  OBJECT_ROLE,
  type AuditEvent,
  type AuditEventEntity,
} from "./auditEvent.js";
import { canonicalJson, chainHash, GENESIS_HASH } from "./hashChain.js";

export interface AuditHead {
  seq: number;
  hash: string;
}

export type AuditProblemKind =
  | "hash-mismatch" // the record's hash does not cover its content: the record was edited
  | "broken-link" // prev_hash is not the previous record's hash: a record before it was removed or reordered
  | "sequence-gap" // this seq is missing: a record was removed (or, with an expected head, the newest were)
  | "index-mismatch" // the search columns disagree with the event: hidden from (or planted into) search
  | "head-mismatch"; // the record at the externally kept head seq has another hash: the chain was rewritten

export interface AuditProblem {
  seq: number;
  problem: AuditProblemKind;
}

export interface AuditVerification {
  ok: boolean;
  checked: number;
  /** The newest record's seq and hash (0 and GENESIS_HASH when empty): keep them outside to detect truncation. */
  headSeq: number;
  headHash: string;
  problems: AuditProblem[];
}

export interface AuditSearch {
  /** recorded ≥ dateFrom (FHIR `ge`), an ISO 8601 instant. */
  dateFrom?: string;
  /** recorded < dateTo (FHIR `lt`), an ISO 8601 instant. */
  dateTo?: string;
  /** OAuth client id of the client agent. */
  agent?: string;
  /** An entity token ("Patient?identifier=P1", "study:1.2.3", "req:abc") or the value alone ("P1", "1.2.3"). */
  entity?: string;
  /** AuditEvent.outcome: 0, 4, 8 or 12. */
  outcome?: string;
  count: number;
  offset: number;
}

type AuditRow = AuditEventTable;
type IndexColumns = Pick<AuditRow, "recorded" | "outcome" | "agent_client_id" | "entity_refs">;

// Entity tokens are separated by spaces: a value's own spaces and percent signs are percent-encoded.
function encodeTokenValue(value: string): string {
  return value.replace(/[%\s]/gu, (c) => encodeURIComponent(c));
}

function stripOid(uid: string): string {
  return uid.startsWith("urn:oid:") ? uid.slice("urn:oid:".length) : uid;
}

function entityToken(entity: AuditEventEntity): string | undefined {
  const identifier = entity.what?.identifier;
  if (entity.type?.system === BALP_ENTITY_TYPE && entity.type.code === "XrequestId" && identifier) {
    return `req:${encodeTokenValue(identifier.value)}`;
  }
  if (entity.role?.system === OBJECT_ROLE && entity.role.code === "1" && identifier) {
    const issuer = identifier.system ?? identifier.assigner?.display;
    return `Patient?identifier=${encodeTokenValue(issuer !== undefined ? `${issuer}|${identifier.value}` : identifier.value)}`;
  }
  if (identifier?.system === DICOM_UID_SYSTEM) {
    const isStudy = identifier.type?.coding.some((c) => c.code === "110180") ?? false;
    return `${isStudy ? "study" : "uid"}:${encodeTokenValue(stripOid(identifier.value))}`;
  }
  if (identifier?.system === JOB_SYSTEM) return `job:${encodeTokenValue(identifier.value)}`;
  if (entity.what?.reference) return encodeTokenValue(entity.what.reference);
  return undefined;
}

function clientIdOf(event: AuditEvent): string | null {
  const agent = event.agent.find((a) => a.who?.identifier?.system === OAUTH_CLIENT_SYSTEM);
  return agent?.who?.identifier?.value ?? null;
}

/** The search columns of a record, all derived from its event. */
function indexColumns(event: AuditEvent): IndexColumns {
  return {
    recorded: new Date(event.recorded).toISOString(),
    outcome: event.outcome ?? "",
    agent_client_id: clientIdOf(event),
    entity_refs: (event.entity ?? []).map(entityToken).filter((t) => t !== undefined).join(" "),
  };
}

function indexMatches(row: AuditRow): boolean {
  try {
    const expected = indexColumns(JSON.parse(row.event) as AuditEvent);
    return (
      expected.recorded === row.recorded &&
      expected.outcome === row.outcome &&
      expected.agent_client_id === row.agent_client_id &&
      expected.entity_refs === row.entity_refs
    );
  } catch {
    return false;
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
}

/** LIKE patterns over " " + entity_refs + " ": the whole token, or its value after "=", ":" or "|". */
function entityPatterns(search: string): string[] {
  const value = escapeLike(encodeTokenValue(stripOid(search)));
  return [`% ${value} %`, `%=${value} %`, `%:${value} %`, `%|${value} %`];
}

function toResource(row: Pick<AuditRow, "seq" | "event">): AuditEvent {
  // resourceType and id first, as FHIR JSON is usually written; the stored JSON has its keys sorted.
  const id = String(row.seq);
  return Object.assign({ resourceType: "AuditEvent" as const, id }, JSON.parse(row.event) as AuditEvent, { id });
}

interface PreparedAppend {
  json: string;
  columns: IndexColumns;
}

const VERIFY_BATCH = 1000;

/** The advisory lock key that serializes appends to the chain on PostgreSQL (any fixed number: "trrg" in ASCII). */
const AUDIT_CHAIN_LOCK = 0x74727267;

export class AuditStore {
  private readonly queue: GroupCommitQueue<PreparedAppend, AuditHead>;

  constructor(private readonly db: Database) {
    this.queue = new GroupCommitQueue((group) => this.commit(group));
  }

  /**
   * Appends an event (its `id`, if any, is dropped: the id is the seq). Appends are serialized in this process
   * and grouped (GroupCommitQueue); each transaction reads the newest row before chaining onto it. Across
   * processes (replicas and workers on one PostgreSQL) a transaction-scoped advisory lock serializes the
   * appends; on SQLite the write lock does. Either way the seq primary key keeps the chain from forking.
   */
  append(event: AuditEvent): Promise<AuditHead> {
    const body: AuditEvent = { ...event };
    delete body.id;
    return this.queue.add({ json: canonicalJson(body), columns: indexColumns(body) });
  }

  private commit(group: PreparedAppend[]): Promise<AuditHead[]> {
    return this.db.transaction().execute(async (trx) => {
      if (isPostgres(trx)) await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK}::bigint)`.execute(trx);
      const last = await trx.selectFrom("audit_events").select(["seq", "hash"]).orderBy("seq", "desc").limit(1).executeTakeFirst();
      let head: AuditHead = last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
      const heads: AuditHead[] = [];
      for (const { json, columns } of group) {
        const seq = head.seq + 1;
        const hash = chainHash(head.hash, seq, json);
        await trx.insertInto("audit_events").values({ seq, ...columns, event: json, prev_hash: head.hash, hash }).execute();
        head = { seq, hash };
        heads.push(head);
      }
      return heads;
    });
  }

  /** AuditEvent `id` = seq. */
  async read(seq: number): Promise<AuditEvent | undefined> {
    const row = await this.db.selectFrom("audit_events").select(["seq", "event"]).where("seq", "=", seq).executeTakeFirst();
    return row ? toResource(row) : undefined;
  }

  /** Matching events, newest first, and how many match in all. */
  async search(params: AuditSearch): Promise<{ total: number; events: AuditEvent[] }> {
    let query = this.db.selectFrom("audit_events");
    if (params.dateFrom !== undefined) query = query.where("recorded", ">=", new Date(params.dateFrom).toISOString());
    if (params.dateTo !== undefined) query = query.where("recorded", "<", new Date(params.dateTo).toISOString());
    if (params.agent !== undefined) query = query.where("agent_client_id", "=", params.agent);
    if (params.outcome !== undefined) query = query.where("outcome", "=", params.outcome);
    if (params.entity !== undefined) {
      const patterns = entityPatterns(params.entity);
      query = query.where(({ or }) =>
        or(patterns.map((pattern) => sql<SqlBool>`(' ' || ${sql.ref("entity_refs")} || ' ') like ${pattern} escape '\\'`)),
      );
    }
    const counted = await query.select((eb) => eb.fn.countAll().as("total")).executeTakeFirstOrThrow();
    const rows = params.count > 0
      ? await query.select(["seq", "event"]).orderBy("seq", "desc").limit(params.count).offset(params.offset).execute()
      : [];
    return { total: Number(counted.total), events: rows.map(toResource) };
  }

  /**
   * Walks the chain in seq order and recomputes it. An edited, removed or reordered record shows as a problem at
   * its seq. Removing the newest records leaves a shorter chain that is still valid: that is only detectable
   * against a head (seq and hash) kept outside the database, which `expectedHead` checks and `headHash` provides.
   */
  async verify(expectedHead?: AuditHead): Promise<AuditVerification> {
    const problems: AuditProblem[] = [];
    let head: AuditHead = { seq: 0, hash: GENESIS_HASH };
    let checked = 0;
    let hashAtExpectedSeq: string | undefined;
    for (;;) {
      const rows = await this.db
        .selectFrom("audit_events")
        .selectAll()
        .where("seq", ">", head.seq)
        .orderBy("seq")
        .limit(VERIFY_BATCH)
        .execute();
      for (const row of rows) {
        const seq = Number(row.seq);
        checked += 1;
        if (seq !== head.seq + 1) problems.push({ seq: head.seq + 1, problem: "sequence-gap" });
        if (row.prev_hash !== head.hash) problems.push({ seq, problem: "broken-link" });
        if (chainHash(row.prev_hash, seq, row.event) !== row.hash) problems.push({ seq, problem: "hash-mismatch" });
        if (!indexMatches(row)) problems.push({ seq, problem: "index-mismatch" });
        if (seq === expectedHead?.seq) hashAtExpectedSeq = row.hash;
        head = { seq, hash: row.hash };
      }
      if (rows.length < VERIFY_BATCH) break;
    }
    if (expectedHead && expectedHead.seq > 0) {
      if (head.seq < expectedHead.seq) problems.push({ seq: head.seq + 1, problem: "sequence-gap" });
      else if (hashAtExpectedSeq !== expectedHead.hash) problems.push({ seq: expectedHead.seq, problem: "head-mismatch" });
    }
    return { ok: problems.length === 0, checked, headSeq: head.seq, headHash: head.hash, problems };
  }
}
