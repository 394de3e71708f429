// WADO-RS Retrieve Transaction (PS3.18 §10.4): the Study, Series and Instance resources as DICOM Part 10 parts of
// a multipart/related payload (§8.6.1.2, media types §8.7.3.5), and their Metadata resources as DICOM JSON
// (§10.4.3.3.2).
//
// There is no transcoder yet: instances are always sent in the transfer syntax they were stored in. An Accept
// header that allows that (no transfer-syntax parameter, transfer-syntax=*, or the stored syntaxes) is served;
// one that would need transcoding is answered 406. Strictly, an Accept without transfer-syntax asks for Explicit
// VR Little Endian (PS3.18 §8.7.3.5); we serve the stored syntax and say which in each part's Content-Type.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { DicomJsonDataset } from "../dicom/dicomJson.js";
import { isValidUid } from "../dicom/uid.js";
import { acceptedParameters, negotiate } from "../http/negotiation.js";
import type { Database } from "../store/database.js";
import type { InstanceFileStore } from "../store/fileStore.js";
import {
  findInstanceFiles,
  findInstanceMetadata,
  type InstanceScope,
  type StoredInstanceRef,
} from "../store/instanceIndex.js";
import { badRequest, notAcceptable, notFound } from "./errors.js";

export interface RetrieveServices {
  db: Database;
  files: InstanceFileStore;
}

/** The UIDs of a WADO-RS target resource, as given in the request path. */
export interface RetrievePath {
  study: string | undefined;
  series?: string | undefined;
  instance?: string | undefined;
}

/** Checks the path UIDs (PS3.5 §9.1) and names the instances they select. */
export function retrieveScope(path: RetrievePath): InstanceScope {
  const check = (value: string | undefined, name: string): string => {
    if (!isValidUid(value)) throw badRequest(`${name} in the path is not a valid UID`);
    return value;
  };
  const scope: InstanceScope = { studyInstanceUID: check(path.study, "StudyInstanceUID") };
  if (path.series !== undefined) scope.seriesInstanceUID = check(path.series, "SeriesInstanceUID");
  if (path.instance !== undefined) scope.sopInstanceUID = check(path.instance, "SOPInstanceUID");
  return scope;
}

function describeScope(scope: InstanceScope): string {
  if (scope.sopInstanceUID) return "no such instance in this series";
  if (scope.seriesInstanceUID) return "no such series in this study";
  return "no such study";
}

/** The transfer syntaxes an Accept header allows for instances (PS3.18 §8.7.3.5). */
interface AcceptedSyntaxes {
  /** True when the stored syntax is acceptable whatever it is. */
  any: boolean;
  /** Transfer syntaxes named explicitly by the client. */
  named: Set<string>;
}

const DICOM_PARTS = "multipart/related";

function acceptedSyntaxes(accept: string | undefined): AcceptedSyntaxes {
  if (!accept?.trim()) return { any: true, named: new Set() };
  const ranges = acceptedParameters(accept, DICOM_PARTS).filter(
    (params) => params.type === undefined || params.type.toLowerCase() === "application/dicom",
  );
  const named = new Set<string>();
  let any = false;
  for (const params of ranges) {
    const syntax = params["transfer-syntax"];
    if (syntax === undefined || syntax === "*") any = true;
    else named.add(syntax);
  }
  // */* and multipart/* (without parameters) accept whatever we send.
  if (!any && negotiate(accept, [{ mediaType: DICOM_PARTS }])) any = true;
  if (!any && named.size === 0) {
    throw notAcceptable('WADO-RS returns instances as multipart/related; type="application/dicom"');
  }
  return { any, named };
}

function checkTransferSyntaxes(accepted: AcceptedSyntaxes, instances: readonly StoredInstanceRef[]): void {
  if (accepted.any) return;
  if (instances.every((instance) => accepted.named.has(instance.transferSyntaxUID))) return;
  throw notAcceptable(
    "instances are served in their stored transfer syntax (no transcoding); " +
      'request multipart/related; type="application/dicom"; transfer-syntax=*',
  );
}

