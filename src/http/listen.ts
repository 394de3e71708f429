// Listening on a host and port, and stopping, for the service's HTTP server and a worker's probe server alike.
import type { Server } from "node:http";
import type { Express } from "express";

/** http://host:port, an IPv6 literal in brackets (RFC 3986 §3.2.2). */
export function httpOrigin(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export function listen(app: Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // express 5 reports listen errors such as EADDRINUSE to this callback.
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

/** The origin the server listens on: the port it got, when it was asked for port 0. */
export function listeningOrigin(server: Server, host: string): string {
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("the server is not listening");
  return httpOrigin(host, address.port);
}

/** Stops accepting connections, closes the idle ones, and resolves once those in use have finished. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
