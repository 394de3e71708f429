// STOW-RS Store Transaction (PS3.18 §10.5). The body is streamed part by part into temporary files; each part
// is checked as it completes. Only when the whole body has arrived (close delimiter seen) are the accepted
// instances committed, so a truncated or aborted request stores nothing.
import { MIMEType } from "node:util";
import {
  FIRST_READ_BYTES,
  parseHeader,
  readInstanceHeader,
  readInstanceHeaderFromPrefix,
  Part10Error,
  type InstanceHeader,
} from "../dicom/part10.js";
import { integerValue, personNameValue, stringValue, type DicomJsonDataset } from "../dicom/dicomJson.js";
import { IMAGE_PIXEL_TYPE1, isImageStorageSOPClass } from "../dicom/sopClass.js";
import { isValidUid } from "../dicom/uid.js";
import { readMultipartRelated, type PartHeaders, type PartSink } from "../http/multipartRelated.js";
import type { Logger } from "../log.js";
import { isOutOfSpace, type InstanceFileStore, type TemporaryFile } from "../store/fileStore.js";
import type { IndexedInstance, InstanceIndexWriter } from "../store/instanceIndex.js";
import { badRequest, payloadTooLarge, unsupportedMediaType } from "./errors.js";
import {
  buildStoreResponse,
  FailureReason,
  storeStatus,
  type FailedInstance,
  type StoredInstance,
  type StoreOutcome,
} from "./storeResponse.js";
import { instanceURL, studyURL } from "./urls.js";

export interface StowSettings {
  maxPartBytes: number;
  maxRequestBytes: number;
  minFreeBytes: number;
  acceptedSopClasses: ReadonlySet<string> | "any";
}

export interface StowServices {
  index: InstanceIndexWriter;
  files: InstanceFileStore;
  settings: StowSettings;
  logger: Logger;
}

export interface StoreRequest {
  contentType: string | undefined;
  contentLength: number | undefined;
  body: AsyncIterable<Buffer>;
  /** The study in the request path, when the client used POST /studies/{StudyInstanceUID}. */
  studyInstanceUID: string | undefined;
  /** Base of RetrieveURL values, e.g. https://gateway.example.org/dicomweb */
  dicomwebBaseUrl: string;
  /** Only instances of this patient may be stored (the request was granted by a SMART patient/ scope). */
  patientId?: string | undefined;
}

export interface StoreResult {
  status: 200 | 202 | 409;
  response: DicomJsonDataset;
  outcome: StoreOutcome;
}

interface AcceptedInstance {
  temporary: TemporaryFile;
  entry: IndexedInstance;
}

type StagedPart = { accepted: AcceptedInstance } | { failed: FailedInstance };

export async function storeInstances(request: StoreRequest, services: StowServices): Promise<StoreResult> {
  const boundary = checkRequestHeaders(request, services.settings);
  const sink = new StagingSink(request, services);
  let staged: StagedPart[];
  try {
    try {
      await readMultipartRelated(limitBodySize(request.body, services.settings.maxRequestBytes), boundary, sink);
    } finally {
      await sink.abandonOpenPart();
    }
    staged = await Promise.all(sink.parts);
  } catch (error) {
    await sink.discardAll();
    throw error;
  }
  const outcome = await commitStaged(staged, request, services);
  const studies = new Set(outcome.stored.map((s) => s.studyInstanceUID));
  const onlyStudy = request.studyInstanceUID ?? (studies.size === 1 ? [...studies][0] : undefined);
  const studyRetrieveURL = onlyStudy ? studyURL(request.dicomwebBaseUrl, onlyStudy) : undefined;
  return { status: storeStatus(outcome), response: buildStoreResponse(outcome, studyRetrieveURL), outcome };
}

