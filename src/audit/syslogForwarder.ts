// Optional copy of every AuditEvent to a syslog collector (an audit record repository): RFC 5424 messages over
// UDP (RFC 5426) or TCP with octet counting (RFC 6587 §3.4.1), as IHE ATNA's Record Audit Event does. The store
// in the database stays the record of truth; a collector that is down loses copies, never requests.
import dgram from "node:dgram";
import net from "node:net";
import { hostname } from "node:os";
import type { Logger } from "../log.js";
import type { AuditEvent } from "./auditEvent.js";

/** Facility 10 (security/authorization), severity 5 (notice): PRI = 10 × 8 + 5 (RFC 5424 §6.2.1). */
const PRI = 85;
const APP_NAME = "trrg-gateway";

/** One RFC 5424 message: header, no structured data, the AuditEvent JSON as MSG. */
export function syslogMessage(event: AuditEvent, host = hostname()): Buffer {
  const header = `<${PRI}>1 ${event.recorded} ${host.slice(0, 255) || "-"} ${APP_NAME} ${process.pid} AuditEvent -`;
  return Buffer.from(`${header} ${JSON.stringify(event)}`, "utf8");
}

export class SyslogForwarder {
  private socket: net.Socket | undefined;
  private readonly udp: dgram.Socket | undefined;

  constructor(
    private readonly target: URL,
    private readonly logger: Logger,
  ) {
    if (target.protocol !== "udp:" && target.protocol !== "tcp:") throw new Error("syslog target must be udp:// or tcp://");
    this.udp = target.protocol === "udp:" ? dgram.createSocket(net.isIPv6(target.hostname.replace(/^\[|\]$/g, "")) ? "udp6" : "udp4") : undefined;
  }

  send(event: AuditEvent): void {
    const message = syslogMessage(event);
    const port = Number(this.target.port || 514);
    const host = this.target.hostname.replace(/^\[|\]$/g, "");
    if (this.udp) {
      this.udp.send(message, port, host, (error) => error && this.failed(error));
      return;
    }
    this.connection(host, port).write(Buffer.concat([Buffer.from(`${message.length} `), message]));
  }

  close(): void {
    this.udp?.close();
    this.socket?.end();
  }

  private connection(host: string, port: number): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect({ host, port });
    socket.on("error", (error) => {
      this.failed(error);
      socket.destroy();
    });
    this.socket = socket;
    return socket;
  }

  private failed(error: Error): void {
    this.logger.warn({ err: { message: error.message } }, "audit copy to the syslog collector failed");
  }
}
