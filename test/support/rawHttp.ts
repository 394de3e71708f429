// Raw HTTP requests for what supertest cannot do: chunked bodies written piece by piece, and clients that
// disconnect mid-upload.
import http from "node:http";
import { createServer, type AddressInfo } from "node:net";
import type { Express } from "express";

/** A loopback port nothing listens on right now, for servers that must know their port before they start. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Listening {
  port: number;
  close(): Promise<void>;
}

export async function listen(app: Express): Promise<Listening> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Sends `chunks` one write each with chunked transfer encoding (no Content-Length). */
export function postChunked(port: number, path: string, headers: Record<string, string>, chunks: Buffer[]): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      const body: Buffer[] = [];
      res.on("data", (chunk: Buffer) => body.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(body) }));
    });
    req.on("error", reject);
    const writeNext = (index: number) => {
      if (index === chunks.length) {
        req.end();
        return;
      }
      if (req.destroyed) return;
      req.write(chunks[index], () => setImmediate(() => writeNext(index + 1)));
    };
    writeNext(0);
  });
}

/** Sends the first `bytes` of `body` and then drops the connection, as a crashing client would. */
export function postAndDisconnect(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  bytes: number,
): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers });
    req.on("error", () => resolve());
    req.write(body.subarray(0, bytes), () => {
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
  });
}

/** Splits a buffer into pieces of `size` bytes. */
export function split(buffer: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < buffer.length; offset += size) pieces.push(buffer.subarray(offset, offset + size));
  return pieces;
}
