// UPS-RS routes (PS3.18 §11, the Worklist Service) under /dicomweb: thin HTTP over src/dicomweb/worklist.ts.
// Payloads are DICOM JSON (application/dicom+json; application/json accepted); XML is answered 415.
import express, { type Request, type Response, type Router } from "express";
import type { AuditEntity } from "../audit/accessRecord.js";
import type { DicomJsonDataset } from "../dicom/dicomJson.js";
import { stringValue } from "../dicom/dicomJson.js";
import { warningHeader } from "../http/errors.js";
import { negotiate } from "../http/negotiation.js";
import { queryParameters, queryString } from "../http/queryString.js";
import type { Services } from "../services.js";
import { dicomwebBaseUrl } from "./baseUrl.js";
import { notAcceptable, unsupportedMediaType } from "./errors.js";
import { SEARCH_MEDIA_TYPES } from "./qido.js";
import { checkDicomJsonDataset, TAG, UpsError } from "./upsWorkitem.js";
import type { Requester } from "./worklist.js";

const DATASET_TYPES = new Set(["application/dicom+json", "application/json"]);
const readJson = express.json({ type: () => true, limit: "1mb" });

function requesterOf(req: Request): Requester {
  return { clientId: req.access?.clientId, patientId: req.access?.patient };
}

/**
 * A UID given as the whole query string (PS3.18 §11.4.1.1 "/workitems?{workitem}", §11.6.1 "?{transaction-uid}"),
 * or, as many clients send it, as a named parameter.
 */
function queryUid(req: Request, names: readonly string[]): string | undefined {
  const query = queryString(req);
  if (query === "") return undefined;
  if (/^[0-9.]+$/.test(query)) return query;
  const params = new URLSearchParams(query);
  for (const name of names) {
    const value = params.get(name);
    if (value !== null) return value.trim();
  }
  return undefined;
}

/** The request's one dataset: a DICOM JSON object, or an array holding one (PS3.18 Annex F). */
async function readDataset(req: Request, res: Response, { optional = false } = {}): Promise<DicomJsonDataset> {
  const contentType = req.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  const empty = req.get("content-length") === "0" || (contentType === undefined && req.get("transfer-encoding") === undefined);
  if (optional && empty) return {};
  if (!contentType || !DATASET_TYPES.has(contentType)) throw unsupportedMediaType("UPS-RS payloads must be application/dicom+json");
  await new Promise<void>((resolve, reject) => readJson(req, res, (error?: unknown) => (error ? reject(error) : resolve())));
  const body: unknown = req.body;
  const dataset = Array.isArray(body) ? (body.length === 1 ? body[0] : undefined) : body;
  if (dataset === undefined) throw new UpsError(400, "The request is not a valid UPS dataset.", "the payload must hold exactly one dataset");
  return checkDicomJsonDataset(dataset);
}

function sendDatasets(req: Request, res: Response, datasets: DicomJsonDataset[]): void {
  const type = negotiate(req.get("accept"), SEARCH_MEDIA_TYPES);
  if (!type) throw notAcceptable("UPS-RS answers in application/dicom+json");
  res.status(200).type(type.mediaType).send(JSON.stringify(datasets));
}

function audit(res: Response, ...entities: AuditEntity[]): void {
  res.locals.audit.entities.push(...entities);
}

function workitemEntities(uid: string, dataset?: DicomJsonDataset): AuditEntity[] {
  const entities: AuditEntity[] = [{ kind: "workitem", workitemUID: uid }];
  const patientId = dataset && stringValue(dataset, TAG.PatientID);
  if (patientId) entities.push({ kind: "patient", patientId, ...(stringValue(dataset, TAG.IssuerOfPatientID) ? { issuer: stringValue(dataset, TAG.IssuerOfPatientID)! } : {}) });
  return entities;
}

function param(req: Request, name: string): string {
  const value = req.params[name];
  return typeof value === "string" ? value : "";
}

