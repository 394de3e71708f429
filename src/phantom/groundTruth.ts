// What a phantom study shows: the subject, how it was acquired, and the findings drawn into its images. The
// reference report (reportGrammar.ts) and the pixels (render.ts) are both made from one PhantomCase, so the text
// and the image agree by construction; tests check the text against the findings labeler.
import type { Laterality } from "../findings/labeler.js";
import { MENTIONED_OBSERVATIONS, type MentionedObservation } from "../findings/observations.js";
import { Random } from "./random.js";

export type Side = "left" | "right";
export type Grade = "mild" | "moderate" | "severe";
export type Size = "small" | "moderate" | "large";
export type Zone = "upper" | "middle" | "lower";
export type SupportDevice = "endotracheal tube" | "central venous catheter" | "nasogastric tube" | "pacemaker";

export type PhantomFinding =
  | { observation: "Cardiomegaly"; severity: Grade; cardiothoracicRatio: number }
  | { observation: "Enlarged Cardiomediastinum"; mediastinalWidening: number }
  | { observation: "Pleural Effusion"; laterality: Laterality; severity: Size }
  | { observation: "Pneumothorax"; laterality: Side; severity: Size }
  | { observation: "Consolidation"; laterality: Side; zone: Zone; airBronchograms: boolean }
  | { observation: "Lung Opacity"; laterality: Laterality; zone: Zone; severity: "mild" | "moderate" }
  | { observation: "Edema"; severity: Grade }
  | { observation: "Atelectasis"; laterality: Laterality; severity: "mild" | "moderate" }
  | { observation: "Lung Lesion"; laterality: Side; zone: Zone; kind: "nodule" | "mass"; diameterMm: number }
  | { observation: "Fracture"; laterality: Side; rib: number }
  | { observation: "Pleural Other"; laterality: Side }
  | { observation: "Support Devices"; devices: SupportDevice[] };

/** The observations a phantom can draw. Pneumonia is a clinical reading of a consolidation, never drawn itself. */
export type DrawnObservation = PhantomFinding["observation"];

/** In the CheXpert order (observations.ts), which is also the order of the model's findings. */
export const DRAWN_OBSERVATIONS: readonly DrawnObservation[] = MENTIONED_OBSERVATIONS.filter(
  (o): o is DrawnObservation => o !== "Pneumonia",
);

export interface PhantomSubject {
  sex: "F" | "M";
  ageYears: number;
  /** Chest width relative to an average adult of that sex (0.85 to 1.15). */
  bodyScale: number;
}

export interface PhantomAcquisition {
  modality: "DX" | "CR";
  /** PA standing, or AP (portable, supine or semi-erect: heart looks larger, fewer ribs above the diaphragm). */
  viewPosition: "PA" | "AP";
  withLateral: boolean;
  /** Relative dose: below 1 is noisier and darker. */
  exposure: number;
  /** Patient rotation in degrees about the vertical axis (clavicle heads off-centre). */
  rotationDegrees: number;
  /** Posterior ribs above the diaphragm at the mid-clavicular line (8 to 11). */
  inspirationRibs: number;
  /** Bits Stored of the detector: CR plates mostly 12, flat-panel DX 14 or 16. */
  bitsStored: 12 | 14 | 16;
}

export interface PhantomCase {
  seed: number;
  subject: PhantomSubject;
  acquisition: PhantomAcquisition;
  findings: PhantomFinding[];
}

/** How often each observation is drawn, roughly; co-occurrences below raise some of them. */
const PREVALENCE: Readonly<Record<DrawnObservation, number>> = {
  "Enlarged Cardiomediastinum": 0.08,
  Cardiomegaly: 0.16,
  "Lung Opacity": 0.1,
  "Lung Lesion": 0.1,
  Edema: 0.1,
  Consolidation: 0.12,
  Atelectasis: 0.12,
  Pneumothorax: 0.1,
  "Pleural Effusion": 0.14,
  "Pleural Other": 0.06,
  Fracture: 0.08,
  "Support Devices": 0.14,
};

/** A share of studies is normal whatever the draws below, as in real chest X-ray worklists. */
const NORMAL_SHARE = 0.3;

export function findingOf<O extends DrawnObservation>(
  c: PhantomCase,
  observation: O,
): Extract<PhantomFinding, { observation: O }> | undefined {
  return c.findings.find((f): f is Extract<PhantomFinding, { observation: O }> => f.observation === observation);
}

export function drawnObservations(c: PhantomCase): Set<MentionedObservation> {
  return new Set(c.findings.map((f) => f.observation));
}

function sampleSubject(rng: Random): PhantomSubject {
  return {
    sex: rng.chance(0.5) ? "F" : "M",
    ageYears: rng.int(19, 92),
    bodyScale: rng.between(0.85, 1.15),
  };
}