/** Validates media type, path UID and declared length; returns the multipart boundary. */
function checkRequestHeaders(request: StoreRequest, settings: StowSettings): string {
  if (request.studyInstanceUID !== undefined && !isValidUid(request.studyInstanceUID)) {
    throw badRequest("StudyInstanceUID in the path is not a valid UID");
  }
  let mediaType: MIMEType;
  try {
    mediaType = new MIMEType(request.contentType ?? "");
  } catch {
    throw unsupportedMediaType('expected Content-Type multipart/related; type="application/dicom"');
  }
  if (mediaType.essence !== "multipart/related") {
    throw unsupportedMediaType(`media type ${mediaType.essence} is not supported; use multipart/related`);
  }
  const rootType = mediaType.params.get("type")?.toLowerCase();
  if (rootType !== "application/dicom") {
    throw unsupportedMediaType(
      `multipart/related type "${rootType ?? ""}" is not supported; only application/dicom instances are accepted`,
    );
  }
  const boundary = mediaType.params.get("boundary");
  if (!boundary) throw badRequest("multipart/related Content-Type has no boundary parameter");
  if (request.contentLength !== undefined && request.contentLength > settings.maxRequestBytes) {
    throw payloadTooLarge(`request body of ${request.contentLength} bytes exceeds ${settings.maxRequestBytes}`);
  }
  return boundary;
}

/** The body, refused with 413 once it passes `maxBytes`; the reader stops at once without closing the socket. */
function limitBodySize(body: AsyncIterable<Buffer>, maxBytes: number): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator]() {
      const chunks = body[Symbol.asyncIterator]();
      let total = 0;
      return {
        next: async () => {
          const next = await chunks.next();
          if (next.done) return next;
          total += next.value.length;
          if (total > maxBytes) {
            await chunks.return?.();
            throw payloadTooLarge(`request body exceeds ${maxBytes} bytes`);
          }
          return next;
        },
        return: async () => (await chunks.return?.()) ?? { done: true, value: undefined },
      };
    },
  };
}

/**
 * Receives each part into a temporary file, then checks it and records it as accepted or failed. The check and
 * the flush to disk of one part run while the next part is being received.
 */
class StagingSink implements PartSink {
  /** One settled outcome per part, in body order. */
  readonly parts: Promise<StagedPart>[] = [];
  private readonly created: TemporaryFile[] = [];
  private temporary: TemporaryFile | undefined;
  private headers: PartHeaders = {};
  /** The first bytes of the part, kept to parse its header while the file is being flushed. */
  private prefix: Buffer[] = [];
  private prefixLength = 0;
  private failure: FailedInstance | undefined;

  constructor(
    private readonly request: StoreRequest,
    private readonly services: StowServices,
  ) {}

  async startPart(headers: PartHeaders): Promise<void> {
    this.headers = headers;
    this.prefix = [];
    this.prefixLength = 0;
    this.failure = partContentTypeFailure(headers["content-type"]);
    if (this.failure) return;
    // The free-space check and the file's creation run side by side; the file goes if the check fails.
    const [free, temporary] = await Promise.allSettled([this.services.files.freeBytes(), this.services.files.createTemporaryFile()]);
    if (temporary.status === "fulfilled") this.created.push(temporary.value);
    if (free.status === "rejected") throw free.reason;
    if (free.value < this.services.settings.minFreeBytes) {
      if (temporary.status === "fulfilled") await temporary.value.discard();
      this.failure = { failureReason: FailureReason.OutOfResources, detail: "storage volume below its free-space reserve" };
      return;
    }
    if (temporary.status === "rejected") throw temporary.reason;
    this.temporary = temporary.value;
  }

  /** Takes a chunk; returns a promise only when the disk is behind (backpressure) or the part must be dropped. */
  partData(chunk: Buffer): Promise<void> | undefined {
    // Kept for a failed part too: a refusal for want of space still names the instance (sopUIDsOf).
    if (this.prefixLength < FIRST_READ_BYTES) {
      this.prefix.push(chunk.subarray(0, FIRST_READ_BYTES - this.prefixLength));
      this.prefixLength += this.prefix.at(-1)!.length;
    }
    if (!this.temporary) return undefined; // a failed part: its bytes are read and dropped
    if (this.temporary.size + chunk.length > this.services.settings.maxPartBytes) {
      throw payloadTooLarge(`a part exceeds the limit of ${this.services.settings.maxPartBytes} bytes`);
    }
    let waiting: Promise<void> | undefined;
    try {
      waiting = this.temporary.write(chunk);
    } catch (error) {
      return this.dropIfOutOfSpace(error);
    }
    return waiting?.catch((error: unknown) => this.dropIfOutOfSpace(error));
  }

