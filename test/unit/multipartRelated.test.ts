// The multipart/related reader on its own: framing rules of RFC 2046 §5.1.1 under every chunking.
import { describe, expect, it } from "vitest";
import { MalformedMultipartError, readMultipartRelated, type PartHeaders } from "../../src/http/multipartRelated.js";

interface ReadPart {
  headers: PartHeaders;
  body: Buffer;
}

async function* chunked(body: Buffer, sizes: number[]): AsyncIterable<Buffer> {
  let offset = 0;
  let i = 0;
  while (offset < body.length) {
    const size = sizes[i++ % sizes.length]!;
    yield body.subarray(offset, offset + size);
    offset += size;
  }
}

async function read(body: Buffer, boundary: string, sizes = [body.length || 1]): Promise<ReadPart[]> {
  const parts: ReadPart[] = [];
  let current: Buffer[] = [];
  await readMultipartRelated(chunked(body, sizes), boundary, {
    startPart: (headers) => {
      current = [];
      parts.push({ headers, body: Buffer.alloc(0) });
    },
    partData: (chunk) => {
      current.push(Buffer.from(chunk));
    },
    endPart: () => {
      parts.at(-1)!.body = Buffer.concat(current);
    },
  });
  return parts;
}

const body = (text: string) => Buffer.from(text.replace(/\n/g, "\r\n"), "latin1");

describe("readMultipartRelated", () => {
  const twoParts = Buffer.concat([
    body("--XyZ\nContent-Type: application/dicom\n\n"),
    Buffer.from([0x0d, 0x0a, 0x2d, 0x2d, 0x58, 0x79, 0x00, 0xff]), // CRLF "--Xy" inside the data: not a delimiter
    body("\n--XyZ  \nContent-Type: application/dicom\nContent-Length: 3\n\nabc\n--XyZ--\nepilogue ignored"),
  ]);

  it("finds the same parts whatever the chunk sizes, including splits inside delimiters", async () => {
    const expected = await read(twoParts, "XyZ");
    expect(expected).toHaveLength(2);
    expect(expected[0]!.body).toEqual(Buffer.from([0x0d, 0x0a, 0x2d, 0x2d, 0x58, 0x79, 0x00, 0xff]));
    expect(expected[1]!.body.toString()).toBe("abc");
    expect(expected[1]!.headers).toEqual({ "content-type": "application/dicom", "content-length": "3" });
    for (const sizes of [[1], [2], [3], [5, 1], [7, 11, 2], [64]]) {
      expect(await read(twoParts, "XyZ", sizes)).toEqual(expected);
    }
  });

  it("skips a preamble and accepts a first boundary without a leading CRLF", async () => {
    const parts = await read(body("preamble text\n--b\n\nx\n--b--"), "b");
    expect(parts.map((p) => p.body.toString())).toEqual(["x"]);
    expect(parts[0]!.headers).toEqual({});
  });

  it("unfolds continued header lines", async () => {
    const parts = await read(body("--b\nContent-Type: application/dicom;\n transfer-syntax=1.2.840.10008.1.2.1\n\nx\n--b--"), "b");
    expect(parts[0]!.headers["content-type"]).toBe("application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
  });

  it("keeps an empty part", async () => {
    const parts = await read(body("--b\n\n\n--b--"), "b");
    expect(parts).toHaveLength(1);
    expect(parts[0]!.body.length).toBe(0);
  });

  it.each([
    ["a body that ends before the close delimiter", "--b\n\nxyz\n--b\n\nabc", /closing boundary/],
    ["a body with no boundary at all", "just some bytes", /closing boundary/],
    ["text after a boundary on its line", "--b garbage\n\nx\n--b--", /unexpected characters/],
    ["a header line without a colon", "--b\nnot a header\n\nx\n--b--", /malformed part header/],
  ])("rejects %s", async (_name, text, message) => {
    await expect(read(body(text), "b")).rejects.toThrow(MalformedMultipartError);
    await expect(read(body(text), "b")).rejects.toThrow(message);
  });

  it("rejects part headers larger than the limit", async () => {
    const huge = `--b\nX-Long: ${"a".repeat(20_000)}\n\nx\n--b--`;
    await expect(read(body(huge), "b")).rejects.toThrow(/part headers too large/);
  });

  it("takes a boundary longer than RFC 2046's 70 characters, as Orthanc sends, and rejects one over 200", async () => {
    const orthancStyle = `${"a".repeat(36)}-${"b".repeat(36)}`;
    expect(await read(body(`--${orthancStyle}\n\nx\n--${orthancStyle}--`), orthancStyle)).toHaveLength(1);
    await expect(read(body("--x\n\n\n--x--"), "x".repeat(201))).rejects.toThrow(/1 to 200/);
  });

  it("waits for the sink before reading on (backpressure)", async () => {
    const events: string[] = [];
    const source = (async function* () {
      events.push("chunk 1");
      yield body("--b\n\naaaa");
      events.push("chunk 2");
      yield body("bbbb\n--b--");
    })();
    await readMultipartRelated(source, "b", {
      startPart: () => undefined,
      partData: async (chunk) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(`wrote ${chunk.length}`);
      },
      endPart: () => undefined,
    });
    expect(events.indexOf("chunk 2")).toBeGreaterThan(events.indexOf("wrote 1"));
  });
});
