// STOW-RS (PS3.18 §10.5) over the real app: real multipart bodies, real SQLite, real files.
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CR_SOP_CLASS,
  IMPLICIT_VR_LITTLE_ENDIAN,
  makeInstance,
  type InstanceOptions,
  makeMultipartRelated,
  newUid,
} from "./fixtures/dicomFactory.js";
import { listen, postAndDisconnect, postChunked, split } from "./support/rawHttp.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

const generated = (name: string) => path.join(import.meta.dirname, "fixtures", "generated", name);

type Dataset = Record<string, { vr: string; Value?: unknown[] }>;

const referenced = (body: Dataset) => (body["00081199"]?.Value ?? []) as Dataset[];
const failed = (body: Dataset) => (body["00081198"]?.Value ?? []) as Dataset[];
const failureReasons = (body: Dataset) => failed(body).map((item) => item["00081197"]?.Value?.[0]);

async function instanceRows(t: TestApp) {
  return t.services.db.selectFrom("instances").selectAll().orderBy("sop_instance_uid").execute();
}

/** Every file under the instance store except the (expected empty) temporary folder. */
async function storedFiles(t: TestApp): Promise<string[]> {
  const root = t.services.files.root;
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.parentPath.includes(".incoming")).map((e) => path.join(e.parentPath, e.name));
}

async function waitForNoTemporaryFiles(t: TestApp): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await t.services.files.pendingTemporaryFiles()).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("temporary files left behind");
}

/** Replaces the Transfer Syntax UID in the file meta group by another of the same length. */
function withTransferSyntax(file: Buffer, from: string, to: string): Buffer {
  const copy = Buffer.from(file);
  const at = copy.indexOf(from, 132, "latin1");
  copy.write(to, at, "latin1");
  return copy;
}

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.close();
});