  private dropIfOutOfSpace(error: unknown): Promise<void> {
    if (!isOutOfSpace(error)) return Promise.reject(error as Error);
    return this.dropPart({ failureReason: FailureReason.OutOfResources, detail: "storage volume is full" });
  }

  endPart(): void {
    const temporary = this.temporary;
    this.temporary = undefined;
    // One chunk usually holds the whole prefix: then it is used as it is, without a copy.
    const prefix = this.prefix.length === 1 ? this.prefix[0]! : Buffer.concat(this.prefix);
    const failure = this.failure ?? { failureReason: FailureReason.ProcessingFailure, detail: "lost part" };
    const outcome = temporary
      ? settlePart({ temporary, prefix, written: temporary.finish() }, this.headers, this.request, this.services.settings)
      : Promise.resolve({ failed: failure.failureReason === FailureReason.OutOfResources ? { ...sopUIDsOf(prefix), ...failure } : failure });
    // Observed later through `parts`; this handler only keeps an early failure from counting as unhandled.
    outcome.catch(() => undefined);
    this.parts.push(outcome);
  }

  /** Deletes every temporary file of the request, after its parts have settled. */
  async discardAll(): Promise<void> {
    await Promise.allSettled(this.parts);
    await this.abandonOpenPart();
    await Promise.all(this.created.map((temporary) => temporary.discard()));
  }

  /** Deletes the file of a part cut off by an error or a disconnect. */
  async abandonOpenPart(): Promise<void> {
    await this.temporary?.discard();
    this.temporary = undefined;
  }

  private async dropPart(failure: FailedInstance): Promise<void> {
    await this.abandonOpenPart();
    this.failure = failure;
  }
}

function partContentTypeFailure(contentType: string | undefined): FailedInstance | undefined {
  // PS3.18 §8.6.1.2: each part is application/dicom; a part without Content-Type is read as one.
  if (contentType === undefined) return undefined;
  try {
    if (new MIMEType(contentType).essence === "application/dicom") return undefined;
  } catch {
    // fall through: an unparseable media type is not application/dicom
  }
  return { failureReason: FailureReason.CannotUnderstand, detail: "part is not application/dicom" };
}

/** Waits for the part's file to be on disk and checks it; the file is deleted unless the part is accepted. */
async function settlePart(part: ReceivedPart, headers: PartHeaders, request: StoreRequest, settings: StowSettings): Promise<StagedPart> {
  try {
    const [, checked] = await Promise.all([part.written, checkInstance(part, headers, request, settings)]);
    if ("failed" in checked) {
      await part.temporary.discard();
      return checked;
    }
    return { accepted: { temporary: part.temporary, entry: checked.entry } };
  } catch (error) {
    await part.temporary.discard();
    if (!isOutOfSpace(error)) throw error;
    return { failed: { ...sopUIDsOf(part.prefix), failureReason: FailureReason.OutOfResources, detail: "storage volume is full" } };
  }
}

/**
 * The SOP UIDs of a part refused for want of space before it was checked, read from its first bytes: the Failed
 * SOP Sequence item then names the instance to send again (PS3.18 Table I.1-1 includes PS3.3 Table 10-11, whose
 * two UIDs are Type 1). None when those bytes do not hold them.
 */
function sopUIDsOf(prefix: Buffer): Pick<FailedInstance, "sopClassUID" | "sopInstanceUID"> {
  try {
    const header = parseHeader(prefix, false);
    const uids = header && instanceUIDs(header.dataset);
    return uids && !("failed" in uids) ? { sopClassUID: uids.sopClassUID, sopInstanceUID: uids.sopInstanceUID } : {};
  } catch {
    return {};
  }
}

interface ReceivedPart {
  temporary: TemporaryFile;
  prefix: Buffer;
  /** Settles once the whole file is on disk. */
  written: Promise<void>;
}

