// The 14 observations of the CheXpert labeler (Irvin et al., "CheXpert: A Large Chest Radiograph Dataset with
// Uncertainty Labels and Expert Comparison", AAAI 2019), in the order the CheXpert label files use.
export const OBSERVATIONS = [
  "No Finding",
  "Enlarged Cardiomediastinum",
  "Cardiomegaly",
  "Lung Opacity",
  "Lung Lesion",
  "Edema",
  "Consolidation",
  "Pneumonia",
  "Atelectasis",
  "Pneumothorax",
  "Pleural Effusion",
  "Pleural Other",
  "Fracture",
  "Support Devices",
] as const;

export type ObservationName = (typeof OBSERVATIONS)[number];

/** The observations found by mentions in the text; "No Finding" is derived from them. */
export type MentionedObservation = Exclude<ObservationName, "No Finding">;

export const MENTIONED_OBSERVATIONS = OBSERVATIONS.filter(
  (o): o is MentionedObservation => o !== "No Finding",
);
