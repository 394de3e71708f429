// Reference report text for a phantom study: a FINDINGS and an IMPRESSION section in the style of MIMIC-CXR and
// IU X-ray reports, written from the PhantomCase so that the text says exactly what the images show. Every
// sentence carries what it tells the findings labeler, so the labels come from the grammar itself; the tests check
// them against labelStatuses. Wordings the labeler would misread (see phrases.ts) are avoided rather than patched:
// no "stable"/"unchanged" about findings, no anatomy ("heart size") in a sentence with a finding, no "or"/"versus"
// next to a present finding, no colons (section headers), no sentence starting with a number.
import type { LabelStatus } from "../findings/labeler.js";
import { OBSERVATIONS, type MentionedObservation, type ObservationName } from "../findings/observations.js";
import type { DrawnObservation, PhantomCase, PhantomFinding, Side, SupportDevice, Zone } from "./groundTruth.js";
import type { Random } from "./random.js";

export interface ReferenceReport {
  findings: string;
  impression: string;
  text: string;
  /** What the text says, per CheXpert observation: the labels the labeler must give on `text`. */
  labels: Record<ObservationName, LabelStatus | null>;
}

type Says = Partial<Record<MentionedObservation, LabelStatus>>;

/** One sentence and what it tells the labeler. */
interface Sentence {
  text: string;
  says: Says;
}

type Finding<O extends DrawnObservation> = Extract<PhantomFinding, { observation: O }>;

// ---- small helpers ----

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Fills {name} slots; a template is a plain string so that the phrase tables read like the reports. */
function fill(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`no value for {${name}} in "${template}"`);
    return value;
  });
}

function sentence(text: string, says: Says = {}): Sentence {
  const body = capitalize(text.trim());
  return { text: body.endsWith(".") ? body : `${body}.`, says };
}

function say(rng: Random, templates: readonly string[], vars: Readonly<Record<string, string>>, says: Says): Sentence {
  return sentence(fill(rng.pick(templates), vars), says);
}

/** "a", "a or b", "a, b, or c" (the serial comma varies between radiologists). */
function orList(rng: Random, items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  if (items.length === 2) return `${items[0]} or ${items[1]}`;
  const comma = rng.chance(0.7) ? "," : "";
  return `${items.slice(0, -1).join(", ")}${comma} or ${items[items.length - 1]}`;
}

