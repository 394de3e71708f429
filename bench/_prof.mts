import http from "node:http";
import { makeInstance } from "/work/main/test/fixtures/dicomFactory.js";
const port = Number(process.argv[2]);
const B = "bb";
const base = makeInstance({ rows: Number(process.argv[3] ?? 1000), columns: Number(process.argv[3] ?? 1000), sopInstanceUID: "2.25.1000000000000000000000000000000000000" });
const store = (buf: Buffer) => new Promise<void>((resolve, reject) => {
  const req = http.request({ host: "127.0.0.1", port, path: "/dicomweb/studies", method: "POST", headers: { "Content-Type": `multipart/related; type="application/dicom"; boundary=${B}` } }, (res) => { res.resume(); res.on("end", () => resolve()); });
  req.on("error", reject);
  req.write(`--${B}\r\nContent-Type: application/dicom\r\n\r\n`); req.write(buf); req.end(`\r\n--${B}--\r\n`);
});
const t = process.hrtime.bigint();
for (let i = 0; i < 60; i++) { const c = Buffer.from(base); const u = "2.25.1000000000000000000000000000" + String(i).padStart(9, "0"); let at = c.indexOf("2.25.1000000000000000000000000000000000000"); while (at >= 0) { c.write(u, at, "latin1"); at = c.indexOf("2.25.1000000000000000000000000000000000000", at + 1); } await store(c); }
console.log("ms per instance", Number(process.hrtime.bigint() - t) / 1e6 / 60);
