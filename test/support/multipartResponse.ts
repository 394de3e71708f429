// Reads multipart/related response bodies (RFC 2046 §5.1.1) in tests, and a supertest parser that keeps bytes.
import type { Response } from "supertest";

export interface BodyPart {
  headers: Record<string, string>;
  body: Buffer;
}

/** The boundary parameter of a multipart Content-Type. */
export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  return boundary;
}

/** Splits a multipart body into its parts; each part's bytes are exactly what lay between the delimiters. */
export function parseMultipart(body: Buffer, contentType: string): BodyPart[] {
  const boundary = boundaryOf(contentType);
  const delimiter = Buffer.from(`--${boundary}`, "latin1");
  const nextDelimiter = Buffer.from(`\r\n--${boundary}`, "latin1");
  const parts: BodyPart[] = [];
  let position = body.indexOf(delimiter);
  if (position !== 0) throw new Error("body does not start with the boundary delimiter");
  position += delimiter.length;
  while (body.toString("latin1", position, position + 2) !== "--") {
    if (body.toString("latin1", position, position + 2) !== "\r\n") throw new Error("malformed delimiter line");
    const headerEnd = body.indexOf("\r\n\r\n", position, "latin1");
    if (headerEnd < 0) throw new Error("part without header end");
    const headers: Record<string, string> = {};
    for (const line of body.toString("latin1", position + 2, headerEnd).split("\r\n").filter(Boolean)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const end = body.indexOf(nextDelimiter, headerEnd + 4);
    if (end < 0) throw new Error("part without closing delimiter");
    parts.push({ headers, body: body.subarray(headerEnd + 4, end) });
    position = end + nextDelimiter.length;
  }
  return parts;
}

/** supertest parser that collects the raw body into a Buffer, whatever its Content-Type. */
export function binaryParser(res: Response, callback: (error: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on("data", (chunk: Buffer) => chunks.push(chunk));
  res.on("end", () => callback(null, Buffer.concat(chunks)));
}
