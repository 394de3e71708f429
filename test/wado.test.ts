// WADO-RS Retrieve Transaction (PS3.18 §10.4) over the real app: instances as multipart/related, metadata as JSON.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Readable } from "node:stream";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  makeInstance,
  newUid,
} from "./fixtures/dicomFactory.js";
import { binaryParser, parseMultipart } from "./support/multipartResponse.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

const JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

let t: TestApp;

// Study A: series 1 holds instances 2 and 1 (stored in that order), series 2 holds one; study B is elsewhere.
const studyA = newUid();
const series1 = newUid();
const series2 = newUid();
const [a1, a2, a3] = [newUid(), newUid(), newUid()];
const files = {
  a1: makeInstance({ studyInstanceUID: studyA, seriesInstanceUID: series1, sopInstanceUID: a1, instanceNumber: 1, seed: 1 }),
  a2: makeInstance({ studyInstanceUID: studyA, seriesInstanceUID: series1, sopInstanceUID: a2, instanceNumber: 2, seed: 2 }),
  a3: makeInstance({
    studyInstanceUID: studyA,
    seriesInstanceUID: series2,
    sopInstanceUID: a3,
    seriesNumber: 2,
    instanceNumber: 1,
    seed: 3,
  }),
  b1: makeInstance({ seed: 4 }),
};
// Study M mixes transfer syntaxes: one instance explicit VR little endian, one implicit.
const studyM = newUid();
const seriesM = newUid();
const mixed = {
  explicit: makeInstance({
    studyInstanceUID: studyM,
    seriesInstanceUID: seriesM,
    instanceNumber: 1,
    transferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
  }),
  implicit: makeInstance({
    studyInstanceUID: studyM,
    seriesInstanceUID: seriesM,
    instanceNumber: 2,
    transferSyntaxUID: IMPLICIT_VR_LITTLE_ENDIAN,
  }),
};

const studyPath = `/dicomweb/studies/${studyA}`;
const seriesPath = `${studyPath}/series/${series1}`;
const instancePath = `${seriesPath}/instances/${a2}`;

function retrieve(path: string, accept?: string) {
  const test = t.api.get(path).buffer(true).parse(binaryParser);
  return accept === undefined ? test : test.set("Accept", accept);
}


beforeAll(async () => {
  t = await startTestApp();
  // a2 before a1, so the answer's order comes from instance numbers and not from arrival.
  const stored = await storeInstances(t, [files.a2, files.a3, files.a1, files.b1, mixed.explicit, mixed.implicit]);
  expect(stored.status).toBe(200);
});

afterAll(async () => {
  await t.close();
});