describe("STOW-RS store of valid instances", () => {
  it("stores a DX instance, indexes it and answers 200 with its RetrieveURL", async () => {
    const study = newUid();
    const instance = makeInstance({ studyInstanceUID: study, patientID: "P-1" });
    const res = await storeInstances(t, [instance]);

    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/dicom\+json/);
    const body = res.body as Dataset;
    expect(body["00081190"]?.Value?.[0]).toMatch(new RegExp(`/dicomweb/studies/${study}$`));
    expect(referenced(body)).toHaveLength(1);
    expect(referenced(body)[0]?.["00081150"]?.Value?.[0]).toBe("1.2.840.10008.5.1.4.1.1.1.1");
    expect(referenced(body)[0]?.["00081190"]?.Value?.[0]).toMatch(/\/series\/[\d.]+\/instances\/[\d.]+$/);
    expect(body["00081198"]).toBeUndefined();

    const rows = await instanceRows(t);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.study_instance_uid).toBe(study);
    const files = await storedFiles(t);
    expect(files).toHaveLength(1);
    expect((await readFile(files[0]!)).equals(instance)).toBe(true);
    const studyRow = await t.services.db.selectFrom("studies").selectAll().executeTakeFirstOrThrow();
    expect(studyRow.patient_id).toBe("P-1");
  });

  it.each([
    ["8-bit DX MONOCHROME2 explicit VR", { bitsAllocated: 8 as const }],
    ["16-bit DX MONOCHROME1", { photometricInterpretation: "MONOCHROME1" as const }],
    ["16-bit CR implicit VR", { modality: "CR" as const, sopClassUID: CR_SOP_CLASS, transferSyntaxUID: IMPLICIT_VR_LITTLE_ENDIAN }],
    ["8-bit CR MONOCHROME1 implicit VR", { modality: "CR" as const, sopClassUID: CR_SOP_CLASS, bitsAllocated: 8 as const, photometricInterpretation: "MONOCHROME1" as const, transferSyntaxUID: IMPLICIT_VR_LITTLE_ENDIAN }],
  ] as Array<[string, Partial<InstanceOptions>]>)("stores a %s instance", async (_name, options) => {
    const res = await storeInstances(t, [makeInstance(options)]);
    expect(res.status).toBe(200);
    const [row] = await instanceRows(t);
    expect(row?.transfer_syntax_uid).toBe(options.transferSyntaxUID ?? "1.2.840.10008.1.2.1");
  });

  it.each([
    ["jpeg-baseline.dcm", "1.2.840.10008.1.2.4.50"],
    ["jpeg-extended.dcm", "1.2.840.10008.1.2.4.51"],
    ["jpeg-lossless.dcm", "1.2.840.10008.1.2.4.70"],
    ["rle.dcm", "1.2.840.10008.1.2.5"],
    ["deflated.dcm", "1.2.840.10008.1.2.1.99"],
    ["big-endian.dcm", "1.2.840.10008.1.2.2"],
  ])("stores %s compressed by dcmtk in its transfer syntax %s", async (file, transferSyntax) => {
    const res = await storeInstances(t, [await readFile(generated(file))]);
    expect(res.status).toBe(200);
    const [row] = await instanceRows(t);
    expect(row?.transfer_syntax_uid).toBe(transferSyntax);
  });

  it("stores several instances of one study sent in one request", async () => {
    const study = newUid();
    const series = newUid();
    const instances = [1, 2, 3].map((n) => makeInstance({ studyInstanceUID: study, seriesInstanceUID: series, instanceNumber: n }));
    const res = await storeInstances(t, instances, `/dicomweb/studies/${study}`);
    expect(res.status).toBe(200);
    expect(referenced(res.body)).toHaveLength(3);
    expect(await instanceRows(t)).toHaveLength(3);
  });

  it("accepts an unquoted boundary, parts with Content-Length and a preamble before the first boundary", async () => {
    const { body } = makeMultipartRelated([makeInstance(), makeInstance()], { boundary: "simple-boundary.42", partContentLength: true });
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", "multipart/related; boundary=simple-boundary.42; type=application/dicom")
      .send(Buffer.concat([Buffer.from("This is a preamble.\r\n"), body]));
    expect(res.status).toBe(200);
    expect(referenced(res.body)).toHaveLength(2);
  });

  it("accepts a quoted boundary holding characters that must be quoted", async () => {
    const boundary = "a:b=c/d?e";
    const { body } = makeMultipartRelated([makeInstance()], { boundary });
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", `multipart/related; type="application/dicom"; boundary="${boundary}"`)
      .send(body);
    expect(res.status).toBe(200);
  });

  it("accepts a part without its own Content-Type as application/dicom", async () => {
    const boundary = "b0undary";
    const instance = makeInstance();
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\n\r\n`), instance, Buffer.from(`\r\n--${boundary}--`)]);
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`)
      .send(body);
    expect(res.status).toBe(200);
  });

  it("streams a chunked body split at every few bytes, boundaries included", async () => {
    const server = await listen(t.app);
    try {
      const instances = [makeInstance({ rows: 32, columns: 32 }), makeInstance({ rows: 32, columns: 32 })];
      const { body, contentType } = makeMultipartRelated(instances);
      const headers = { "Content-Type": contentType, Authorization: `Bearer ${await t.token()}` };
      const res = await postChunked(server.port, "/dicomweb/studies", headers, split(body, 7));
      expect(res.status).toBe(200);
      const files = await storedFiles(t);
      const contents = await Promise.all(files.map((f) => readFile(f)));
      for (const instance of instances) expect(contents.some((c) => c.equals(instance))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("answers in application/dicom+xml (Native DICOM Model) when asked", async () => {
    const { body, contentType } = makeMultipartRelated([makeInstance()]);
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", contentType)
      .set("Accept", "application/dicom+xml")
      .send(body)
      .buffer(true)
      .parse((response, callback) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => callback(null, text));
      });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/dicom\+xml/);
    expect(res.body).toContain('<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">');
    expect(res.body).toContain('<DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">');
  });

  it("answers 406 before reading the body when the client accepts no response type it can get", async () => {
    const { body, contentType } = makeMultipartRelated([makeInstance()]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).set("Accept", "text/html").send(body);
    expect(res.status).toBe(406);
    expect(await instanceRows(t)).toHaveLength(0);
  });
});

