// Streaming reader of multipart/related bodies (RFC 2387 over RFC 2046 §5.1.1), as STOW-RS sends them
// (PS3.18 §8.6.1.2). Parts are handed to a sink chunk by chunk and the next chunk is not read until the sink
// has taken the previous one, so memory stays bounded whatever the body size. A sink that takes a chunk at once
// returns nothing, and the reader goes on without waiting a turn.

export type PartHeaders = Record<string, string>;

export interface PartSink {
  startPart(headers: PartHeaders): Promise<void> | void;
  partData(chunk: Buffer): Promise<void> | void;
  endPart(): Promise<void> | void;
}

/** The body does not follow multipart syntax (maps to HTTP 400). */
export class MalformedMultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedMultipartError";
  }
}

export interface MultipartLimits {
  maxHeaderBytes: number;
  maxPreambleBytes: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxHeaderBytes: 16 * 1024, maxPreambleBytes: 64 * 1024 };
const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");

type State = "preamble" | "afterDelimiter" | "headers" | "body" | "epilogue";

/** What one step of the reader gives: whether to step again at once, or a promise of that once the sink is done. */
type Step = boolean | Promise<boolean>;

const isPromise = (value: unknown): value is Promise<unknown> => typeof (value as Promise<unknown> | undefined)?.then === "function";

/** `then` after the sink's call, without waiting a turn when the sink did not return a promise. */
function after(pending: Promise<void> | void, then: () => Step): Step {
  return isPromise(pending) ? pending.then(then) : then();
}

/** Reads every part of the body; resolves with the number of parts once the close delimiter has been seen. */
export async function readMultipartRelated(
  body: AsyncIterable<Buffer>,
  boundary: string,
  sink: PartSink,
  limits: MultipartLimits = DEFAULT_LIMITS,
): Promise<number> {
  // RFC 2046 §5.1.1 allows 70 characters, but real senders exceed it (Orthanc's DICOMweb client sends 73: two
  // UUIDs joined by "-"), so longer boundaries are taken, up to a cap that keeps the delimiter search cheap.
  if (!/^[ -~]{1,200}$/.test(boundary) || boundary.endsWith(" ")) {
    throw new MalformedMultipartError("boundary must be 1 to 200 printable characters, not ending in a space (RFC 2046 §5.1.1)");
  }
  // Every delimiter is CRLF "--" boundary; a virtual CRLF before the body lets the first one match too.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const keep = delimiter.length - 1;
  let buffer: Buffer = CRLF;
  let state: State = "preamble";
  let skipped = 0;
  let parts = 0;

  const step = (): Step => {
    switch (state) {
      case "preamble": {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          skipped += Math.max(0, buffer.length - keep);
          if (skipped > limits.maxPreambleBytes) throw new MalformedMultipartError("no boundary delimiter found");
          buffer = buffer.subarray(Math.max(0, buffer.length - keep));
          return false;
        }
        buffer = buffer.subarray(at + delimiter.length);
        state = "afterDelimiter";
        return true;
      }
      case "afterDelimiter": {
        if (buffer.length < 2) return false;
        if (buffer[0] === 0x2d && buffer[1] === 0x2d) {
          state = "epilogue";
          return false;
        }
        const lineEnd = buffer.indexOf(CRLF);
        if (lineEnd < 0) {
          if (buffer.length > 1024) throw new MalformedMultipartError("boundary line is not followed by CRLF");
          return false;
        }
        if (!/^[ \t]*$/.test(buffer.toString("latin1", 0, lineEnd))) {
          throw new MalformedMultipartError("unexpected characters after a boundary delimiter");
        }
        buffer = buffer.subarray(lineEnd + 2);
        state = "headers";
        return true;
      }
      case "headers": {
        const end = buffer.subarray(0, 2).equals(CRLF) ? 0 : buffer.indexOf(HEADER_END);
        if (end > limits.maxHeaderBytes || (end < 0 && buffer.length > limits.maxHeaderBytes)) {
          throw new MalformedMultipartError("part headers too large");
        }
        if (end < 0) return false;
        const headers = parseHeaders(buffer.toString("latin1", 0, end));
        buffer = buffer.subarray(end === 0 ? 2 : end + 4);
        state = "body";
        parts += 1;
        return after(sink.startPart(headers), () => true);
      }
      case "body": {
        const at = buffer.indexOf(delimiter);
        if (at < 0) {
          // Hand over all but the few bytes that might begin a delimiter split across chunks. Usually there are
          // none, so the next chunk is searched as it came, without copying it onto a remainder.
          const held = partialDelimiterAtEnd(buffer, delimiter);
          const data = buffer.subarray(0, buffer.length - held);
          buffer = buffer.subarray(buffer.length - held);
          return data.length > 0 ? after(sink.partData(data), () => false) : false;
        }
        const data = buffer.subarray(0, at);
        buffer = buffer.subarray(at + delimiter.length);
        state = "afterDelimiter";
        return after(data.length > 0 ? sink.partData(data) : undefined, () => after(sink.endPart(), () => true));
      }
      case "epilogue":
        buffer = Buffer.alloc(0);
        return false;
    }
  };

  for await (const chunk of body) {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (let next = step(); next !== false; next = step()) {
      if (next !== true && !(await next)) break;
    }
  }
  if ((state as State) !== "epilogue") {
    throw new MalformedMultipartError("body ended before the closing boundary delimiter");
  }
  return parts;
}

/** Length of the longest end of `buffer` that is a beginning of `delimiter` (which starts with CR). */
function partialDelimiterAtEnd(buffer: Buffer, delimiter: Buffer): number {
  for (let i = Math.max(0, buffer.length - delimiter.length + 1); i < buffer.length; i++) {
    if (buffer[i] === 0x0d && buffer.subarray(i).equals(delimiter.subarray(0, buffer.length - i))) return buffer.length - i;
  }
  return 0;
}

function parseHeaders(block: string): PartHeaders {
  const headers: PartHeaders = {};
  let last: string | undefined;
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    if ((line.startsWith(" ") || line.startsWith("\t")) && last) {
      headers[last] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MalformedMultipartError(`malformed part header line "${line.slice(0, 40)}"`);
    last = line.slice(0, colon).trim().toLowerCase();
    headers[last] = line.slice(colon + 1).trim();
  }
  return headers;
}