describe("WADO-RS instances", () => {
  it("returns every instance of a study byte for byte, in series then instance number order", async () => {
    const res = await retrieve(studyPath);
    expect(res.status).toBe(200);
    const parts = parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "");
    expect(parts.map((part) => part.body)).toEqual([files.a1, files.a2, files.a3]);
  });

  it("returns the instances of one series byte for byte", async () => {
    const res = await retrieve(seriesPath);
    expect(res.status).toBe(200);
    const parts = parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "");
    expect(parts.map((part) => part.body)).toEqual([files.a1, files.a2]);
  });

  it("returns a single instance byte for byte", async () => {
    const res = await retrieve(instancePath);
    expect(res.status).toBe(200);
    const parts = parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "");
    expect(parts).toHaveLength(1);
    expect(parts[0]?.body.equals(files.a2)).toBe(true);
  });

  it("labels the payload and each part with the stored transfer syntax and each part with its length", async () => {
    const res = await retrieve(studyPath);
    expect(res.headers["content-type"]).toMatch(
      /^multipart\/related; type="application\/dicom"; boundary=[0-9a-f]+; transfer-syntax=1\.2\.840\.10008\.1\.2\.1$/,
    );
    const parts = parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "");
    for (const part of parts) {
      expect(part.headers["content-type"]).toBe(`application/dicom; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`);
      expect(part.headers["content-length"]).toBe(String(part.body.length));
    }
  });

  it("leaves transfer-syntax off the payload type when the parts differ, and labels each part", async () => {
    const res = await retrieve(`/dicomweb/studies/${studyM}`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).not.toContain("transfer-syntax");
    const parts = parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "");
    expect(parts.map((part) => part.headers["content-type"])).toEqual([
      `application/dicom; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`,
      `application/dicom; transfer-syntax=${IMPLICIT_VR_LITTLE_ENDIAN}`,
    ]);
    expect(parts.map((part) => part.body)).toEqual([mixed.explicit, mixed.implicit]);
  });

  it.each([
    ["*/*"],
    ["multipart/*"],
    ["multipart/related"],
    ['multipart/related; type="application/dicom"'],
    ['multipart/related; type="application/dicom"; transfer-syntax=*'],
    [`multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`],
    [`multipart/related; type=application/dicom; transfer-syntax=${JPEG_BASELINE}, */*;q=0.1`],
  ])("serves instances as stored for Accept: %s", async (accept) => {
    const res = await retrieve(instancePath, accept);
    expect(res.status).toBe(200);
    expect(parseMultipart(res.body as Buffer, res.headers["content-type"] ?? "")[0]?.body.equals(files.a2)).toBe(true);
  });

  it("answers HEAD with the payload's headers and no body", async () => {
    const res = await t.api.head(studyPath);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^multipart\/related; type="application\/dicom"/);
  });

  it("answers 406 when the requested transfer syntax would need transcoding, and says to ask for transfer-syntax=*", async () => {
    const res = await retrieve(instancePath, `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_BASELINE}`);
    expect(res.status).toBe(406);
    expect(res.headers.warning).toMatch(/^299 trrg-gateway ".*stored transfer syntax.*transfer-syntax=\*.*"$/);
  });

  it("answers 406 when one named transfer syntax does not cover every instance of a mixed study", async () => {
    const accept = `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`;
    expect((await retrieve(`/dicomweb/studies/${studyM}`, accept)).status).toBe(406);
  });

  it("serves a mixed study when the Accept header names each stored transfer syntax", async () => {
    const accept =
      `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}, ` +
      `multipart/related; type="application/dicom"; transfer-syntax=${IMPLICIT_VR_LITTLE_ENDIAN}`;
    expect((await retrieve(`/dicomweb/studies/${studyM}`, accept)).status).toBe(200);
  });

  it.each([["application/dicom+json"], ['multipart/related; type="application/octet-stream"'], ["application/dicom"]])(
    "answers 406 for Accept: %s",
    async (accept) => {
      const res = await retrieve(studyPath, accept);
      expect(res.status).toBe(406);
      expect(res.headers.warning).toMatch(/^299 trrg-gateway "/);
    },
  );

  it("answers 404 for an unknown study, a series of another study and an instance of another series", async () => {
    for (const path of [
      `/dicomweb/studies/${newUid()}`,
      `/dicomweb/studies/${studyA}/series/${newUid()}`,
      `/dicomweb/studies/${studyA}/series/${series2}/instances/${a1}`,
    ]) {
      const res = await retrieve(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.warning).toMatch(/^299 trrg-gateway "no such/);
    }
  });

  it("answers 400 for a path UID that is not a valid UID", async () => {
    for (const path of [
      "/dicomweb/studies/not-a-uid",
      `/dicomweb/studies/${studyA}/series/1.02.3`,
      `${seriesPath}/instances/1..2`,
    ]) {
      const res = await retrieve(path);
      expect(res.status, path).toBe(400);
      expect(res.headers.warning).toContain("not a valid UID");
    }
  });

  it("closes the instance files and keeps serving when a client disconnects mid-stream", async () => {
    const studyUID = newUid();
    // 8 MB each: more than loopback socket buffers hold, so the server is still sending when the client leaves.
    const large = [1, 2, 3, 4].map((n) =>
      makeInstance({ studyInstanceUID: studyUID, instanceNumber: n, rows: 2048, columns: 2048, seed: n }),
    );
    expect((await storeInstances(t, large)).status).toBe(200);
    const opened: Readable[] = [];
    const read = t.services.files.read.bind(t.services.files);
    const spy = vi.spyOn(t.services.files, "read").mockImplementation((relativePath) => {
      const stream = read(relativePath);
      opened.push(stream);
      return stream;
    });
    const token = await t.token();
    const server = http.createServer(t.app).listen(0, "127.0.0.1");
    try {
      await once(server, "listening");
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const headers = { Authorization: `Bearer ${token}` };
        const req = http.get({ host: "127.0.0.1", port, path: `/dicomweb/studies/${studyUID}`, headers }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", (error) => {
          if ((error as NodeJS.ErrnoException).code !== "ECONNRESET") reject(error);
        });
      });
      await vi.waitFor(() => {
        expect(opened.length).toBeGreaterThan(0);
        expect(opened.every((stream) => stream.destroyed && (stream as Readable & { closed: boolean }).closed)).toBe(true);
      });
      // Not every file was read: the stream stopped with the client.
      expect(opened.length).toBeLessThan(large.length);
      const health = await request(server).get("/healthz");
      expect(health.status).toBe(200);
    } finally {
      spy.mockRestore();
      server.close();
    }
  });
});