describe("STOW-RS duplicates and concurrency", () => {
  it("accepts an identical resend without a second copy", async () => {
    const instance = makeInstance();
    expect((await storeInstances(t, [instance])).status).toBe(200);
    const again = await storeInstances(t, [instance]);
    expect(again.status).toBe(200);
    expect(referenced(again.body)).toHaveLength(1);
    expect(await instanceRows(t)).toHaveLength(1);
    expect(await storedFiles(t)).toHaveLength(1);
  });

  it("refuses different content under an existing SOP Instance UID with 0x0111 and keeps the original", async () => {
    const uids = { studyInstanceUID: newUid(), seriesInstanceUID: newUid(), sopInstanceUID: newUid() };
    const original = makeInstance({ ...uids, seed: 1 });
    await storeInstances(t, [original]);
    const res = await storeInstances(t, [makeInstance({ ...uids, seed: 2 })]);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0x0111]);
    expect(failed(res.body)[0]?.["00081155"]?.Value?.[0]).toBe(uids.sopInstanceUID);
    const files = await storedFiles(t);
    expect(files).toHaveLength(1);
    expect((await readFile(files[0]!)).equals(original)).toBe(true);
  });

  it("stores one copy when two clients send the same study at the same time", async () => {
    const study = newUid();
    const series = newUid();
    const instances = [1, 2, 3, 4].map((n) => makeInstance({ studyInstanceUID: study, seriesInstanceUID: series, instanceNumber: n }));
    const [first, second] = await Promise.all([
      storeInstances(t, instances),
      storeInstances(t, [...instances].reverse()),
    ]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(await instanceRows(t)).toHaveLength(4);
    expect(await storedFiles(t)).toHaveLength(4);
    expect(await t.services.db.selectFrom("studies").selectAll().execute()).toHaveLength(1);
  });
});

