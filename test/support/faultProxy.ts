// An HTTP proxy on loopback in front of a real server, injecting faults into the next requests: an answer of its
// own (a status, headers, a body), no answer at all, or the real answer cut short: ended cleanly after some bytes
// (a truncated body), the connection dropped after them, or stalled after them. Every request is recorded.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "answer"; status: number; headers?: Record<string, string>; body?: string | Buffer }
  | { kind: "hang" }
  | { kind: "truncate"; bytes: number }
  | { kind: "cut"; bytes: number }
  | { kind: "stall"; bytes: number };

export interface ProxiedRequest {
  method: string;
  url: string;
  accept: string | undefined;
  authorization: string | undefined;
  /** The status sent back; null when none was (a hang). */
  status: number | null;
  fault: Fault["kind"] | undefined;
}

export interface FaultProxy {
  origin: string;
  requests: ProxiedRequest[];
  /** Faults for the next requests, one each, in order; requests after them are forwarded untouched. */
  inject(...faults: Fault[]): void;
  /** Forgets the requests and the faults not used yet. */
  reset(): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

/** The upstream answer, passed on until `fault` cuts it. */
function forward(targetPort: number, req: http.IncomingMessage, res: http.ServerResponse, record: ProxiedRequest, fault: Fault | undefined): void {
  const upstream = http.request({ host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    record.status = answer.statusCode ?? 502;
    const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => fault === undefined || !HOP_BY_HOP.has(name)));
    res.writeHead(record.status, headers);
    if (fault === undefined) {
      answer.pipe(res);
      return;
    }
    const limit = (fault as { bytes: number }).bytes;
    let sent = 0;
    answer.on("data", (chunk: Buffer) => {
      if (sent >= limit) return;
      const piece = chunk.subarray(0, limit - sent);
      sent += piece.length;
      res.write(piece);
      if (sent < limit) return;
      answer.destroy();
      if (fault.kind === "truncate") res.end();
      else if (fault.kind === "cut") setTimeout(() => res.socket?.destroy(), 20);
      // stall: nothing more is sent; the client's deadline has to notice.
    });
  });
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const faults: Fault[] = [];
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const fault = faults.shift();
    const record: ProxiedRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      status: null,
      fault: fault?.kind,
    };
    requests.push(record);
    if (fault?.kind === "hang") return;
    if (fault?.kind === "answer") {
      req.resume();
      record.status = fault.status;
      res.writeHead(fault.status, fault.headers ?? {});
      res.end(fault.body ?? "");
      return;
    }
    forward(targetPort, req, res, record, fault);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    inject: (...more) => faults.push(...more),
    reset: () => {
      faults.length = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
