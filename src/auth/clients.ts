// Clients registered with the embedded authorization server, from a JSON file (TRRG_AUTH_CLIENTS_FILE). On first
// start the file is created with one demo client, `trrg-cli`, so `trrg-gateway token --client trrg-cli` works
// with no setup. The file holds client secrets: it is created with mode 0600 and its secrets are never logged.
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { z } from "zod";
import type { Logger } from "../log.js";
import { parseResourceScope } from "./scopes.js";
import { createPrivateFileAtomically } from "./signingKeys.js";

export type TokenEndpointAuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt";

export interface RegisteredClient {
  client_id: string;
  client_name?: string;
  /** Space-separated SMART scopes the client may be granted. */
  scope: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  client_secret?: string;
  /** Public keys for private_key_jwt (SMART Backend Services), inline or by URL. */
  jwks?: { keys: Array<Record<string, unknown>> };
  jwks_uri?: string;
  /** A fixed patient id put into this client's access tokens as the SMART `patient` claim. */
  patient?: string;
}

export const DEMO_CLIENT_ID = "trrg-cli";
export const DEMO_CLIENT_SCOPE =
  "system/ImagingStudy.cruds system/DiagnosticReport.rs system/Observation.rs system/AuditEvent.rs system/Task.cruds";

const scopeList = z
  .string()
  .trim()
  .min(1, "must name at least one scope")
  .superRefine((text, ctx) => {
    for (const scope of text.split(/\s+/)) {
      if (!parseResourceScope(scope)) {
        ctx.addIssue({ code: "custom", message: `"${scope}" is not a SMART resource scope such as system/DiagnosticReport.rs` });
      }
    }
  })
  .transform((text) => [...new Set(text.split(/\s+/))].join(" "));

const clientSchema = z
  .object({
    client_id: z.string().regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 printable ASCII characters without spaces"),
    client_name: z.string().min(1).optional(),
    scope: scopeList,
    token_endpoint_auth_method: z.enum(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
    client_secret: z.string().min(16, "must be at least 16 characters").optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1, "must hold at least one key") }).strict().optional(),
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    // A FHIR id (FHIR R4 §2.24.0.1 "id" datatype).
    patient: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, "must be a FHIR id").optional(),
  })
  .strict()
  .superRefine((client, ctx) => {
    if (client.token_endpoint_auth_method === "private_key_jwt") {
      if ((client.jwks === undefined) === (client.jwks_uri === undefined)) {
        ctx.addIssue({ code: "custom", path: ["jwks"], message: "private_key_jwt needs exactly one of jwks or jwks_uri" });
      }
      if (client.client_secret !== undefined) {
        ctx.addIssue({ code: "custom", path: ["client_secret"], message: "must not be set for private_key_jwt" });
      }
    } else {
      if (client.client_secret === undefined) {
        ctx.addIssue({ code: "custom", path: ["client_secret"], message: `required for ${client.token_endpoint_auth_method}` });
      }
      if (client.jwks !== undefined || client.jwks_uri !== undefined) {
        ctx.addIssue({ code: "custom", path: ["jwks"], message: `jwks and jwks_uri are only for private_key_jwt` });
      }
    }
  });

export class ClientsFileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`OAuth clients file "${file}" is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ClientsFileError";
  }
}

/** Validates the file's content; every problem names the client (by client_id, else by position). */
export function parseClients(content: unknown, file: string): RegisteredClient[] {
  if (!Array.isArray(content)) throw new ClientsFileError(file, ["expected a JSON array of clients"]);
  const problems: string[] = [];
  const clients: RegisteredClient[] = [];
  const seen = new Set<string>();
  content.forEach((entry: unknown, index) => {
    const id = (entry as { client_id?: unknown } | null)?.client_id;
    const name = typeof id === "string" && id !== "" ? `client "${id}"` : `clients[${index}]`;
    const result = clientSchema.safeParse(entry);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
        problems.push(`${name}: ${where}${issue.message}`);
      }
      return;
    }
    if (seen.has(result.data.client_id)) problems.push(`${name}: client_id registered twice`);
    seen.add(result.data.client_id);
    clients.push(result.data);
  });
  if (problems.length > 0) throw new ClientsFileError(file, problems);
  return clients;
}

/** Reads and validates the clients file; undefined when it does not exist. */
export async function readClientsFile(file: string): Promise<RegisteredClient[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ClientsFileError(file, [`cannot read it: ${(error as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ClientsFileError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseClients(parsed, file);
}

function demoClients(): RegisteredClient[] {
  return [
    {
      client_id: DEMO_CLIENT_ID,
      client_name: "trrg-gateway command line (demo client, created on first start)",
      scope: DEMO_CLIENT_SCOPE,
      token_endpoint_auth_method: "client_secret_basic",
      client_secret: randomBytes(32).toString("base64url"),
    },
  ];
}

/**
 * The registered clients. When the file does not exist it is created (mode 0600) holding the demo client;
 * when it exists but others can read it, a warning says so, since it holds secrets.
 */
export async function loadOrCreateClients(file: string, logger: Logger): Promise<RegisteredClient[]> {
  const existing = await readClientsFile(file);
  if (existing !== undefined) {
    const { mode } = await stat(file);
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      logger.warn({ file, mode: `0${(mode & 0o777).toString(8)}` }, "OAuth clients file is readable by other users; it holds client secrets: chmod 600 it");
    }
    return existing;
  }
  const clients = demoClients();
  if (!(await createPrivateFileAtomically(file, `${JSON.stringify(clients, null, 2)}\n`))) {
    return (await readClientsFile(file)) ?? [];
  }
  logger.info({ file, clientId: DEMO_CLIENT_ID }, "created the OAuth clients file with a demo client; its secret is in the file");
  return clients;
}