describe("STOW-RS instance failures (FailedSOPSequence)", () => {
  it("stores the good parts and reports a non-DICOM part among them with 0xC000 (202)", async () => {
    const good = [makeInstance(), makeInstance()];
    const { body, contentType } = makeMultipartRelated([good[0]!, Buffer.from("definitely not DICOM"), good[1]!]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(body);
    expect(res.status).toBe(202);
    expect(referenced(res.body)).toHaveLength(2);
    expect(failureReasons(res.body)).toEqual([0xc000]);
    expect(await instanceRows(t)).toHaveLength(2);
  });

  it("reports a part of another media type with 0xC000", async () => {
    const { body, contentType } = makeMultipartRelated([makeInstance(), { body: Buffer.from("{}"), headers: { "Content-Type": "application/json" } }]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(body);
    expect(res.status).toBe(202);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("answers 409 when no instance could be stored", async () => {
    const { body, contentType } = makeMultipartRelated([Buffer.from("junk"), Buffer.alloc(300)]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(body);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0xc000, 0xc000]);
    expect(res.body["00081199"]).toBeUndefined();
  });

  it("rejects an instance whose Study UID differs from the path with 0xC409", async () => {
    const pathStudy = newUid();
    const instance = makeInstance({ studyInstanceUID: newUid() });
    const res = await storeInstances(t, [instance, makeInstance({ studyInstanceUID: pathStudy })], `/dicomweb/studies/${pathStudy}`);
    expect(res.status).toBe(202);
    expect(failureReasons(res.body)).toEqual([0xc409]);
    expect(res.body["00081190"]?.Value?.[0]).toMatch(new RegExp(`/studies/${pathStudy}$`));
    expect(await instanceRows(t)).toHaveLength(1);
  });

  it("rejects a file meta SOP Class that differs from the data set with 0xA900", async () => {
    const res = await storeInstances(t, [makeInstance({ mediaStorageSOPClassUID: CR_SOP_CLASS })]);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0xa900]);
    expect(failed(res.body)[0]?.["00081150"]?.Value?.[0]).toBe("1.2.840.10008.5.1.4.1.1.1.1");
  });

  it("rejects an unknown transfer syntax with 0xC122", async () => {
    const file = withTransferSyntax(makeInstance(), "1.2.840.10008.1.2.1", "1.2.840.99999.1.2.1");
    const res = await storeInstances(t, [file]);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0xc122]);
  });

  it("rejects a file without the DICM prefix with 0xC000", async () => {
    const file = makeInstance();
    file.write("XXXX", 128, "latin1");
    const res = await storeInstances(t, [file]);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("rejects a truncated instance whose Pixel Data runs past its end with 0xC000", async () => {
    const file = makeInstance();
    const res = await storeInstances(t, [file.subarray(0, file.length - 100)]);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("rejects a truncated encapsulated instance with 0xC000", async () => {
    const file = await readFile(generated("jpeg-lossless.dcm"));
    const res = await storeInstances(t, [file.subarray(0, file.length - 20)]);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("rejects a part whose length differs from its Content-Length header with 0xC000", async () => {
    const instance = makeInstance();
    const { body, contentType } = makeMultipartRelated([{ body: instance, headers: { "Content-Length": String(instance.length + 5) } }]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(body);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("rejects an instance without a SOP Instance UID with 0xC000", async () => {
    const res = await storeInstances(t, [makeInstance({ sopInstanceUID: "" })]);
    expect(res.status).toBe(409);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("rejects an ill-formed UID with 0xC000", async () => {
    const res = await storeInstances(t, [makeInstance({ seriesInstanceUID: "1.2.03.4" })]);
    expect(failureReasons(res.body)).toEqual([0xc000]);
  });

  it("refuses a SOP Class outside the configured list with 0x0122", async () => {
    const app = await startTestApp({ TRRG_STOW_SOP_CLASSES: CR_SOP_CLASS });
    try {
      const res = await storeInstances(app, [makeInstance(), makeInstance({ modality: "CR", sopClassUID: CR_SOP_CLASS })]);
      expect(res.status).toBe(202);
      expect(failureReasons(res.body)).toEqual([0x0122]);
    } finally {
      await app.close();
    }
  });

  it("refuses instances with 0xA700 when the volume is below its free-space reserve", async () => {
    const app = await startTestApp({ TRRG_STORAGE_MIN_FREE: "1000000TB" });
    try {
      const res = await storeInstances(app, [makeInstance()]);
      expect(res.status).toBe(409);
      expect(failureReasons(res.body)).toEqual([0xa700]);
      expect(await storedFiles(app)).toHaveLength(0);
    } finally {
      await app.close();
    }
  });
});

describe("STOW-RS request errors", () => {
  it.each([
    ["application/dicom"],
    ["text/plain"],
    ['multipart/related; type="application/dicom+json"; boundary=x'],
    ["multipart/related; boundary=x"],
  ])("answers 415 to Content-Type %s", async (contentType) => {
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(makeInstance());
    expect(res.status).toBe(415);
    expect(res.headers.warning).toMatch(/^299 trrg-gateway "/);
    expect(res.body["00000902"]?.vr).toBe("LO");
  });

  it("answers 400 to a multipart Content-Type without a boundary", async () => {
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", 'multipart/related; type="application/dicom"')
      .send(makeInstance());
    expect(res.status).toBe(400);
  });

  it("answers 400 to a truncated body and stores nothing from it", async () => {
    const { body, contentType } = makeMultipartRelated([makeInstance(), makeInstance()]);
    const res = await t.api.post("/dicomweb/studies").set("Content-Type", contentType).send(body.subarray(0, body.length - 500));
    expect(res.status).toBe(400);
    expect(res.headers.warning).toMatch(/closing boundary/);
    expect(await instanceRows(t)).toHaveLength(0);
    expect(await storedFiles(t)).toHaveLength(0);
    expect(await t.services.files.pendingTemporaryFiles()).toEqual([]);
  });

  it("answers 400 to a body that is not multipart at all", async () => {
    const res = await t.api
      .post("/dicomweb/studies")
      .set("Content-Type", 'multipart/related; type="application/dicom"; boundary=abc')
      .send(makeInstance());
    expect(res.status).toBe(400);
  });

  it("answers 400 to a path Study Instance UID that is not a UID", async () => {
    const res = await storeInstances(t, [makeInstance()], "/dicomweb/studies/not-a-uid");
    expect(res.status).toBe(400);
  });

  it("answers 413 at once to a declared Content-Length over the request limit", async () => {
    const app = await startTestApp({ TRRG_STOW_MAX_REQUEST_SIZE: "20KB", TRRG_STOW_MAX_PART_SIZE: "20KB" });
    try {
      const res = await storeInstances(app, [makeInstance(), makeInstance(), makeInstance()]);
      expect(res.status).toBe(413);
      expect(await storedFiles(app)).toHaveLength(0);
    } finally {
      await app.close();
    }
  });

  it("answers 413 to a chunked body that grows over the request limit, leaving nothing behind", async () => {
    const app = await startTestApp({ TRRG_STOW_MAX_REQUEST_SIZE: "40KB", TRRG_STOW_MAX_PART_SIZE: "40KB" });
    const server = await listen(app.app);
    try {
      const { body, contentType } = makeMultipartRelated([1, 2, 3, 4, 5, 6].map(() => makeInstance()));
      const headers = { "Content-Type": contentType, Authorization: `Bearer ${await app.token()}` };
      const res = await postChunked(server.port, "/dicomweb/studies", headers, split(body, 4096));
      expect(res.status).toBe(413);
      await waitForNoTemporaryFiles(app);
      expect(await storedFiles(app)).toHaveLength(0);
      expect(await instanceRows(app)).toHaveLength(0);
    } finally {
      await server.close();
      await app.close();
    }
  });

  it("answers 413 to a part over the per-part limit", async () => {
    const app = await startTestApp({ TRRG_STOW_MAX_PART_SIZE: "10KB" });
    try {
      const res = await storeInstances(app, [makeInstance({ rows: 128, columns: 128 })]);
      expect(res.status).toBe(413);
      expect(await storedFiles(app)).toHaveLength(0);
    } finally {
      await app.close();
    }
  });

  it("leaves no partial file and no index row when the client disconnects mid-upload", async () => {
    const server = await listen(t.app);
    try {
      const instances = [makeInstance({ rows: 256, columns: 256 }), makeInstance({ rows: 256, columns: 256 })];
      const { body, contentType } = makeMultipartRelated(instances);
      // Cut inside the second part, after the first one is complete.
      const headers = { "Content-Type": contentType, "Content-Length": String(body.length), Authorization: `Bearer ${await t.token()}` };
      await postAndDisconnect(server.port, "/dicomweb/studies", headers, body, Math.floor(body.length * 0.75));
      await waitForNoTemporaryFiles(t);
      expect(await storedFiles(t)).toHaveLength(0);
      expect(await instanceRows(t)).toHaveLength(0);
      // The service keeps working.
      expect((await storeInstances(t, [makeInstance()])).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe("STOW-RS on a full volume", () => {
  // A real ENOSPC: the instance store on a 600 KiB tmpfs (mounting needs root, as CI runs).
  it.skipIf(process.getuid?.() !== 0)("stores what fits, answers 0xA700 for the rest and leaves no partial file", async () => {
    const mountPoint = await mkdtemp(path.join(tmpdir(), "trrg-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", mountPoint]);
    const app = await startTestApp({ TRRG_STORAGE_DIR: mountPoint });
    try {
      const instances = Array.from({ length: 8 }, () => makeInstance({ rows: 256, columns: 256 }));
      const res = await storeInstances(app, instances);
      expect(res.status).toBe(202);
      const reasons = failureReasons(res.body);
      expect(reasons.length).toBeGreaterThan(0);
      expect(new Set(reasons)).toEqual(new Set([0xa700]));
      const stored = referenced(res.body).length;
      expect(stored).toBeGreaterThan(0);
      expect(stored + reasons.length).toBe(8);
      expect(await instanceRows(app)).toHaveLength(stored);
      const files = await storedFiles(app);
      expect(files).toHaveLength(stored);
      const contents = await Promise.all(files.map((f) => readFile(f)));
      for (const content of contents) expect(instances.some((i) => i.equals(content))).toBe(true);
      expect(await app.services.files.pendingTemporaryFiles()).toEqual([]);
    } finally {
      await app.close();
      execFileSync("umount", [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});

describe("STOW-RS durability", () => {
  it("keeps stored instances and their index across a restart", async () => {
    const instance = makeInstance();
    await storeInstances(t, [instance]);
    const dataDir = t.dataDir;
    await t.services.db.destroy();
    t = await startTestApp({ TRRG_DATA_DIR: dataDir });

    const rows = await instanceRows(t);
    expect(rows).toHaveLength(1);
    const file = await readFile(t.services.files.absolutePath(rows[0]!.file_path));
    expect(file.equals(instance)).toBe(true);
    expect((await storeInstances(t, [instance])).status).toBe(200);
    expect(await instanceRows(t)).toHaveLength(1);
  });
});
