// Stable identities for the resources of a report: the same study, model and finding always give the same ids, so
// rebuilding a report (a job retried, the report command run twice) writes the same resources, and delivery's
// conditional create recognises them.
import { createHash } from "node:crypto";

/** RFC 4122 §4.3 name-based UUID (version 5, SHA-1) in the namespace below. */
export function nameBasedUuid(name: string): string {
  const hex = uuidBytes(NAMESPACE, name).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The RFC 4122 URL namespace (6ba7b811-...), bytes, with our canonical base as the name of our own namespace.
const URL_NAMESPACE = Buffer.from("6ba7b8119dad11d180b400c04fd430c8", "hex");
const NAMESPACE = uuidBytes(URL_NAMESPACE, "https://trrg-gateway.org/fhir");

function uuidBytes(namespace: Buffer, name: string): Buffer {
  const hash = createHash("sha1").update(namespace).update(name, "utf8").digest().subarray(0, 16);
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  return hash;
}

