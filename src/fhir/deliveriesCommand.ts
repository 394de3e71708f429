// `trrg-gateway deliveries [--state STATE]`: what the delivery outbox holds, for an operator. The counts by state,
// then the deliveries that need a look (pending and rejected, or those of --state), oldest first, one line each
// with the reason. Reasons can quote the target's OperationOutcome, so this prints to the operator, never to logs.
import type { Config } from "../config.js";
import { openConfiguredDatabase } from "../store/database.js";
import { DELIVERY_STATES, DeliveryOutbox, deliveryOutboxSettings, type Delivery, type DeliveryState } from "./deliveryOutbox.js";

export interface DeliveriesCommandOptions {
  state?: string;
  limit?: number;
}

/** The reason of a delivery in one line: the target's first issue for a rejection, else the last error. */
function reasonOf(delivery: Delivery): string {
  if (delivery.state === "delivered") return delivery.response?.reportLocation ? `at ${delivery.response.reportLocation}` : "";
  const issue = delivery.outcome?.issue?.[0];
  const said = issue ? `${issue.code}: ${issue.diagnostics ?? issue.details?.text ?? ""}` : (delivery.lastError ?? "");
  return said.replace(/\s+/g, " ").slice(0, 300);
}

export function deliveryLine(delivery: Delivery): string {
  const status = delivery.lastStatus === null ? "-" : String(delivery.lastStatus);
  const when = delivery.state === "pending" ? `next ${delivery.nextAttemptAt}` : `${delivery.state} ${delivery.finishedAt ?? ""}`;
  return [delivery.id, delivery.state, `report ${delivery.reportId} v${delivery.reportVersion}`, `attempts ${delivery.attempts}`, `HTTP ${status}`, when, reasonOf(delivery)]
    .filter(Boolean)
    .join("  ");
}

/** Exit code 0; 2 for an unknown --state. */
export async function runDeliveriesCommand(
  config: Config,
  options: DeliveriesCommandOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  if (options.state !== undefined && !DELIVERY_STATES.includes(options.state as DeliveryState)) {
    err.write(`deliveries: --state must be one of ${DELIVERY_STATES.join(", ")}\n`);
    return 2;
  }
  const db = await openConfiguredDatabase(config.database);
  try {
    const outbox = new DeliveryOutbox(db, deliveryOutboxSettings(config.fhir.delivery));
    const counts = await outbox.counts();
    const target = config.fhir.delivery?.targetUrl ?? "none configured (TRRG_FHIR_TARGET_URL)";
    out.write(`deliveries to ${target}: ${DELIVERY_STATES.map((s) => `${counts[s]} ${s}`).join(", ")}\n`);
    const states = options.state ? [options.state as DeliveryState] : (["pending", "rejected"] as const);
    for (const state of states) {
      for (const delivery of await outbox.list({ state, limit: options.limit ?? 100 })) out.write(`${deliveryLine(delivery)}\n`);
    }
    return 0;
  } finally {
    await db.destroy();
  }
}
