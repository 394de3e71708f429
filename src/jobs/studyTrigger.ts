// When a study becomes a job. Instances of one study arrive over several STOW-RS requests (a modality sends
// series by series, a router forwards as it receives), so the study is taken as complete — stable — once no new
// instance has arrived for the quiet period: each arrival (re)sets the job's run_after to now + quiet period. A UPS
// workitem (IHE AIW-I) or the command line asks for the study explicitly: its job is due at once.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.js";
import type { Job, JobQueue, ModelIdentity } from "./jobQueue.js";

export interface StudyTriggerOptions {
  quietPeriodMs: number;
  /** The model set the service reports with; read when the first study arrives. */
  model: () => Promise<ModelIdentity>;
  logger: Logger;
  clock?: () => Date;
}

const SWEEP_WINDOW_MS = 24 * 3_600_000;

export class StudyTrigger {
  private model: Promise<ModelIdentity> | undefined;

  constructor(
    private readonly queue: JobQueue,
    private readonly options: StudyTriggerOptions,
  ) {}

  private modelIdentity(): Promise<ModelIdentity> {
    this.model ??= this.options.model().catch((error: unknown) => {
      this.model = undefined; // try again with the next study
      throw error;
    });
    return this.model;
  }

  private now(): Date {
    return this.options.clock?.() ?? new Date();
  }

  /** STOW-RS stored an instance of this study: report it once the study has been quiet for the quiet period. */
  async studyReceived(studyInstanceUID: string): Promise<Job> {
    const runAfter = new Date(this.now().getTime() + this.options.quietPeriodMs);
    return this.queue.enqueue({ studyInstanceUID, model: await this.modelIdentity(), trigger: "stow", runAfter });
  }

  /**
   * The same, for every study of one STOW-RS request; never throws: the instances are stored whatever happens
   * here, so a failure is logged (without the UIDs) and the request goes on.
   */
  async studiesReceived(studyInstanceUIDs: Iterable<string>): Promise<void> {
    for (const uid of new Set(studyInstanceUIDs)) {
      try {
        await this.studyReceived(uid);
      } catch (error) {
        this.options.logger.error({ error: error instanceof Error ? error.name : typeof error }, "study could not be queued for reporting");
      }
    }
  }

  /**
   * Queues the studies of the last day that have no job for the current model: a process that died between
   * storing an instance and queueing its study loses nothing. Older studies are left alone, so that installing a
   * new model version does not re-report the whole archive. Run at start, before the runner; returns the count.
   */
  async sweep(): Promise<number> {
    const since = new Date(this.now().getTime() - SWEEP_WINDOW_MS);
    const missing = await this.queue.studiesWithoutJob(await this.modelIdentity(), since);
    await this.studiesReceived(missing);
    return missing.length;
  }

  /** A UPS workitem or a command asks for this study's report now. */
  async studyRequested(studyInstanceUID: string, trigger: "ups" | "command"): Promise<Job> {
    return this.queue.enqueue({ studyInstanceUID, model: await this.modelIdentity(), trigger, runAfter: this.now() });
  }
}

/** The name and version in a model set's manifest.json, which key its jobs (the pipeline checks the set's files). */
export async function readModelIdentity(directory: string): Promise<ModelIdentity> {
  const manifest = JSON.parse(await readFile(path.join(directory, "manifest.json"), "utf8")) as Partial<ModelIdentity>;
  if (typeof manifest.name !== "string" || typeof manifest.version !== "string") {
    throw new Error(`model manifest in ${directory} has no name or version`);
  }
  return { name: manifest.name, version: manifest.version };
}