function sampleAcquisition(rng: Random, portable: boolean): PhantomAcquisition {
  const modality = rng.chance(0.6) ? "DX" : "CR";
  const acquisition = {
    modality,
    viewPosition: portable || rng.chance(0.15) ? "AP" : "PA",
    withLateral: !portable && rng.chance(0.4),
    exposure: rng.between(0.7, 1.3),
    rotationDegrees: rng.normal(0, 2.5),
    inspirationRibs: portable ? rng.int(8, 9) : rng.int(9, 11),
  } as const;
  // Drawn last, so that the draws above are the same as before this attribute existed.
  const bitsStored = modality === "CR" ? rng.weighted<12 | 14 | 16>([[12, 0.8], [14, 0.2]]) : rng.weighted<12 | 14 | 16>([[12, 0.2], [14, 0.6], [16, 0.2]]);
  return { ...acquisition, bitsStored };
}

const SIDES: readonly Side[] = ["left", "right"];
const GRADES: readonly Grade[] = ["mild", "moderate", "severe"];
const SIZES: readonly Size[] = ["small", "moderate", "large"];
const ZONES: readonly Zone[] = ["upper", "middle", "lower"];

function sampleFinding(rng: Random, observation: DrawnObservation): PhantomFinding {
  switch (observation) {
    case "Cardiomegaly": {
      const severity = rng.weighted<Grade>([["mild", 0.5], ["moderate", 0.35], ["severe", 0.15]]);
      const ratio = { mild: rng.between(0.54, 0.58), moderate: rng.between(0.58, 0.64), severe: rng.between(0.64, 0.72) };
      return { observation, severity, cardiothoracicRatio: ratio[severity] };
    }
    case "Enlarged Cardiomediastinum":
      return { observation, mediastinalWidening: rng.between(1.35, 1.8) };
    case "Pleural Effusion":
      return {
        observation,
        laterality: rng.weighted<Laterality>([["left", 0.35], ["right", 0.4], ["bilateral", 0.25]]),
        severity: rng.weighted<Size>([["small", 0.5], ["moderate", 0.35], ["large", 0.15]]),
      };
    case "Pneumothorax":
      return { observation, laterality: rng.pick(SIDES), severity: rng.weighted<Size>([["small", 0.45], ["moderate", 0.35], ["large", 0.2]]) };
    case "Consolidation":
      return { observation, laterality: rng.pick(SIDES), zone: rng.weighted<Zone>([["upper", 0.25], ["middle", 0.25], ["lower", 0.5]]), airBronchograms: rng.chance(0.5) };
    case "Lung Opacity":
      return {
        observation,
        laterality: rng.weighted<Laterality>([["left", 0.4], ["right", 0.4], ["bilateral", 0.2]]),
        zone: rng.pick(ZONES),
        severity: rng.chance(0.6) ? "mild" : "moderate",
      };
    case "Edema":
      return { observation, severity: rng.weighted<Grade>([["mild", 0.45], ["moderate", 0.4], ["severe", 0.15]]) };
    case "Atelectasis":
      return {
        observation,
        laterality: rng.weighted<Laterality>([["left", 0.35], ["right", 0.3], ["bilateral", 0.35]]),
        severity: rng.chance(0.6) ? "mild" : "moderate",
      };
    case "Lung Lesion": {
      const kind = rng.chance(0.75) ? "nodule" : "mass";
      return { observation, laterality: rng.pick(SIDES), zone: rng.pick(ZONES), kind, diameterMm: kind === "nodule" ? rng.between(14, 30) : rng.between(32, 60) };
    }
    case "Fracture":
      return { observation, laterality: rng.pick(SIDES), rib: rng.int(4, 9) };
    case "Pleural Other":
      return { observation, laterality: rng.pick(SIDES) };
    case "Support Devices": {
      const devices = rng.shuffle<SupportDevice>(["endotracheal tube", "central venous catheter", "nasogastric tube", "pacemaker"])
        .slice(0, rng.weighted([[1, 0.6], [2, 0.3], [3, 0.1]]));
      return { observation, devices };
    }
  }
}

/** Findings that travel together in real studies (heart failure: enlarged heart, edema, effusions). */
function addCompanions(rng: Random, drawn: Set<DrawnObservation>): void {
  if (drawn.has("Edema")) {
    if (rng.chance(0.5)) drawn.add("Cardiomegaly");
    if (rng.chance(0.4)) drawn.add("Pleural Effusion");
  }
  if (drawn.has("Pleural Effusion") && rng.chance(0.3)) drawn.add("Atelectasis");
}

/** A whole case from a seed: the same seed always gives the same case. */
export function sampleCase(seed: number): PhantomCase {
  const rng = new Random(seed);
  const subject = sampleSubject(rng.fork("subject"));
  const draws = rng.fork("findings");
  const drawn = new Set<DrawnObservation>();
  if (!draws.chance(NORMAL_SHARE)) {
    for (const observation of DRAWN_OBSERVATIONS) if (draws.chance(PREVALENCE[observation])) drawn.add(observation);
    addCompanions(draws, drawn);
  }
  const details = rng.fork("details");
  const findings = DRAWN_OBSERVATIONS.filter((o) => drawn.has(o)).map((o) => sampleFinding(details, o));
  const devices = findings.find((f) => f.observation === "Support Devices");
  const portable = devices?.devices.some((d) => d === "endotracheal tube" || d === "central venous catheter") ?? false;
  const acquisition = sampleAcquisition(rng.fork("acquisition"), portable);
  return { seed, subject, acquisition, findings };
}

export { GRADES, SIZES, SIDES, ZONES };