describe("WADO-RS metadata", () => {
  const tag = (dataset: unknown, tagId: string) => (dataset as Record<string, { Value?: unknown[] }>)[tagId]?.Value?.[0];

  it("returns the stored DICOM JSON of every instance of a study, without Pixel Data", async () => {
    const res = await t.api.get(`${studyPath}/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/dicom\+json/);
    const datasets = res.body as Record<string, unknown>[];
    expect(datasets.map((dataset) => tag(dataset, "00080018"))).toEqual([a1, a2, a3]);
    for (const dataset of datasets) {
      expect(tag(dataset, "0020000D")).toBe(studyA);
      expect(dataset["7FE00010"]).toBeUndefined();
    }
    expect(datasets[0]?.["00100010"]).toEqual({ vr: "PN", Value: [{ Alphabetic: "Test^Patient" }] });
    expect(datasets[0]?.["00280010"]).toEqual({ vr: "US", Value: [64] });
  });

  it("returns the metadata of one series and of one instance", async () => {
    const series = await t.api.get(`${seriesPath}/metadata`);
    expect((series.body as unknown[]).map((dataset) => tag(dataset, "00080018"))).toEqual([a1, a2]);
    const instance = await t.api.get(`${instancePath}/metadata`);
    expect((instance.body as unknown[]).map((dataset) => tag(dataset, "00080018"))).toEqual([a2]);
  });

  it("accepts application/json as well as application/dicom+json", async () => {
    const res = await t.api.get(`${instancePath}/metadata`).set("Accept", "application/json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
  });

  it("answers 406 when the Accept header rules out DICOM JSON", async () => {
    const res = await t.api
      .get(`${instancePath}/metadata`)
      .set("Accept", 'multipart/related; type="application/dicom+xml"');
    expect(res.status).toBe(406);
  });

  it("answers 404 for metadata of an unknown study, series or instance", async () => {
    for (const path of [
      `/dicomweb/studies/${newUid()}/metadata`,
      `${studyPath}/series/${newUid()}/metadata`,
      `${seriesPath}/instances/${newUid()}/metadata`,
    ]) {
      expect((await t.api.get(path)).status, path).toBe(404);
    }
  });

  it("answers 400 for metadata under an invalid path UID", async () => {
    expect((await t.api.get("/dicomweb/studies/abc/metadata")).status).toBe(400);
  });
});
