// Mention, exclusion and cue phrases for the report labeler. Every string is a regular-expression source over
// lower-cased text; the labeler wraps each list in word boundaries and compiles it once.
//
// Sources (phrases re-written here from the published lists, not copied code):
// - stanfordmlgroup/chexpert-labeler: phrases/mention/*.txt, phrases/unmention/*.txt (mentions and exclusions per
//   observation) and patterns/{negation,pre_negation_uncertainty,post_negation_uncertainty}.txt (the cues, written
//   there as dependency-graph patterns; here approximated by word order within a clause).
// - Irvin et al., CheXpert (AAAI 2019), section "Labeler": mention extraction, classification as negative,
//   uncertain or positive in that order, aggregation (positive > uncertain > negative; No Finding only when no
//   pathology is positive or uncertain, Support Devices aside).
// - Peng et al., NegBio (AMIA Informatics Summit 2018): negation and uncertainty detection with scope.
import type { MentionedObservation } from "./observations.js";

export interface ObservationPhrases {
  /** Words naming the finding itself: a mention is positive unless a cue says otherwise. */
  readonly mention: readonly string[];
  /**
   * Anatomy whose state the sentence must qualify ("heart size", "mediastinal contours"): "enlarged" makes it
   * present, "normal" absent, "borderline" or "stable" uncertain, no qualifier leaves it unmentioned.
   */
  readonly anatomy?: readonly string[];
  /** Mentions that are uncertain on their own (CheXpert: "vascular congestion" for edema). */
  readonly hedged?: readonly string[];
  /** Phrases whose words must not count as a mention ("pericardial effusion" is not a pleural effusion). */
  readonly exclude?: readonly string[];
}

export const PHRASES: Readonly<Record<MentionedObservation, ObservationPhrases>> = {
  "Enlarged Cardiomediastinum": {
    mention: [
      "widen(?:ed|ing) (?:of (?:the )?)?(?:superior )?mediastin(?:um|al silhouette|al contours?)",
      "mediastinal (?:widening|enlargement)",
      "enlarged (?:cardio)?mediastin(?:um|al silhouette|al contours?)",
      "enlargement of the (?:cardio)?mediastin(?:um|al silhouette)",
    ],
    anatomy: [
      "(?:cardio)?mediastinal (?:silhouettes?|contours?|configuration|width|shadow)",
      "(?:hilar and|and hilar) (?:mediastinal )?contours?",
      "(?:cardio)?mediastinum",
      "pericardial silhouette",
    ],
    exclude: ["pneumomediastinum"],
  },
  Cardiomegaly: {
    mention: [
      "cardiomegaly",
      "cardiac enlargement",
      "enlarged (?:heart|cardiac (?:silhouette|shadow|contour))",
      "enlargement of the (?:heart|cardiac (?:silhouette|shadow))",
    ],
    anatomy: ["heart (?:size|silhouette|shadow|contours?)", "cardiac (?:size|silhouette|shadow|contours?)", "heart"],
    exclude: ["heart failure", "heart valves?"],
  },
  "Lung Opacity": {
    mention: [
      "opacit(?:y|ies)",
      "opacification",
      "opacified",
      "infiltrat(?:e|es|ion|ive)",
      "air[- ]?space (?:disease|process|opacit(?:y|ies))",
      "densit(?:y|ies)",
      "haziness",
      "hazy",
      "interstitial (?:markings?|pattern|prominence)",
      "reticular (?:markings?|pattern)",
      "reticulation",
      "(?:parenchymal )?scarring",
      "scar",
      "peribronchial (?:wall )?thickening",
    ],
    exclude: ["pleural (?:scar|scarring)", "pleuro-?parenchymal scar(?:ring)?", "bone densit(?:y|ies)"],
  },
  "Lung Lesion": {
    mention: [
      "mass(?:es)?",
      "nodules?",
      "nodular (?:densit(?:y|ies)|opacit(?:y|ies)|opacification)",
      "lump",
      "(?:cavitary|pulmonary|lung) lesions?",
      "lesions?",
      "carcinoma",
      "neoplasm",
      "tumou?r",
      "malignancy",
      "metastas(?:is|es)",
    ],
    exclude: [
      "calcified (?:nodules?|granulomas?)",
      "massive",
      "mass effect",
      "(?:osseous|bony|lytic|sclerotic|blastic|skin|cutaneous) lesions?",
      "nipple shadows?",
    ],
  },
  Edema: {
    mention: ["edema", "oedema", "heart failure", "chf", "fluid overload"],
    hedged: [
      "(?:pulmonary )?vascular congestion",
      "pulmonary congestion",
      "vascular (?:prominence|engorgement)",
      "indistinctness",
      "cephalization",
    ],
    exclude: ["(?:soft tissue|subcutaneous|chest wall) (?:edema|oedema)"],
  },
  Consolidation: { mention: ["consolidat(?:ion|ions|ive|ed)"] },
  Pneumonia: { mention: ["pneumonias?", "pneumonic", "infection", "infectious(?: process)?", "bronchopneumonia"] },
  Atelectasis: { mention: ["atelecta(?:sis|tic|ses)", "collapsed?"], exclude: ["(?:vertebral|compression)(?: body)? collapse"] },
  Pneumothorax: { mention: ["pneumothora(?:x|ces)", "hydropneumothorax", "ptx"] },
  "Pleural Effusion": {
    mention: ["(?:pleural )?effusions?", "pleural fluid", "hydropneumothorax", "hydrothorax"],
    hedged: [
      "blunting of (?:the )?(?:(?:left|right|bilateral) )?costophrenic (?:angles?|sulci|sulcus)",
      "(?:blunted|blunting) (?:(?:left|right|bilateral) )?costophrenic (?:angles?|sulci|sulcus)",
      "costophrenic (?:angle )?blunting",
    ],
    exclude: ["pericardial effusions?", "(?:joint|knee) effusions?"],
  },
  "Pleural Other": {
    mention: [
      "pleural thickening",
      "fibrothorax",
      "pleural (?:scar|scarring|plaques?|calcifications?)",
      "pleuro-?parenchymal (?:scar|scarring)",
      "pleuro-?pericardial scar(?:ring)?",
      "apical (?:pleural )?caps?",
    ],
  },
  Fracture: { mention: ["fractures?", "fractured", "fx"] },
  "Support Devices": {
    mention: [
      "(?:endotracheal|et|ng|og|nasogastric|orogastric|feeding|chest|enteric|tracheostomy|dobhoff) tubes?",
      "tubes?",
      "(?:picc|central venous|central|swan-ganz|arterial) lines?",
      "lines?",
      "picc",
      "catheters?",
      "pacemakers?",
      "pacers?",
      "(?:a)?icd",
      "defibrillators?",
      "port-a-cath",
      "mediport",
      "(?:chest )?ports?",
      "(?:sternotomy|sternal|cerclage) wires",
      "wires?",
      "(?:surgical )?clips?",
      "(?:prosthetic )?valves?",
      "valve replacement",
      "stents?",
      "drains?",
      "hardware",
      "screws?",
      "coils?",
      "devices?",
      "cannula",
      "leads?(?= (?:terminat|project|overl|in|at|extend))",
    ],
    exclude: [
      "midline",
      "pleural lines?",
      "(?:septal|kerley b?|reticular|fissure) lines?",
      "line of",
      "plate-?like",
      "(?:native|calcified) valves?",
      "valve calcifications?",
    ],
  },
};