async function readHeader({ temporary, prefix, written }: ReceivedPart): Promise<InstanceHeader> {
  const fromMemory = readInstanceHeaderFromPrefix(prefix, temporary.size);
  if (fromMemory) return fromMemory;
  await written;
  return readInstanceHeader(temporary.path, temporary.size);
}

type Checked = { entry: IndexedInstance } | { failed: FailedInstance };

const failure = (failureReason: FailureReason, detail: string, uids: Partial<FailedInstance> = {}): Checked => ({
  failed: { ...uids, failureReason, detail },
});

/** Checks one received part as PS3.18 §10.5 and PS3.10 ask, and prepares its index entry. */
async function checkInstance(part: ReceivedPart, headers: PartHeaders, request: StoreRequest, settings: StowSettings): Promise<Checked> {
  const declaredLength = headers["content-length"];
  if (declaredLength !== undefined && Number(declaredLength) !== part.temporary.size) {
    return failure(FailureReason.CannotUnderstand, "part length differs from its Content-Length");
  }
  let header: InstanceHeader;
  try {
    header = await readHeader(part);
  } catch (error) {
    if (!(error instanceof Part10Error)) throw error;
    const reason =
      error.problem === "unsupported-transfer-syntax" ? FailureReason.TransferSyntaxNotSupported : FailureReason.CannotUnderstand;
    return failure(reason, error.message);
  }
  const uids = instanceUIDs(header.dataset);
  if ("failed" in uids) return uids;
  return conformanceFailure(header, uids, request, settings) ?? { entry: indexEntry(header, uids, part.temporary.size) };
}

interface InstanceUIDs {
  sopClassUID: string;
  sopInstanceUID: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
}

function instanceUIDs(dataset: DicomJsonDataset): InstanceUIDs | { failed: FailedInstance } {
  const uids = {
    sopClassUID: stringValue(dataset, "00080016"),
    sopInstanceUID: stringValue(dataset, "00080018"),
    studyInstanceUID: stringValue(dataset, "0020000D"),
    seriesInstanceUID: stringValue(dataset, "0020000E"),
  };
  for (const [name, uid] of Object.entries(uids)) {
    if (!isValidUid(uid)) {
      const reported = { sopClassUID: uids.sopClassUID, sopInstanceUID: uids.sopInstanceUID };
      return { failed: { ...reported, failureReason: FailureReason.CannotUnderstand, detail: `${name} missing or not a valid UID` } };
    }
  }
  return uids as InstanceUIDs;
}

function conformanceFailure(
  { dataset, meta, hasPixelData }: InstanceHeader,
  uids: InstanceUIDs,
  request: StoreRequest,
  settings: StowSettings,
): Checked | undefined {
  const reported = { sopClassUID: uids.sopClassUID, sopInstanceUID: uids.sopInstanceUID };
  if (meta.mediaStorageSOPClassUID !== uids.sopClassUID || meta.mediaStorageSOPInstanceUID !== uids.sopInstanceUID) {
    return failure(FailureReason.DataSetDoesNotMatchSOPClass, "File Meta Information SOP UIDs differ from the data set", reported);
  }
  if (settings.acceptedSopClasses !== "any" && !settings.acceptedSopClasses.has(uids.sopClassUID)) {
    return failure(FailureReason.SOPClassNotSupported, "SOP Class not accepted by this service", reported);
  }
  if (isImageStorageSOPClass(uids.sopClassUID)) {
    const missing = Object.entries(IMAGE_PIXEL_TYPE1)
      .filter(([, tag]) => dataset[tag]?.Value === undefined)
      .map(([name]) => name);
    if (!hasPixelData) missing.push("PixelData");
    if (missing.length > 0) {
      return failure(FailureReason.DataSetDoesNotMatchSOPClass, `image without ${missing.join(", ")}`, reported);
    }
  }
  if (request.patientId !== undefined && stringValue(dataset, "00100020") !== request.patientId) {
    // PS3.7 Annex C: 0124H Refused: Not Authorized.
    return failure(FailureReason.NotAuthorized, "instance of another patient than the token's", reported);
  }
  if (request.studyInstanceUID !== undefined && request.studyInstanceUID !== uids.studyInstanceUID) {
    return failure(FailureReason.StudyInstanceUIDMismatch, "Study Instance UID differs from the request path", reported);
  }
  return undefined;
}

