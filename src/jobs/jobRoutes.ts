// GET /jobs/{id} and GET /jobs?study=…: the state of report jobs, for operators and integrations. Guarded as FHIR
// Task reads and searches (DESIGN §6: `*/Task.rs`); a patient/ scope sees only jobs of its patient's studies, as
// WADO-RS and QIDO-RS do (others are not found, not listed).
import { Router, type Request } from "express";
import type { components } from "../http/api.js";
import type { Services } from "../services.js";
import { findStudyPatient } from "../store/instanceIndex.js";
import { isValidUid } from "../dicom/uid.js";
import { JOB_STATES, type Job, type JobState } from "./jobQueue.js";

export type JobView = components["schemas"]["Job"];

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A bad request to the job routes (mapped to its status by src/http/errors.ts). */
class JobRequestError extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
    this.name = "JobRequestError";
  }
}

export function toJobView(job: Job): JobView {
  return {
    id: job.id,
    studyInstanceUID: job.studyInstanceUID,
    model: job.model,
    state: job.state,
    trigger: job.trigger,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    runAfter: job.runAfter,
    leaseExpiresAt: job.leaseExpiresAt,
    lastError: job.lastError,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    result: job.result ?? null,
  };
}

function queryValue(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new JobRequestError(400, `${name} must be given once, with a value`);
  return value;
}

function listFilter(req: Request) {
  const study = queryValue(req, "study");
  if (study !== undefined && !isValidUid(study)) throw new JobRequestError(400, "study is not a valid Study Instance UID");
  const state = queryValue(req, "state");
  if (state !== undefined && !JOB_STATES.includes(state as JobState)) {
    throw new JobRequestError(400, `state must be one of ${JOB_STATES.join(", ")}`);
  }
  const limitText = queryValue(req, "limit");
  const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
  if (!/^\d+$/.test(limitText ?? "1") || limit < 1 || limit > MAX_LIMIT) {
    throw new JobRequestError(400, `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return { study, state: state as JobState | undefined, limit };
}

export function jobRoutes(services: Services): Router {
  const router = Router();

  router.get("/", async (req, res) => {
    const start = req.originalUrl.indexOf("?");
    res.locals.audit.entities.push({ kind: "query", query: start < 0 ? "" : req.originalUrl.slice(start + 1) });
    const { study, state, limit } = listFilter(req);
    const patientId = req.access?.patient;
    if (study !== undefined) res.locals.audit.entities.push({ kind: "study", studyInstanceUID: study });
    if (patientId !== undefined) res.locals.audit.entities.push({ kind: "patient", patientId });
    const jobs = await services.jobs.list({
      ...(study !== undefined ? { studyInstanceUID: study } : {}),
      ...(state !== undefined ? { state } : {}),
      ...(patientId !== undefined ? { patientId } : {}),
      limit,
    });
    const body: components["schemas"]["JobList"] = { jobs: jobs.map(toJobView) };
    res.status(200).json(body);
  });

  router.get("/:id", async (req, res) => {
    const id = req.params.id;
    const job = JOB_ID.test(id) ? await services.jobs.get(id, req.access?.patient) : undefined;
    if (!job) throw new JobRequestError(404, "no such job");
    res.locals.audit.entities.push({ kind: "resource", reference: `jobs/${job.id}` });
    res.locals.audit.entities.push({ kind: "study", studyInstanceUID: job.studyInstanceUID });
    const patient = await findStudyPatient(services.db, job.studyInstanceUID);
    if (patient) res.locals.audit.entities.push({ kind: "patient", patientId: patient.patientId, ...(patient.issuer !== undefined ? { issuer: patient.issuer } : {}) });
    res.status(200).json(toJobView(job));
  });

  return router;
}