// ---- cues (see patterns/*.txt of the CheXpert labeler; NegBio's negation/uncertainty patterns) ----

/** Uncertain cues that must win over the negation inside them ("cannot exclude", and CheXpert's "no new"). */
export const PRE_NEGATION_UNCERTAINTY = [
  "can ?not (?:be )?(?:excluded?|ruled? out)",
  "could not (?:be )?(?:excluded?|ruled? out)",
  "(?:can't|cant) (?:be )?(?:excluded?|ruled? out)",
  "no new",
  "no evidence to rule out",
];

/** Negation before the mention; it distributes over the rest of the clause ("no A, B or C"). */
export const PRE_NEGATION = [
  "no(?! (?:significant |interval |appreciable |substantial |definite )?change)",
  "without",
  "not",
  "nor",
  "neither",
  "free of",
  "negative for",
  "absence of",
  "absent",
  "resolution of",
  "(?<!(?:partially|nearly|almost|largely|mostly|incompletely) )resolved",
  "clear(?:ed|ing)? of",
  "(?:interval )?removal of",
  "removed",
  "rather than",
];

/** Uncertainty before the mention. */
export const PRE_UNCERTAINTY = [
  "may",
  "might",
  "could",
  "possible",
  "possibly",
  "(?:less )?likely",
  "probable",
  "probably",
  "presumed",
  "presumably",
  "questionable",
  "question(?:ed)? of",
  "suspicion (?:of|for)",
  "suspect(?:ed)?",
  "equivocal",
  "borderline",
  "differential (?:diagnosis )?(?:includes?|considerations include)",
  "consider(?:ed)?",
  "versus",
  "vs",
  "compatible with",
  "cannot be distinguished from",
  "indeterminate",
];

/**
 * Uncertainty that a preceding negation turns into negation ("no opacity to suggest pneumonia": CheXpert
 * negation.txt "there is no NN to suggest/explain XXX").
 */
