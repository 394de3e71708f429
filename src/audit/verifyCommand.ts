// `trrg-gateway audit verify`: recomputes the audit trail's hash chain (DESIGN.md §6) and reports each problem by
// seq and kind only, never the event's content.
import type { Config } from "../config.js";
import { openConfiguredDatabase } from "../store/database.js";
import { AuditStore, type AuditHead } from "./auditStore.js";

export interface AuditVerifyOptions {
  /** A head recorded earlier ("seq:hash"), to detect removal of the newest records. */
  expectedHead?: AuditHead;
}

/** Parses "seq:hash" as printed by a previous verify; undefined when malformed. */
export function parseAuditHead(text: string): AuditHead | undefined {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: Number(match[1]), hash: match[2]! } : undefined;
}

/** Exit code 0 when the chain verifies, 1 when it has problems. */
export async function runAuditVerify(config: Config, out: NodeJS.WritableStream, options: AuditVerifyOptions = {}): Promise<number> {
  const db = await openConfiguredDatabase(config.database);
  try {
    const result = await new AuditStore(db).verify(options.expectedHead);
    for (const { seq, problem } of result.problems) out.write(`audit verify: seq ${seq}: ${problem}\n`);
    const verdict = result.ok ? "ok" : `${result.problems.length} problem(s)`;
    out.write(`audit verify: ${verdict}; checked ${result.checked} event(s); head ${result.headSeq}:${result.headHash}\n`);
    return result.ok ? 0 : 1;
  } finally {
    await db.destroy();
  }
}
