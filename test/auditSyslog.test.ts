// TRRG_AUDIT_SYSLOG: each AuditEvent also reaches a real syslog collector on loopback as RFC 5424.
import dgram from "node:dgram";
import net from "node:net";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { startTestApp } from "./support/testApp.js";

const RFC5424 = /^<85>1 \d{4}-\d{2}-\d{2}T[\d:.]+Z \S+ trrg-gateway \d+ AuditEvent - (\{.*\})$/s;

async function waitFor<T>(read: () => T | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("nothing arrived");
}

/** Splits an RFC 6587 octet-counted stream into its messages, checking every length. */
function frames(stream: Buffer): string[] {
  const messages: string[] = [];
  let offset = 0;
  while (offset < stream.length) {
    const space = stream.indexOf(0x20, offset);
    const length = Number(stream.toString("latin1", offset, space));
    expect(Number.isInteger(length) && length > 0).toBe(true);
    messages.push(stream.toString("utf8", space + 1, space + 1 + length));
    offset = space + 1 + length;
  }
  return messages;
}

describe("audit copies to syslog", () => {
  it("sends one RFC 5424 message per AuditEvent over UDP", async () => {
    const collector = dgram.createSocket("udp4");
    const messages: string[] = [];
    collector.on("message", (message) => messages.push(message.toString("utf8")));
    collector.bind(0, "127.0.0.1");
    await once(collector, "listening");
    const t = await startTestApp({ TRRG_AUDIT_SYSLOG: `udp://127.0.0.1:${collector.address().port}` });
    try {
      const before = messages.length;
      const res = await t.api.get("/dicomweb/studies").set("X-Request-ID", "syslog-udp-1");
      expect(res.status).toBe(200);
      const message = await waitFor(() => messages.slice(before).find((m) => m.includes("syslog-udp-1")));
      const event = JSON.parse(RFC5424.exec(message)![1]!) as { resourceType: string; outcome: string };
      expect(event).toMatchObject({ resourceType: "AuditEvent", outcome: "0" });
      const stored = (await t.services.audit.search({ count: 1, offset: 0 })).events[0];
      expect(event).toEqual(stored && { ...stored, id: undefined, meta: undefined, ...event });
    } finally {
      await t.close();
      collector.close();
    }
  });

  it("frames messages with octet counting over TCP, refusals included", async () => {
    let received = "";
    const server = net.createServer((socket) => socket.on("data", (chunk) => (received += chunk.toString("utf8"))));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const t = await startTestApp({ TRRG_AUDIT_SYSLOG: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}` });
    try {
      await t.api.get("/dicomweb/studies").set("Authorization", "").set("X-Request-ID", "syslog-tcp-1").unset("Authorization");
      await waitFor(() => (received.includes("syslog-tcp-1") ? true : undefined));
      const message = frames(Buffer.from(received, "utf8")).find((m) => m.includes("syslog-tcp-1"))!;
      const event = JSON.parse(RFC5424.exec(message)![1]!) as { outcome: string };
      expect(event.outcome).toBe("4");
    } finally {
      await t.close();
      server.close();
    }
  });

  it("keeps serving and storing audits when the collector is unreachable", async () => {
    const t = await startTestApp({ TRRG_AUDIT_SYSLOG: "tcp://127.0.0.1:9" });
    try {
      const before = (await t.services.audit.search({ count: 1, offset: 0 })).total;
      expect((await t.api.get("/dicomweb/studies")).status).toBe(200);
      expect((await t.api.get("/dicomweb/studies")).status).toBe(200);
      expect((await t.services.audit.search({ count: 1, offset: 0 })).total).toBe(before + 2);
    } finally {
      await t.close();
    }
  });
});