/** The AE title to name in a Cancel Requested event: the client's id, cut to an AE title's 16 characters. */
function requestingAe(req: Request): string {
  const printable = [...(req.access?.clientId ?? "")].filter((char) => char >= " " && char <= "~" && char !== "\\").join("");
  return printable.slice(0, 16) || "UNKNOWN";
}

export function registerUpsRoutes(router: Router, services: Services): void {
  const { worklist } = services;
  const workitemUrl = (req: Request, uid: string) => `${dicomwebBaseUrl(req, services.config)}/workitems/${uid}`;

  router.post("/workitems", async (req, res) => {
    const dataset = await readDataset(req, res);
    const created = await worklist.create(dataset, queryUid(req, ["workitem", "AffectedSOPInstanceUID"]));
    audit(res, ...workitemEntities(created.uid, created.dataset));
    res.status(201).set("Location", workitemUrl(req, created.uid)).set("Content-Location", workitemUrl(req, created.uid)).end();
  });

  router.get("/workitems", async (req, res) => {
    const result = await worklist.search(queryParameters(req), requesterOf(req));
    audit(res, { kind: "query", query: queryString(req) }, ...(req.access?.patient ? [{ kind: "patient" as const, patientId: req.access.patient }] : []));
    for (const warning of result.warnings) res.append("Warning", warningHeader(warning));
    sendDatasets(req, res, result.matches);
  });

  router.get("/workitems/:workitem", async (req, res) => {
    const dataset = await worklist.retrieveDataset(param(req, "workitem"), requesterOf(req));
    audit(res, ...workitemEntities(param(req, "workitem"), dataset));
    sendDatasets(req, res, [dataset]);
  });

  router.post("/workitems/:workitem", async (req, res) => {
    const uid = param(req, "workitem");
    const changes = await readDataset(req, res);
    const updated = await worklist.update(uid, changes, queryUid(req, ["transaction-uid", "transaction", "TransactionUID"]));
    audit(res, ...workitemEntities(uid, updated.dataset));
    res.status(200).end();
  });

  router.put("/workitems/:workitem/state", async (req, res) => {
    const uid = param(req, "workitem");
    const payload = await readDataset(req, res);
    const outcome = await worklist.changeState(uid, stringValue(payload, TAG.ProcedureStepState)?.toUpperCase(), stringValue(payload, TAG.TransactionUID));
    audit(res, ...workitemEntities(uid, outcome.record.dataset));
    if (outcome.warning) res.set("Warning", warningHeader(outcome.warning));
    res.status(200).end();
  });

  router.post("/workitems/:workitem/cancelrequest", async (req, res) => {
    const uid = param(req, "workitem");
    const payload = await readDataset(req, res, { optional: true });
    audit(res, ...workitemEntities(uid));
    const outcome = await worklist.requestCancellation(uid, payload, requestingAe(req));
    if (outcome.warning) res.set("Warning", warningHeader(outcome.warning));
    res.status(202).end();
  });

  router.post("/workitems/:workitem/subscribers/:aetitle", async (req, res) => {
    const params = new URLSearchParams(queryString(req));
    const lock = params.get("deletionlock");
    if (lock !== null && !/^(true|false)$/i.test(lock)) throw new UpsError(400, "The request is not valid.", "deletionlock must be true or false");
    const target = param(req, "workitem");
    audit(res, ...workitemEntities(target));
    await worklist.subscribe(param(req, "aetitle"), target, { deletionLock: lock?.toLowerCase() === "true", filter: params.get("filter") ?? undefined }, requesterOf(req));
    res.status(201).end();
  });

  router.delete("/workitems/:workitem/subscribers/:aetitle", async (req, res) => {
    audit(res, ...workitemEntities(param(req, "workitem")));
    await worklist.unsubscribe(param(req, "aetitle"), param(req, "workitem"), requesterOf(req));
    res.status(200).end();
  });

  router.post("/workitems/:workitem/subscribers/:aetitle/suspend", async (req, res) => {
    audit(res, ...workitemEntities(param(req, "workitem")));
    await worklist.suspend(param(req, "aetitle"), param(req, "workitem"), requesterOf(req));
    res.status(200).end();
  });
}
