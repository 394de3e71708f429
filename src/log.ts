// Structured logs (pino). Log lines carry operational facts only: never patient names, IDs, UIDs from a request
// path or query, or report text. Those belong in the audit trail.
import { pino, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
    level,
    base: { service: "trrg-gateway" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