/** The study, series and instance rows of an accepted instance; file_path is set when the file is committed. */
function indexEntry({ dataset, meta }: InstanceHeader, uids: InstanceUIDs, fileSize: number): IndexedInstance {
  const text = (tag: string) => stringValue(dataset, tag) ?? null;
  const name = (tag: string) => personNameValue(dataset, tag) ?? null;
  const integer = (tag: string) => integerValue(dataset, tag) ?? null;
  return {
    study: {
      study_instance_uid: uids.studyInstanceUID,
      patient_id: text("00100020"),
      issuer_of_patient_id: text("00100021"),
      patient_name: name("00100010"),
      patient_birth_date: text("00100030"),
      patient_sex: text("00100040"),
      study_date: text("00080020"),
      study_time: text("00080030"),
      accession_number: text("00080050"),
      referring_physician_name: name("00080090"),
      study_description: text("00081030"),
      study_id: text("00200010"),
    },
    series: {
      series_instance_uid: uids.seriesInstanceUID,
      study_instance_uid: uids.studyInstanceUID,
      modality: text("00080060"),
      series_number: integer("00200011"),
      series_description: text("0008103E"),
      body_part_examined: text("00180015"),
    },
    instance: {
      sop_instance_uid: uids.sopInstanceUID,
      series_instance_uid: uids.seriesInstanceUID,
      study_instance_uid: uids.studyInstanceUID,
      sop_class_uid: uids.sopClassUID,
      instance_number: integer("00200013"),
      transfer_syntax_uid: meta.transferSyntaxUID,
      file_path: "",
      file_size: fileSize,
      metadata: JSON.stringify(dataset),
    },
  };
}

async function commitStaged(staged: StagedPart[], request: StoreRequest, services: StowServices): Promise<StoreOutcome> {
  const outcome: StoreOutcome = { stored: [], failed: [] };
  for (const part of staged) {
    if ("failed" in part) {
      outcome.failed.push(part.failed);
      continue;
    }
    const result = await commitInstance(part.accepted, request, services);
    if ("failureReason" in result) outcome.failed.push(result);
    else outcome.stored.push(result);
  }
  for (const failed of outcome.failed) {
    services.logger.info({ failureReason: `0x${failed.failureReason.toString(16).toUpperCase()}`, detail: failed.detail }, "STOW-RS instance refused");
  }
  return outcome;
}

async function commitInstance(
  accepted: AcceptedInstance,
  request: StoreRequest,
  { index, files }: StowServices,
): Promise<StoredInstance | FailedInstance> {
  const { instance, series } = accepted.entry;
  const uids = { sopClassUID: instance.sop_class_uid, sopInstanceUID: instance.sop_instance_uid };
  const relativePath = files.relativePathFor(series.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid);
  let committed;
  try {
    committed = await files.commit(accepted.temporary, relativePath);
  } catch (error) {
    if (!isOutOfSpace(error)) throw error;
    return { ...uids, failureReason: FailureReason.OutOfResources, detail: "storage volume is full" };
  }
  if (committed === "different-exists") {
    // Never overwrite: a SOP Instance UID names one object (PS3.3 C.12.1.1.1).
    return { ...uids, failureReason: FailureReason.DuplicateSOPInstance, detail: "SOP Instance UID already stored with different content" };
  }
  try {
    // An identical file may lack its index row if a process died between the two steps: indexing heals that.
    await index.add({ ...accepted.entry, instance: { ...instance, file_path: relativePath } });
  } catch (error) {
    if (committed === "created") await files.remove(relativePath);
    throw error;
  }
  const { patient_id: patientId, issuer_of_patient_id: issuer } = accepted.entry.study;
  return {
    ...uids,
    studyInstanceUID: series.study_instance_uid,
    patient: patientId ? { patientId, issuer: issuer ?? undefined } : undefined,
    retrieveURL: instanceURL(request.dicomwebBaseUrl, series.study_instance_uid, series.series_instance_uid, instance.sop_instance_uid),
  };
}