export interface RetrievedInstances {
  /** multipart/related; type="application/dicom"; boundary=…, plus transfer-syntax when all parts share one. */
  contentType: string;
  /** The payload, read file by file as it is consumed; stopping early (return()) closes the open file. */
  body: AsyncGenerator<Buffer, void, undefined>;
}

/**
 * Finds the instances of a study, series or instance and prepares their multipart/related payload (PS3.18
 * §10.4.3). Throws 404 when nothing matches and 406 when the Accept header rules out what is stored.
 */
export async function retrieveInstances(
  scope: InstanceScope,
  accept: string | undefined,
  services: RetrieveServices,
): Promise<RetrievedInstances> {
  const accepted = acceptedSyntaxes(accept);
  const instances = await findInstanceFiles(services.db, scope);
  if (instances.length === 0) throw notFound(describeScope(scope));
  checkTransferSyntaxes(accepted, instances);
  // A missing or changed file is found before the status line is sent, so it is a 500 and not a cut payload.
  await Promise.all(instances.map((instance) => checkInstanceFile(services.files, instance)));
  const boundary = randomBytes(16).toString("hex");
  const syntaxes = new Set(instances.map((instance) => instance.transferSyntaxUID));
  const [onlySyntax] = syntaxes;
  const contentType =
    `multipart/related; type="application/dicom"; boundary=${boundary}` +
    (syntaxes.size === 1 && onlySyntax ? `; transfer-syntax=${onlySyntax}` : "");
  return { contentType, body: multipartBody(instances, boundary, services.files) };
}

/** Thrown for an instance file that the index lists but the store cannot serve; its text names no UID or path. */
export class InstanceFileError extends Error {
  constructor(problem: string) {
    super(`instance file ${problem}`);
    this.name = "InstanceFileError";
  }
}

async function checkInstanceFile(files: InstanceFileStore, instance: StoredInstanceRef): Promise<void> {
  let size: number;
  try {
    size = (await stat(files.absolutePath(instance.filePath))).size;
  } catch (error) {
    throw new InstanceFileError(`unreadable (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (size !== instance.fileSize) throw new InstanceFileError("size differs from the index");
}

async function openInstanceFile(files: InstanceFileStore, instance: StoredInstanceRef): Promise<Readable> {
  const stream = files.read(instance.filePath);
  try {
    await once(stream, "ready");
  } catch (error) {
    stream.destroy();
    throw new InstanceFileError(`unreadable (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return stream;
}

const CRLF = Buffer.from("\r\n", "latin1");

/** One body part per instance (RFC 2046 §5.1.1), each file streamed in chunks, never buffered whole. */
async function* multipartBody(
  instances: readonly StoredInstanceRef[],
  boundary: string,
  files: InstanceFileStore,
): AsyncGenerator<Buffer, void, undefined> {
  for (const instance of instances) {
    const file = await openInstanceFile(files, instance);
    try {
      yield Buffer.from(
        `--${boundary}\r\n` +
          `Content-Type: application/dicom; transfer-syntax=${instance.transferSyntaxUID}\r\n` +
          `Content-Length: ${instance.fileSize}\r\n\r\n`,
        "latin1",
      );
      let sent = 0;
      for await (const chunk of file) {
        sent += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      // The part's Content-Length was promised from the index: a file that changed under us must not pass.
      if (sent !== instance.fileSize) throw new InstanceFileError("size differs from the index");
      yield CRLF;
    } finally {
      file.destroy();
    }
  }
  yield Buffer.from(`--${boundary}--\r\n`, "latin1");
}

/** Media types of the Metadata resources (PS3.18 §10.4); application/json is taken as a synonym. */
export const METADATA_MEDIA_TYPES = [{ mediaType: "application/dicom+json" }, { mediaType: "application/json" }] as const;

/** The stored DICOM JSON of each instance of a study, series or instance (PS3.18 §10.4.3.3.2), without Pixel Data. */
export async function retrieveMetadata(scope: InstanceScope, db: Database): Promise<DicomJsonDataset[]> {
  const rows = await findInstanceMetadata(db, scope);
  if (rows.length === 0) throw notFound(describeScope(scope));
  return rows.map((row) => JSON.parse(row) as DicomJsonDataset);
}
