// Makes the secret files of a deployment with the service's own code, so that they are exactly what it expects:
// the embedded authorization server's signing keys (one RS384 and one ES384 private JWK) and its clients file
// (one demo client, `trrg-cli`, with a random secret: edit it to register the site's real clients), and for
// compose a deploy/.env with a random POSTGRES_PASSWORD. Existing files are kept, never replaced: replacing the
// keys would invalidate every token issued with them.
//
// Run by deploy/secrets/generate.sh inside the image (--app /app/dist/src); from a checkout: npx tsx
// deploy/secrets/generate.mjs --app src --out DIR.
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    app: { type: "string", default: "/app/dist/src" },
    out: { type: "string", default: "/out" },
    env: { type: "string" },
    owner: { type: "string" },
  },
});
const load = (module) => import(pathToFileURL(path.resolve(values.app, module)).href);
const { loadOrCreateSigningKeys } = await load("auth/signingKeys.js");
const { loadOrCreateClients } = await load("auth/clients.js");

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const keysFile = path.resolve(values.out, "oauth-keys.json");
const clientsFile = path.resolve(values.out, "oauth-clients.json");
const made = [];
for (const [file, create] of [
  [keysFile, () => loadOrCreateSigningKeys(keysFile)],
  [clientsFile, () => loadOrCreateClients(clientsFile, quiet)],
]) {
  const existed = existsSync(file);
  await create();
  if (!existed) made.push(file);
}
if (values.env && !existsSync(values.env)) {
  writeFileSync(values.env, `# Made by deploy/secrets/generate.sh: the PostgreSQL password of deploy/compose.yaml.\nPOSTGRES_PASSWORD=${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  made.push(values.env);
}
// The container user (10001 by default) must read the secrets that compose bind-mounts as they are on the host.
if (values.owner) {
  const [uid, gid] = values.owner.split(":").map(Number);
  for (const file of made.filter((f) => f !== values.env)) {
    chownSync(file, uid, gid ?? uid);
    chmodSync(file, 0o400);
  }
}
for (const file of made) process.stdout.write(`made ${file}\n`);
if (made.length === 0) process.stdout.write("every file already exists; nothing made\n");