export const SUGGESTIVE = [
  "(?:to )?suggest(?:s|ed|ing|ive of)?",
  "(?:to )?explain",
  "concern(?:ing)? (?:for|of)",
  "suspicious (?:for|of)",
  "worrisome for",
  "to indicate",
];

/** Cues that make what follows not a finding of this study (requests, history). */
export const NOT_A_FINDING = [
  "(?:to )?evaluat(?:e|ion) (?:for|of)",
  "eval (?:for|of)",
  "assess(?:ment)? (?:for|of)",
  "(?<!(?:can ?not|could not|can't|cant|not) )(?:to )?rule out",
  "r/o",
  "to exclude",
  "history of",
  "h/o",
  "check for",
  "look(?:ing)? for",
  "screen(?:ing)? for",
];

/** Negation after the mention ("pneumothorax is not seen", "effusion has resolved"). */
export const POST_NEGATION = [
  // "tube tip is not visualized" says where the tip is, not that the tube is gone.
  "(?<!(?:tip|tips|end|course|portion) )(?:(?:is|are|was|were|has|have)(?: been)? )?(?:not|no longer) (?:seen|identified|present|demonstrated|visualized|appreciated|evident|noted|detected|visible)",
  "(?:(?:is|are|was|were) )?absent",
  "(?:(?:has|have)(?: now)? )?(?<!(?:partially|nearly|almost|largely|mostly|incompletely) )(?:resolved|cleared)",
  "(?:(?:has|have) been )?removed",
  "(?:(?:has|have) been )?ruled out",
];

/** Uncertainty after the mention that contains a negation word ("is not excluded"). */
export const POST_NEGATION_UNCERTAINTY = [
  "(?:(?:is|are) )?(?:not|can ?not be|could not be) (?:entirely |completely |totally )?(?:excluded|ruled out)",
];

/** Uncertainty after the mention, only at the end of the clause ("atelectasis is likely."). */
export const POST_UNCERTAINTY = [
  "(?:is|are) (?:likely|possible|probable|suspected|questioned|questionable|equivocal|favou?red|considered)(?= *(?:[,.;:]|$))",
  "(?:is|are) (?:possibly|probably|likely|questionably) present",
  "(?:may|might|could) be present",
  "(?:is|are) (?:not well|poorly|incompletely) (?:seen|visualized|evaluated|assessed)",
  "(?:is|are) obscured",
];

/** For anatomy mentions: the state words (CheXpert negation.txt "normal|unremarkable|within normal limits"). */
export const ANATOMY_NORMAL = [
  "normal(?: in size)?",
  "unremarkable",
  "within normal limits",
  "not (?:appear )?(?:significantly )?(?:enlarged|widened|increased|prominent)",
  "top[- ]normal",
  "(?:at )?(?:the )?upper limits? of normal",
];
export const ANATOMY_ENLARGED = [
  "enlarged",
  "enlargement",
  "large",
  "increased",
  "prominent",
  "widened",
  "widening",
];
export const ANATOMY_UNCERTAIN = ["borderline", "(?:possibly|questionably|probably) enlarged"];
/**
 * "Stable heart size" says nothing of the size: unlike CheXpert's post-negation uncertainty rule, which labels it
 * uncertain, it is left unmentioned so that a normal follow-up report still reads as No Finding.
 */
export const ANATOMY_STABLE = ["stable", "unchanged", "similar", "not changed", "no (?:significant |interval )?change"];

/** Clause boundaries: cues do not reach across them. */
export const CLAUSE_BOUNDARIES = [
  ";",
  ":",
  "but",
  "however",
  "although",
  "though",
  "whereas",
  "while",
  "except(?: for)?",
  "otherwise",
  "which",
  "aside from",
  "apart from",
  "other than",
  "with the exception of",
  ", (?:and )?(?:there|the|this|these|it)",
  "and (?:there|the)",
];

/** Words that end the reach of a cue before the mention (a new verb phrase starts). */
export const SCOPE_TERMINATORS = [
  "is",
  "are",
  "was",
  "were",
  "has",
  "have",
  "had",
  "remains?",
  "appears?",
  "demonstrates?",
  "shows?",
  "(?<!(?:consistent|compatible|associated) )with",
];

export const LATERALITY = { left: "left", right: "right", bilateral: "bilateral|bilaterally|both|bibasilar|bibasal|biapical" };

export const SEVERITY: readonly (readonly [string, "mild" | "moderate" | "severe" | "small" | "large" | "trace"])[] = [
  ["trace", "trace"],
  ["small|tiny", "small"],
  ["mild|mildly|minimal|minimally|slight|slightly", "mild"],
  ["moderate|moderately", "moderate"],
  ["severe|severely|marked|markedly", "severe"],
  ["large|extensive", "large"],
];
