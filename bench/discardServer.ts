// Peer for the STOW-RS benchmark: an HTTP server on loopback that reads each request body and throws it away.
// Its throughput is the ceiling any HTTP upload can reach on this machine with the same client.
import http from "node:http";

const port = Number(process.argv[2]);
http
  .createServer(async (req, res) => {
    for await (const chunk of req) void chunk;
    res.writeHead(200, { "Content-Type": "application/dicom+json" }).end("{}");
  })
  .listen(port, "127.0.0.1", () => process.send?.("ready"));