function andList(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

// ---- words for sides, sizes, zones ----

const ORDINALS: Readonly<Record<number, readonly string[]>> = {
  4: ["4th", "fourth"],
  5: ["5th", "fifth"],
  6: ["6th", "sixth"],
  7: ["7th", "seventh"],
  8: ["8th", "eighth"],
  9: ["9th", "ninth"],
};

const GRADE_ADJECTIVE: Readonly<Record<"mild" | "moderate" | "severe", readonly string[]>> = {
  mild: ["mild"],
  moderate: ["moderate"],
  severe: ["severe", "marked"],
};
const GRADE_ADVERB: Readonly<Record<"mild" | "moderate" | "severe", readonly string[]>> = {
  mild: ["mildly"],
  moderate: ["moderately"],
  severe: ["markedly", "severely"],
};
const SIZE_ADJECTIVE: Readonly<Record<"small" | "moderate" | "large", readonly string[]>> = {
  small: ["small", "small", "tiny"],
  moderate: ["moderate", "moderate-sized"],
  large: ["large"],
};

/** Lobes where they exist; the left lung has no middle lobe, so its middle zone is "mid lung". */
function lobe(rng: Random, side: Side, zone: Zone): string {
  if (zone === "middle") return side === "right" && rng.chance(0.7) ? "right middle lobe" : `${side} mid lung`;
  return rng.chance(0.75) ? `${side} ${zone} lobe` : `${side} ${zone} zone`;
}

const ZONE_SINGLE: Readonly<Record<Zone, readonly string[]>> = {
  upper: ["upper lung", "upper zone", "upper lobe"],
  middle: ["mid lung", "mid zone"],
  lower: ["lower lung", "lung base", "lower zone", "lower lobe"],
};
const ZONE_BOTH: Readonly<Record<Zone, readonly string[]>> = {
  upper: ["both upper lungs", "both upper zones"],
  middle: ["both mid lungs", "both mid zones"],
  lower: ["both lung bases", "both lower lungs"],
};

// ---- present findings: findings-section sentences ----

const CARDIOMEGALY_FINDINGS: readonly string[] = [
  "{adj} cardiomegaly",
  "there is {adj} cardiomegaly",
  "the heart is {adv} enlarged",
  "the cardiac silhouette is {adv} enlarged",
  "heart size is {adv} enlarged",
  "{adj} enlargement of the cardiac silhouette",
];
const CARDIOMEGALY_IMPRESSIONS: readonly string[] = [
  "{adj} cardiomegaly",
  "{adj} cardiomegaly",
  "{adj} enlargement of the cardiac silhouette",
];

function cardiomegaly(rng: Random, f: Finding<"Cardiomegaly">): Sentence {
  const vars = { adj: rng.pick(GRADE_ADJECTIVE[f.severity]), adv: rng.pick(GRADE_ADVERB[f.severity]) };
  return say(rng, CARDIOMEGALY_FINDINGS, vars, { Cardiomegaly: "present" });
}

const MEDIASTINUM_FINDINGS: readonly string[] = [
  "the mediastinum is widened",
  "the superior mediastinum is widened",
  "widening of the mediastinum",
  "there is widening of the superior mediastinum",
  "mediastinal widening is noted",
  "the mediastinal contours are widened",
];
const MEDIASTINUM_IMPRESSIONS: readonly string[] = ["widened mediastinum", "mediastinal widening", "widening of the mediastinum"];

const OPACITY_SINGLE: readonly string[] = [
  "{adj} opacity in the {side} {zone}",
  "{adj} patchy opacity in the {side} {zone}",
  "there is {adj} opacity in the {side} {zone}",
  "{adj} hazy opacity in the {side} {zone}",
];
const OPACITY_BOTH: readonly string[] = [
  "{adj} patchy opacities in {both}",
  "there are {adj} opacities in {both}",
  "{adj} bilateral {zone} opacities",
];
const OPACITY_ADJECTIVE: Readonly<Record<"mild" | "moderate", readonly string[]>> = {
  mild: ["mild", "minimal", "mild"],
  moderate: ["moderate"],
};

function lungOpacity(rng: Random, f: Finding<"Lung Opacity">): Sentence {
  const adj = rng.pick(OPACITY_ADJECTIVE[f.severity]);
  const says: Says = { "Lung Opacity": "present" };
  if (f.laterality !== "bilateral") {
    return say(rng, OPACITY_SINGLE, { adj, side: f.laterality, zone: rng.pick(ZONE_SINGLE[f.zone]) }, says);
  }
  if (f.zone === "lower" && rng.chance(0.3)) return sentence(`${adj} bibasilar opacities`, says);
  const zone = rng.pick(ZONE_SINGLE[f.zone]).replace("lung base", "lung");
  return say(rng, OPACITY_BOTH, { adj, both: rng.pick(ZONE_BOTH[f.zone]), zone }, says);
}

function opacityPlace(f: Finding<"Lung Opacity">): string {
  const zone = { upper: "upper lung", middle: "mid lung", lower: "lower lung" }[f.zone];
  return f.laterality === "bilateral" ? `bilateral ${zone}` : `${f.laterality} ${zone}`;
}

const LESION_FINDINGS: readonly string[] = [
  "a {cm} cm {kind} in the {place}",
  "there is a {cm} cm {kind} in the {place}",
  "a {cm} cm {place} {kind}",
  "{kind} in the {place} measuring {cm} cm",
  "a {kind} measuring {cm} cm is seen in the {place}",
];

function lesionSize(f: Finding<"Lung Lesion">): string {
  return (f.diameterMm / 10).toFixed(1);
}

function lungLesion(rng: Random, f: Finding<"Lung Lesion">, place: string): Sentence {
  const kind = f.kind === "nodule" ? rng.pick(["nodule", "pulmonary nodule"]) : "mass";
  return say(rng, LESION_FINDINGS, { cm: lesionSize(f), kind, place }, { "Lung Lesion": "present" });
}

const EDEMA_FINDINGS: readonly string[] = [
  "{adj} pulmonary edema",
  "there is {adj} pulmonary edema",
  "{adj} interstitial pulmonary edema",
  "findings are consistent with {adj} pulmonary edema",
  "{adj} interstitial edema",
];

function edema(rng: Random, f: Finding<"Edema">): Sentence {
  return say(rng, EDEMA_FINDINGS, { adj: rng.pick(GRADE_ADJECTIVE[f.severity]) }, { Edema: "present" });
}

const CONSOLIDATION_FINDINGS: readonly string[] = [
  "consolidation in the {place}{bronchograms}",
  "{place} consolidation{bronchograms}",
  "there is focal consolidation in the {place}{bronchograms}",
  "focal {place} consolidation{bronchograms}",
  "airspace consolidation in the {place}{bronchograms}",
];
/** Pneumonia is never drawn: it is only a reading of the consolidation, so always hedged. */
const PNEUMONIA_HEDGES: readonly string[] = [
  ", concerning for pneumonia",
  ", which may represent pneumonia in the appropriate clinical setting",
  ", suspicious for pneumonia",
  ", likely pneumonia",
  ", possibly pneumonia",
];

function consolidation(rng: Random, f: Finding<"Consolidation">, place: string, hedge: boolean): Sentence {
  const bronchograms = f.airBronchograms ? " with air bronchograms" : "";
  const says: Says = { Consolidation: "present" };
  let text = fill(rng.pick(CONSOLIDATION_FINDINGS), { place, bronchograms });
  if (hedge) {
    text += rng.pick(PNEUMONIA_HEDGES);
    says.Pneumonia = "uncertain";
  }
  return sentence(text, says);
}

const ATELECTASIS_SINGLE: readonly string[] = [
  "{adj} {side} basilar atelectasis",
  "{adj} atelectasis at the {side} lung base",
  "there is {adj} {side} basilar atelectasis",
  "{adj} {side} lower lobe atelectasis",
  "{adj} platelike atelectasis at the {side} lung base",
];
const ATELECTASIS_BOTH: readonly string[] = [
  "{adj} bibasilar atelectasis",
  "there is {adj} bibasilar atelectasis",
  "{adj} atelectasis at both lung bases",
  "{adj} bibasilar platelike atelectasis",
];

function atelectasis(rng: Random, f: Finding<"Atelectasis">): Sentence {
  const adj = rng.pick(OPACITY_ADJECTIVE[f.severity]);
  const table = f.laterality === "bilateral" ? ATELECTASIS_BOTH : ATELECTASIS_SINGLE;
  return say(rng, table, { adj, side: f.laterality }, { Atelectasis: "present" });
}

const PNEUMOTHORAX_FINDINGS: readonly string[] = [
  "{size} {side} pneumothorax",
  "there is a {size} {side} pneumothorax",
  "{size} {side} apical pneumothorax",
  "{size} {side}-sided pneumothorax",
  "a {size} {side} pneumothorax is present",
];

function pneumothorax(rng: Random, f: Finding<"Pneumothorax">): Sentence {
  const vars = { size: rng.pick(SIZE_ADJECTIVE[f.severity]), side: f.laterality };
  return say(rng, PNEUMOTHORAX_FINDINGS, vars, { Pneumothorax: "present" });
}

const EFFUSION_SINGLE: readonly string[] = [
  "{size} {side} pleural effusion",
  "there is a {size} {side} pleural effusion",
  "{size} {side}-sided pleural effusion",
  "{size} {side} pleural effusion is present",
];
const EFFUSION_BOTH: readonly string[] = [
  "{size} bilateral pleural effusions",
  "there are {size} bilateral pleural effusions",
  "{size} pleural effusions bilaterally",
  "{size} bilateral effusions",
];

function pleuralEffusion(rng: Random, f: Finding<"Pleural Effusion">): Sentence {
  const table = f.laterality === "bilateral" ? EFFUSION_BOTH : EFFUSION_SINGLE;
  const vars = { size: rng.pick(SIZE_ADJECTIVE[f.severity]), side: f.laterality };
  return say(rng, table, vars, { "Pleural Effusion": "present" });
}

const PLEURAL_THICKENING_FINDINGS: readonly string[] = [
  "{side} pleural thickening",
  "mild {side} apical pleural thickening",
  "pleural thickening along the {side} lateral chest wall",
  "there is {side} pleural thickening",
];

const FRACTURE_FINDINGS: readonly string[] = [
  "{side} {rib} rib fracture",
  "acute fracture of the {side} {rib} rib",
  "nondisplaced fracture of the {side} {rib} rib",
  "there is a {side} {rib} rib fracture",
  "{side} lateral {rib} rib fracture",
  "minimally displaced {side} {rib} rib fracture",
];

function ribWords(rng: Random, f: Finding<"Fracture">): { side: Side; rib: string } {
  return { side: f.laterality, rib: rng.pick(ORDINALS[f.rib] ?? [`${f.rib}th`]) };
}

// ---- support devices ----

const DEVICE_FINDINGS: Readonly<Record<SupportDevice, readonly string[]>> = {
  "endotracheal tube": [
    "endotracheal tube terminates {cm} cm above the carina",
    "the endotracheal tube tip is {cm} cm above the carina",
    "endotracheal tube in standard position, {cm} cm above the carina",
    "an endotracheal tube is in place with the tip {cm} cm above the carina",
  ],
  "central venous catheter": [
    "{side} internal jugular central venous catheter terminates in the lower superior vena cava",
    "{side} internal jugular central venous catheter tip projects over the cavoatrial junction",
    "{side} subclavian central venous catheter terminates in the mid superior vena cava",
    "a {side} central venous catheter is in place with the tip in the superior vena cava",
  ],
  "nasogastric tube": [
    "nasogastric tube courses below the diaphragm with the tip in the stomach",
    "a nasogastric tube terminates in the stomach",
    "the nasogastric tube tip projects over the stomach",
    "nasogastric tube in standard position",
  ],
  pacemaker: [
    "left chest wall pacemaker with leads in the right atrium and right ventricle",
    "a left-sided pacemaker is in place with leads terminating in the right atrium and right ventricle",
    "dual-chamber pacemaker with leads in standard position",
    "right chest wall pacemaker with a single lead terminating in the right ventricle",
  ],
};
const DEVICES_GENERIC: readonly string[] = ["support devices in standard position", "lines and tubes in appropriate position"];
const DEVICE_IMPRESSIONS: readonly string[] = [
  "{devices} in standard position",
  "{devices} in appropriate position",
  "{devices} as described above",
];

function deviceSentences(rng: Random, f: Finding<"Support Devices">): Sentence[] {
  return f.devices.map((d) =>
    say(rng, DEVICE_FINDINGS[d], { cm: String(rng.int(3, 6)), side: rng.pick(["right", "right", "left"]) }, {
      "Support Devices": "present",
    }),
  );
}

function deviceImpression(rng: Random, f: Finding<"Support Devices">): Sentence {
  if (rng.chance(0.25)) return sentence(rng.pick(DEVICES_GENERIC), { "Support Devices": "present" });
  const devices = andList(f.devices);
  return say(rng, DEVICE_IMPRESSIONS, { devices }, { "Support Devices": "present" });
}

// ---- negatives and normal statements ----

/** What may be negated in a list ("No focal consolidation, pleural effusion, or pneumothorax."), in usual order. */
const NEGATABLE: readonly (readonly [MentionedObservation, readonly string[]])[] = [
  ["Consolidation", ["focal consolidation", "focal consolidation", "consolidation", "focal airspace consolidation"]],
  ["Lung Opacity", ["focal opacity"]],
  ["Pleural Effusion", ["pleural effusion", "pleural effusion", "effusion", "pleural effusions"]],
  ["Pneumothorax", ["pneumothorax"]],
  ["Edema", ["pulmonary edema", "edema"]],
  ["Pneumonia", ["pneumonia"]],
  ["Lung Lesion", ["suspicious pulmonary nodules", "pulmonary nodules"]],
  ["Atelectasis", ["atelectasis"]],
];
const NEGATABLE_WEIGHT: Readonly<Partial<Record<MentionedObservation, number>>> = {
  Consolidation: 0.7,
  "Lung Opacity": 0.15,
  "Pleural Effusion": 0.8,
  Pneumothorax: 0.8,
  Edema: 0.35,
  Pneumonia: 0.15,
  "Lung Lesion": 0.12,
  Atelectasis: 0.06,
};
const NEGATION_TEMPLATES: readonly string[] = [
  "no {list}",
  "no {list}",
  "there is no {list}",
  "no evidence of {list}",
  "no {list} is seen",
  "there is no evidence of {list}",
];
const CLEAR_LUNGS: readonly string[] = [
  "the lungs are clear",
  "lungs are clear",
  "the lungs are well expanded and clear",
  "the lungs are clear bilaterally",
  "clear lungs",
];
const CLEAR_LUNGS_WITHOUT: readonly string[] = ["the lungs are clear without {list}", "lungs are clear without {list}"];

interface Negative {
  observation: MentionedObservation;
  phrase: string;
}

function negativesOf(rng: Random, observations: readonly MentionedObservation[]): Negative[] {
  return observations.map((observation) => ({ observation, phrase: rng.pick(NEGATABLE.find(([n]) => n === observation)?.[1] ?? []) }));
}

function negativeList(rng: Random, negatives: readonly Negative[]): { text: string; says: Says } {
  const says: Says = {};
  for (const n of negatives) says[n.observation] = "absent";
  return { text: orList(rng, negatives.map((n) => n.phrase)), says };
}

/**
 * Groups of at most four, none reaching further than the labeler's negation scope (80 characters from "no" to
 * the start of the last item; beyond it "or" makes the item uncertain).
 */
function negativeGroups(rng: Random, negatives: readonly Negative[]): Negative[][] {
  const maxItems = rng.chance(0.6) ? 3 : 4;
  const groups: Negative[][] = [];
  let group: Negative[] = [];
  let reach = 0;
  for (const n of negatives) {
    // "evidence of " and " or " come between too; the whole last phrase is counted as if it preceded the noun.
    if (group.length >= maxItems || (group.length > 0 && reach + n.phrase.length + 16 > 76)) {
      groups.push(group);
      group = [];
      reach = 0;
    }
    group.push(n);
    reach += n.phrase.length + 2;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The undrawn observations this report will deny, a varying subset as in real reports. */
function chooseNegatives(rng: Random, drawn: ReadonlySet<MentionedObservation>, normal: boolean): MentionedObservation[] {
  const out: MentionedObservation[] = [];
  for (const [o] of NEGATABLE) {
    if (drawn.has(o)) continue;
    if (o === "Pneumonia" && drawn.has("Consolidation")) continue;
    const weight = NEGATABLE_WEIGHT[o] ?? 0;
    if (rng.chance(normal ? Math.min(1, weight * 1.1) : weight * 0.8)) out.push(o);
  }
  return out;
}

const plural = (n: Negative | undefined): boolean => n !== undefined && n.phrase.endsWith("s");

/** "There are no pleural effusions", "no pneumothorax or pleural effusions are seen": the verb agrees. */
function agree(text: string, group: readonly Negative[]): string {
  let out = text;
  if (plural(group[0])) out = out.replace(/^there is no/, "there are no");
  if (plural(group[group.length - 1])) out = out.replace(/ is seen$/, " are seen");
  return out;
}

/** The lungs: "clear" only when nothing is drawn in them; negatives go with it or on their own. */
function lungNegatives(rng: Random, observations: readonly MentionedObservation[], lungsClear: boolean, lowVolumes: boolean): Sentence[] {
  const groups = negativeGroups(rng, negativesOf(rng, observations));
  const out: Sentence[] = [];
  if (lungsClear && rng.chance(0.8)) {
    const first = groups[0];
    if (first && first.length <= 3 && rng.chance(0.35)) {
      const list = negativeList(rng, first);
      out.push(say(rng, CLEAR_LUNGS_WITHOUT, { list: list.text }, list.says));
      groups.shift();
    } else out.push(sentence(rng.pick(lowVolumes ? CLEAR_LUNGS.filter((t) => !t.includes("expanded")) : CLEAR_LUNGS)));
  }
  for (const group of groups) {
    const list = negativeList(rng, group);
    out.push(sentence(agree(fill(rng.pick(NEGATION_TEMPLATES), { list: list.text }), group), list.says));
  }
  return out;
}

/** Heart and mediastinum statements, each with the anatomy it declares normal. */
const CARDIOMEDIASTINAL_NORMAL: readonly (readonly [string, Says])[] = [
  ["the heart size is normal", { Cardiomegaly: "absent" }],
  ["heart size is normal", { Cardiomegaly: "absent" }],
  ["the heart is normal in size", { Cardiomegaly: "absent" }],
  ["the heart is not enlarged", { Cardiomegaly: "absent" }],
  ["normal heart size", { Cardiomegaly: "absent" }],
  ["no cardiomegaly", { Cardiomegaly: "absent" }],
  ["the cardiomediastinal silhouette is normal", { "Enlarged Cardiomediastinum": "absent" }],
  ["the cardiomediastinal silhouette is within normal limits", { "Enlarged Cardiomediastinum": "absent" }],
  ["normal cardiomediastinal silhouette", { "Enlarged Cardiomediastinum": "absent" }],
  ["heart size and mediastinal contours are normal", { Cardiomegaly: "absent", "Enlarged Cardiomediastinum": "absent" }],
  ["the heart size and mediastinal contours are within normal limits", { Cardiomegaly: "absent", "Enlarged Cardiomediastinum": "absent" }],
  ["normal heart size and mediastinal contours", { Cardiomegaly: "absent", "Enlarged Cardiomediastinum": "absent" }],
  ["the cardiac silhouette is within normal limits", { Cardiomegaly: "absent" }],
];
const MEDIASTINUM_NORMAL: readonly string[] = [
  "mediastinal contours are unremarkable",
  "the mediastinal contours are normal",
  "the mediastinum is not widened",
  "mediastinal contours are within normal limits",
];
const HEART_NORMAL: readonly string[] = [
  "the heart size is normal",
  "heart size is normal",
  "the heart is not enlarged",
  "normal heart size",
];

/** The heart and mediastinum: what is drawn is stated, what is not is mostly declared normal. */
function cardiomediastinal(rng: Random, c: PhantomCase): Sentence[] {
  const heart = findingOfCase(c, "Cardiomegaly");
  const mediastinum = findingOfCase(c, "Enlarged Cardiomediastinum");
  if (!heart && !mediastinum) {
    if (rng.chance(0.12)) return [];
    const [text, says] = rng.pick(CARDIOMEDIASTINAL_NORMAL);
    return [sentence(text, says)];
  }
  const out: Sentence[] = [];
  if (heart) out.push(cardiomegaly(rng, heart));
  else if (rng.chance(0.6)) out.push(sentence(rng.pick(HEART_NORMAL), { Cardiomegaly: "absent" }));
  if (mediastinum) out.push(sentence(rng.pick(MEDIASTINUM_FINDINGS), { "Enlarged Cardiomediastinum": "present" }));
  else if (rng.chance(0.5)) out.push(sentence(rng.pick(MEDIASTINUM_NORMAL), { "Enlarged Cardiomediastinum": "absent" }));
  return rng.chance(0.3) ? out.reverse() : out;
}

const BONES_NORMAL: readonly (readonly [string, Says])[] = [
  ["no acute osseous abnormality", {}],
  ["no acute osseous abnormality", {}],
  ["the osseous structures are intact", {}],
  ["the visualized osseous structures are unremarkable", {}],
  ["no displaced rib fracture", { Fracture: "absent" }],
  ["no acute fracture", { Fracture: "absent" }],
  ["no acute bony abnormality", {}],
];

function bones(rng: Random, c: PhantomCase, likely: number): Sentence[] {
  const fracture = findingOfCase(c, "Fracture");
  if (fracture) return [say(rng, FRACTURE_FINDINGS, ribWords(rng, fracture), { Fracture: "present" })];
  if (!rng.chance(likely)) return [];
  const [text, says] = rng.pick(BONES_NORMAL);
  return [sentence(text, says)];
}

// ---- technique, comparison, image quality ----

const PORTABLE_VIEWS: readonly string[] = [
  "single portable AP view of the chest",
  "portable AP chest radiograph",
  "single portable AP view of the chest was obtained",
];
const COMPARISON_NORMAL: readonly string[] = [
  "no prior studies for comparison",
  "no comparison studies are available",
  "compared with the prior study, there is no significant interval change",
  "compared with the prior radiograph, there is no acute change",
];
const COMPARISON_ABNORMAL: readonly string[] = [
  "no prior studies for comparison",
  "no comparison studies are available",
  "comparison is made with the prior radiograph",
  "compared with the prior study, the findings are new",
];

function technique(rng: Random, c: PhantomCase, likely: number): Sentence[] {
  if (!rng.chance(likely)) return [];
  const { viewPosition: view, withLateral } = c.acquisition;
  const portable = findingOfCase(c, "Support Devices")?.devices.some((d) => d === "endotracheal tube" || d === "central venous catheter");
  let options: readonly string[];
  if (withLateral) options = [`${view} and lateral views of the chest`, `${view} and lateral chest radiographs were obtained`];
  else if (view === "AP" && portable) options = PORTABLE_VIEWS;
  else options = [`single ${view} view of the chest`, `${view} view of the chest`, `frontal ${view} chest radiograph`];
  return [sentence(rng.pick(options))];
}

function comparison(rng: Random, normal: boolean): Sentence[] {
  if (!rng.chance(0.3)) return [];
  return [sentence(rng.pick(normal ? COMPARISON_NORMAL : COMPARISON_ABNORMAL))];
}

function imageQuality(rng: Random, c: PhantomCase): Sentence[] {
  const out: Sentence[] = [];
  if (c.acquisition.inspirationRibs <= 8 && rng.chance(0.5)) out.push(sentence(rng.pick(["low lung volumes", "lung volumes are low"])));
  if (Math.abs(c.acquisition.rotationDegrees) > 5 && rng.chance(0.5)) out.push(sentence("the patient is slightly rotated"));
  return out;
}

// ---- the case ----

function findingOfCase<O extends DrawnObservation>(c: PhantomCase, observation: O): Finding<O> | undefined {
  return c.findings.find((f): f is Finding<O> => f.observation === observation);
}

const PARENCHYMAL: readonly DrawnObservation[] = ["Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Atelectasis"];
const PATHOLOGY_ORDER: readonly DrawnObservation[] = [
  "Pneumothorax",
  "Consolidation",
  "Edema",
  "Pleural Effusion",
  "Enlarged Cardiomediastinum",
  "Lung Lesion",
  "Cardiomegaly",
  "Lung Opacity",
  "Atelectasis",
  "Fracture",
  "Pleural Other",
];

/** Places chosen once per report, so findings and impression name the same lobe. */
interface Places {
  consolidation?: string;
  lesion?: string;
  pneumoniaHedge: "findings" | "impression" | "none";
}

function choosePlaces(rng: Random, c: PhantomCase): Places {
  const cons = findingOfCase(c, "Consolidation");
  const lesion = findingOfCase(c, "Lung Lesion");
  const places: Places = { pneumoniaHedge: "none" };
  if (cons) {
    places.consolidation = lobe(rng, cons.laterality, cons.zone);
    places.pneumoniaHedge = rng.weighted<Places["pneumoniaHedge"]>([["findings", 0.2], ["impression", 0.45], ["none", 0.35]]);
  }
  if (lesion) places.lesion = lobe(rng, lesion.laterality, lesion.zone);
  return places;
}

function lungFindings(rng: Random, c: PhantomCase, places: Places): Sentence[] {
  const out: Sentence[] = [];
  for (const f of rng.shuffle(c.findings)) {
    switch (f.observation) {
      case "Lung Opacity":
        out.push(lungOpacity(rng, f));
        break;
      case "Lung Lesion":
        out.push(lungLesion(rng, f, places.lesion ?? `${f.laterality} lung`));
        break;
      case "Edema":
        out.push(edema(rng, f));
        break;
      case "Consolidation":
        out.push(consolidation(rng, f, places.consolidation ?? `${f.laterality} lung`, places.pneumoniaHedge === "findings"));
        break;
      case "Atelectasis":
        out.push(atelectasis(rng, f));
        break;
      default:
        break;
    }
  }
  return out;
}

function pleuralFindings(rng: Random, c: PhantomCase): Sentence[] {
  const out: Sentence[] = [];
  const pneumo = findingOfCase(c, "Pneumothorax");
  const effusion = findingOfCase(c, "Pleural Effusion");
  const thickening = findingOfCase(c, "Pleural Other");
  if (pneumo) out.push(pneumothorax(rng, pneumo));
  if (effusion) out.push(pleuralEffusion(rng, effusion));
  if (thickening) out.push(say(rng, PLEURAL_THICKENING_FINDINGS, { side: thickening.laterality }, { "Pleural Other": "present" }));
  return rng.chance(0.4) ? rng.shuffle(out) : out;
}

function wordCount(sentences: readonly Sentence[]): number {
  return sentences.reduce((n, s) => n + s.text.split(" ").length, 0);
}

function findingsSection(rng: Random, c: PhantomCase, places: Places): Sentence[] {
  const drawn = new Set<MentionedObservation>(c.findings.map((f) => f.observation));
  const normal = c.findings.every((f) => f.observation === "Support Devices");
  const lungsClear = !PARENCHYMAL.some((o) => drawn.has(o));
  const negatives = chooseNegatives(rng, drawn, normal);
  const devices = findingOfCase(c, "Support Devices");
  const quality = imageQuality(rng, c);
  const lungs = [
    ...lungFindings(rng, c, places),
    ...pleuralFindings(rng, c),
    ...lungNegatives(rng, negatives, lungsClear, quality.length > 0),
  ];
  const heart = cardiomediastinal(rng, c);
  const chest = rng.chance(0.6) ? [...lungs, ...heart] : [...heart, ...lungs];
  const body = [...(devices ? deviceSentences(rng, devices) : []), ...quality, ...chest];
  // Short bodies get the optional framing more often, so that no report is only a line or two.
  const length = wordCount(body);
  return [
    ...technique(rng, c, length < 12 ? 1 : length < 18 ? 0.75 : 0.35),
    ...comparison(rng, normal),
    ...body,
    ...bones(rng, c, length < 18 ? 0.9 : 0.5),
  ];
}

// ---- impression ----

const NORMAL_IMPRESSIONS: readonly (readonly [string, Says])[] = [
  ["no acute cardiopulmonary process", {}],
  ["no acute cardiopulmonary process", {}],
  ["no acute cardiopulmonary abnormality", {}],
  ["no acute intrathoracic process", {}],
  ["no radiographic evidence of acute cardiopulmonary disease", {}],
  ["no acute cardiopulmonary findings", {}],
  ["normal chest radiograph", {}],
  ["no evidence of pneumonia", { Pneumonia: "absent" }],
  ["no acute findings", {}],
];
const NORMAL_WITH_DEVICES: readonly string[] = [
  "no acute cardiopulmonary process",
  "no acute cardiopulmonary abnormality",
  "otherwise no acute cardiopulmonary process",
];

const CT_ADVICE: readonly string[] = [
  "recommend chest CT for further evaluation",
  "further evaluation with chest CT is recommended",
  "chest CT is recommended",
];

function impressionItem(rng: Random, f: PhantomFinding, places: Places, room: boolean): Sentence[] {
  switch (f.observation) {
    case "Pneumothorax":
      return [sentence(`${f.severity} ${f.laterality} pneumothorax`, { Pneumothorax: "present" })];
    case "Consolidation": {
      const place = places.consolidation ?? `${f.laterality} lung`;
      const text = rng.chance(0.5) ? `${place} consolidation` : `consolidation in the ${place}`;
      if (places.pneumoniaHedge !== "impression") return [sentence(text, { Consolidation: "present" })];
      return [sentence(text + rng.pick(PNEUMONIA_HEDGES), { Consolidation: "present", Pneumonia: "uncertain" })];
    }
    case "Edema":
      return [sentence(`${rng.pick(GRADE_ADJECTIVE[f.severity])} pulmonary edema`, { Edema: "present" })];
    case "Pleural Effusion": {
      const side = f.laterality === "bilateral" ? "bilateral" : f.laterality;
      const noun = f.laterality === "bilateral" ? "pleural effusions" : "pleural effusion";
      // The plain size word: "tiny" in the findings and "small" in the impression would read as two sizes.
      const size = rng.chance(0.6) ? `${f.severity} ` : "";
      return [sentence(`${size}${side} ${noun}`, { "Pleural Effusion": "present" })];
    }
    case "Enlarged Cardiomediastinum": {
      const out = [sentence(rng.pick(MEDIASTINUM_IMPRESSIONS), { "Enlarged Cardiomediastinum": "present" })];
      return room && rng.chance(0.5) ? [...out, sentence(rng.pick(CT_ADVICE))] : out;
    }
    case "Lung Lesion": {
      const place = places.lesion ?? `${f.laterality} lung`;
      // Never a bare number first: "2. 1.9 cm nodule" reads badly and a leading number looks like a list item.
      const text = rng.chance(0.5) ? `a ${lesionSize(f)} cm ${place} ${f.kind}` : `${place} ${f.kind} measuring ${lesionSize(f)} cm`;
      const out = [sentence(text, { "Lung Lesion": "present" })];
      return room && rng.chance(0.7) ? [...out, sentence(rng.pick(CT_ADVICE))] : out;
    }
    case "Cardiomegaly":
      return [say(rng, CARDIOMEGALY_IMPRESSIONS, { adj: rng.pick(GRADE_ADJECTIVE[f.severity]) }, { Cardiomegaly: "present" })];
    case "Lung Opacity":
      return [sentence(`${opacityPlace(f)} ${f.laterality === "bilateral" ? "opacities" : "opacity"}`, { "Lung Opacity": "present" })];
    case "Atelectasis":
      return [sentence(f.laterality === "bilateral" ? "bibasilar atelectasis" : `${f.laterality} basilar atelectasis`, {
        Atelectasis: "present",
      })];
    case "Fracture":
      return [say(rng, ["{side} {rib} rib fracture", "acute {side} {rib} rib fracture"], ribWords(rng, f), { Fracture: "present" })];
    case "Pleural Other":
      return [sentence(`${f.laterality} pleural thickening`, { "Pleural Other": "present" })];
    case "Support Devices":
      return [deviceImpression(rng, f)];
  }
}

/** Items of the impression, most urgent first; minor ones stated in the findings may be left out. */
function impressionItems(rng: Random, c: PhantomCase, places: Places): Sentence[][] {
  const pathology = PATHOLOGY_ORDER.map((o) => findingOfCase(c, o)).filter((f): f is PhantomFinding => f !== undefined);
  const items: Sentence[][] = [];
  for (const f of pathology) {
    const minor = f.observation === "Pleural Other" || f.observation === "Atelectasis" || f.observation === "Fracture";
    if (items.length >= 3 || (minor && items.length > 0 && rng.chance(0.4))) continue;
    items.push(impressionItem(rng, f, places, pathology.length <= 2));
  }
  const devices = findingOfCase(c, "Support Devices");
  if (devices && items.length < 3 && rng.chance(0.6)) items.push([deviceImpression(rng, devices)]);
  return items;
}

function impressionSection(rng: Random, c: PhantomCase, places: Places): Sentence[][] {
  const devices = findingOfCase(c, "Support Devices");
  if (c.findings.every((f) => f.observation === "Support Devices")) {
    if (!devices) {
      const [text, says] = rng.pick(NORMAL_IMPRESSIONS);
      return [[sentence(text, says)]];
    }
    if (rng.chance(0.3)) return [[sentence(rng.pick(NORMAL_WITH_DEVICES).replace("otherwise ", ""))]];
    return [[deviceImpression(rng, devices)], [sentence(rng.pick(NORMAL_WITH_DEVICES))]];
  }
  const items = impressionItems(rng, c, places);
  if (!findingOfCase(c, "Pneumothorax") && items.length <= 2 && rng.chance(0.15)) {
    items.push([sentence("no pneumothorax", { Pneumothorax: "absent" })]);
  }
  return items;
}

/** Numbered ("1. ... 2. ...") or running text, as both occur in real impressions. */
function layoutImpression(rng: Random, items: readonly Sentence[][]): string {
  const numbered = items.length >= 2 && rng.chance(0.45);
  return items.map((item, i) => (numbered ? `${i + 1}. ` : "") + item.map((s) => s.text).join(" ")).join(" ");
}

// ---- labels ----

const RANK: Readonly<Record<LabelStatus, number>> = { absent: 1, uncertain: 2, present: 3 };

/** The labeler's aggregation: the strongest status wins; No Finding is present unless a pathology is present or uncertain. */
function labelsOf(sentences: readonly Sentence[]): Record<ObservationName, LabelStatus | null> {
  const labels = {} as Record<ObservationName, LabelStatus | null>;
  for (const o of OBSERVATIONS) labels[o] = null;
  for (const s of sentences) {
    for (const [o, status] of Object.entries(s.says) as [MentionedObservation, LabelStatus][]) {
      const current = labels[o];
      if (!current || RANK[status] > RANK[current]) labels[o] = status;
    }
  }
  const pathology = OBSERVATIONS.some(
    (o) => o !== "No Finding" && o !== "Support Devices" && (labels[o] === "present" || labels[o] === "uncertain"),
  );
  labels["No Finding"] = pathology ? "absent" : "present";
  return labels;
}

/** The reference report of a phantom case; the same case and random stream always give the same text. */
export function writeReport(c: PhantomCase, rng: Random): ReferenceReport {
  const places = choosePlaces(rng.fork("places"), c);
  const findingSentences = findingsSection(rng.fork("findings"), c, places);
  const impressionRng = rng.fork("impression");
  const items = impressionSection(impressionRng, c, places);
  const findings = findingSentences.map((s) => s.text).join(" ");
  const impression = layoutImpression(impressionRng, items);
  return {
    findings,
    impression,
    text: `FINDINGS: ${findings}\n\nIMPRESSION: ${impression}`,
    labels: labelsOf([...findingSentences, ...items.flat()]),
  };
}
