import { loadConfig } from "../src/config.js";
import { openServices } from "../src/services.js";
import { storeInstances } from "../src/dicomweb/stow.js";
import { makeInstance } from "../test/fixtures/dicomFactory.js";
const side = Number(process.argv[2] ?? 1000);
const config = loadConfig({ TRRG_DATA_DIR: "/tmp/pdd", TRRG_LOG_LEVEL: "silent" });
const services = await openServices(config);
const T = "2.25.1000000000000000000000000000000000000";
const base = makeInstance({ rows: side, columns: side, sopInstanceUID: T });
const B = "bb";
async function* body(buf: Buffer) { const all = Buffer.concat([Buffer.from(`--${B}\r\nContent-Type: application/dicom\r\n\r\n`), buf, Buffer.from(`\r\n--${B}--\r\n`)]); for (let o = 0; o < all.length; o += 65536) yield all.subarray(o, o + 65536); }
const N = 60; const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const c = Buffer.from(base); const u = "2.25.1000000000000000000000000000" + String(i + Date.now() % 100000 * 100).padStart(9, "0");
  let at = c.indexOf(T); while (at >= 0) { c.write(u, at, "latin1"); at = c.indexOf(T, at + 1); }
  const r = await storeInstances({ contentType: `multipart/related; type="application/dicom"; boundary=${B}`, contentLength: undefined, body: body(c), studyInstanceUID: undefined, dicomwebBaseUrl: "http://x" }, { db: services.db, files: services.files, logger: services.logger, settings: { maxPartBytes: 1e12, maxRequestBytes: 1e12, minFreeBytes: 0, acceptedSopClasses: "any" } });
  if (r.status !== 200) throw new Error(String(r.status));
}
console.log("direct ms per instance", Number(process.hrtime.bigint() - t) / 1e6 / N);
process.exit(0);
