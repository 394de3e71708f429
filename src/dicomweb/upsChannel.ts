// The UPS-RS notification channel (PS3.18 §8.10.4 Open Notification Connection): a WebSocket at
// /dicomweb/subscribers/{aetitle} on the same port as HTTP. The upgrade request goes through the express app like any
// other request, so bearer-token checks, scopes, rate limits and the audit record apply to it unchanged; only once
// the route accepts it is the socket handed to the WebSocket server.
import { ServerResponse, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Express, Request, Router } from "express";
import { WebSocketServer } from "ws";
import type { UpsEventChannels } from "./upsEvents.js";
import { UpsError } from "./upsWorkitem.js";
import { checkAeTitle, type Worklist } from "./worklist.js";

/** Set on requests that arrived as an HTTP Upgrade (see upgradeThroughApp). */
interface UpgradeRequest extends IncomingMessage {
  upgrade?: { socket: Duplex; head: Buffer };
}

/** Routes an HTTP Upgrade request through the app; a refusal is answered as an ordinary HTTP response. */
export function upgradeThroughApp(app: Express, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  (req as UpgradeRequest).upgrade = { socket, head };
  const res = new ServerResponse(req);
  res.assignSocket(socket as Parameters<ServerResponse["assignSocket"]>[0]);
  res.on("finish", () => socket.end());
  socket.on("error", () => socket.destroy());
  app(req, res);
}

export function registerUpsChannelRoute(router: Router, worklist: Worklist, channels: UpsEventChannels): void {
  const server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  router.get("/subscribers/:aetitle", async (req: Request, res) => {
    const upgrade = (req as UpgradeRequest).upgrade;
    const aeTitle = checkAeTitle(typeof req.params.aetitle === "string" ? req.params.aetitle : "");
    if (!upgrade || req.get("upgrade")?.toLowerCase() !== "websocket") {
      res.set("Upgrade", "websocket");
      throw new UpsError(426, "The notification channel is a WebSocket.", "open this URL with a WebSocket (RFC 6455) upgrade request");
    }
    await worklist.checkAeOwner(aeTitle, { clientId: req.access?.clientId });
    res.statusCode = 101;
    await res.locals.audit.flush();
    res.detachSocket(upgrade.socket as Parameters<ServerResponse["detachSocket"]>[0]);
    server.handleUpgrade(req, upgrade.socket, upgrade.head, (socket) => {
      // Subscribers only listen: whatever they send is ignored.
      socket.on("message", () => undefined);
      channels.attach(aeTitle, socket);
    });
  });
}
