import { describe, expect, it } from "vitest";
import { labelReport, type LabelStatus } from "../../src/findings/labeler.js";
import { MENTIONED_OBSERVATIONS, OBSERVATIONS, type ObservationName } from "../../src/findings/observations.js";

type Expected = Partial<Record<ObservationName, LabelStatus | null>>;
type Row = [text: string, expected: Expected];

/** The listed observations have the given status; every other one (No Finding aside) is not mentioned. */
function expectLabels(text: string, expected: Expected): void {
  const labels = labelReport(text);
  const got: Expected = {};
  const want: Expected = {};
  for (const o of OBSERVATIONS) {
    if (o === "No Finding" && !("No Finding" in expected)) continue;
    got[o] = labels[o].status;
    want[o] = expected[o] ?? null;
  }
  expect(got).toEqual(want);
}

const P = "present";
const A = "absent";
const U = "uncertain";

describe("labelReport: each observation present, absent and uncertain", () => {
  const rows: Row[] = [
    // Enlarged Cardiomediastinum
    ["The mediastinum is widened.", { "Enlarged Cardiomediastinum": P }],
    ["Widened mediastinum.", { "Enlarged Cardiomediastinum": P }],
    ["The cardiomediastinal silhouette is enlarged.", { "Enlarged Cardiomediastinum": P }],
    ["Mediastinal widening is new since the prior study.", { "Enlarged Cardiomediastinum": P }],
    ["The cardiomediastinal silhouette is normal.", { "Enlarged Cardiomediastinum": A }],
    ["Normal mediastinal contours.", { "Enlarged Cardiomediastinum": A }],
    ["Cardiomediastinal silhouette is within normal limits.", { "Enlarged Cardiomediastinum": A }],
    ["No mediastinal widening.", { "Enlarged Cardiomediastinum": A }],
    ["Hilar and mediastinal contours are unremarkable.", { "Enlarged Cardiomediastinum": A }],
    ["The mediastinum is possibly widened.", { "Enlarged Cardiomediastinum": U }],
    ["Mediastinal contours are borderline.", { "Enlarged Cardiomediastinum": U }],
    ["Possible mediastinal widening, likely due to technique.", { "Enlarged Cardiomediastinum": U }],
    // Cardiomegaly
    ["Cardiomegaly.", { Cardiomegaly: P }],
    ["The heart is mildly enlarged.", { Cardiomegaly: P }],
    ["Heart size is enlarged.", { Cardiomegaly: P }],
    ["Enlarged cardiac silhouette.", { Cardiomegaly: P }],
    ["There is moderate enlargement of the cardiac silhouette.", { Cardiomegaly: P }],
    ["Heart size is normal.", { Cardiomegaly: A }],
    ["Normal heart size.", { Cardiomegaly: A }],
    ["The heart is not enlarged.", { Cardiomegaly: A }],
    ["No cardiomegaly.", { Cardiomegaly: A }],
    ["The cardiac silhouette is within normal limits.", { Cardiomegaly: A }],
    ["Heart size is at the upper limits of normal.", { Cardiomegaly: A }],
    ["Heart size is borderline.", { Cardiomegaly: U }],
    ["Borderline cardiomegaly.", { Cardiomegaly: U }],
    ["Possible mild cardiomegaly.", { Cardiomegaly: U }],
    // A state word after a comma describes the next finding, not the structure before it.
    ["Normal cardiomediastinal silhouette, large left effusion.", { "Enlarged Cardiomediastinum": A, "Pleural Effusion": P }],
    ["Heart size normal, increased interstitial markings.", { Cardiomegaly: A, "Lung Opacity": P }],
    ["The heart may be mildly enlarged.", { Cardiomegaly: U }],
    // Lung Opacity
    ["Patchy opacity in the right lower lobe.", { "Lung Opacity": P }],
    ["Bilateral interstitial opacities.", { "Lung Opacity": P }],
    ["There is a hazy opacity at the left base.", { "Lung Opacity": P }],
    ["Diffuse bilateral infiltrates.", { "Lung Opacity": P }],
    ["No focal opacity.", { "Lung Opacity": A }],
    ["No airspace disease.", { "Lung Opacity": A }],
    ["The lungs are free of infiltrate.", { "Lung Opacity": A }],
    ["Questionable opacity at the right base.", { "Lung Opacity": U }],
    ["Possible infiltrate in the lingula.", { "Lung Opacity": U }],
    // Lung Lesion
    ["There is a 2 cm nodule in the right upper lobe.", { "Lung Lesion": P }],
    ["Large left hilar mass.", { "Lung Lesion": P }],
    ["Multiple pulmonary nodules consistent with metastases.", { "Lung Lesion": P }],
    ["No pulmonary nodules or masses.", { "Lung Lesion": A }],
    ["No suspicious pulmonary mass.", { "Lung Lesion": A }],
    ["Possible nodule in the left upper lobe.", { "Lung Lesion": U }],
    ["Nodular opacity in the right apex, which may represent a nipple shadow.", { "Lung Lesion": P, "Lung Opacity": P }],
    ["A small nodule cannot be excluded.", { "Lung Lesion": U }],
    // Edema
    ["Moderate pulmonary edema.", { Edema: P }],
    ["Findings consistent with CHF.", { Edema: P }],
    ["Interstitial edema has worsened.", { Edema: P }],
    ["No pulmonary edema.", { Edema: A }],
    ["No evidence of CHF.", { Edema: A }],
    ["Pulmonary edema has resolved.", { Edema: A }],
    ["Mild pulmonary vascular congestion.", { Edema: U }],
    ["Possible mild interstitial edema.", { Edema: U }],
    ["Findings may represent mild edema.", { Edema: U }],
    // Consolidation
    ["Right lower lobe consolidation.", { Consolidation: P }],
    ["Dense consolidation in the left lower lobe.", { Consolidation: P }],
    ["No focal consolidation.", { Consolidation: A }],
    ["There is no consolidation.", { Consolidation: A }],
    ["Possible consolidation at the left base.", { Consolidation: U }],
    ["Consolidation is not excluded.", { Consolidation: U }],
    // Pneumonia
    ["Right lower lobe pneumonia.", { Pneumonia: P }],
    ["Findings consistent with pneumonia.", { Pneumonia: P }],
    ["No evidence of pneumonia.", { Pneumonia: A }],
    ["No radiographic evidence of infection.", { Pneumonia: A }],
    ["Pneumonia cannot be excluded.", { Pneumonia: U }],
    ["Findings are suspicious for pneumonia.", { Pneumonia: U }],
    ["Concern for infectious process.", { Pneumonia: U }],
    ["Early pneumonia is possible.", { Pneumonia: U }],
    // Atelectasis
    ["Left basilar atelectasis.", { Atelectasis: P }],
    ["Bibasilar atelectatic changes.", { Atelectasis: P }],
    ["Right upper lobe collapse.", { Atelectasis: P }],
    ["No atelectasis.", { Atelectasis: A }],
    ["Atelectasis has resolved.", { Atelectasis: A }],
    ["Likely atelectasis at the left base.", { Atelectasis: U }],
    ["Probable subsegmental atelectasis.", { Atelectasis: U }],
    // Pneumothorax
    ["Small right apical pneumothorax.", { Pneumothorax: P }],
    ["Large left pneumothorax with mediastinal shift.", { Pneumothorax: P }],
    ["Bilateral pneumothoraces.", { Pneumothorax: P }],
    ["No pneumothorax.", { Pneumothorax: A }],
    ["No PTX.", { Pneumothorax: A }],
    ["Pneumothorax is no longer seen.", { Pneumothorax: A }],
    ["Possible tiny left apical pneumothorax.", { Pneumothorax: U }],
    ["A small pneumothorax cannot be ruled out.", { Pneumothorax: U }],
    // Pleural Effusion
    ["Small left pleural effusion.", { "Pleural Effusion": P }],
    ["Moderate bilateral pleural effusions.", { "Pleural Effusion": P }],
    ["Layering pleural fluid on the right.", { "Pleural Effusion": P }],
    ["No pleural effusion.", { "Pleural Effusion": A }],
    ["No effusions.", { "Pleural Effusion": A }],
    ["Pleural effusions are not seen.", { "Pleural Effusion": A }],
    ["Blunting of the left costophrenic angle.", { "Pleural Effusion": U }],
    ["Possible small right effusion.", { "Pleural Effusion": U }],
    ["Trace left effusion is questioned.", { "Pleural Effusion": U }],
    // Pleural Other
    ["Left apical pleural thickening.", { "Pleural Other": P }],
    ["Bilateral calcified pleural plaques.", { "Pleural Other": P }],
    ["No pleural thickening.", { "Pleural Other": A }],
    ["Possible pleural thickening at the right apex.", { "Pleural Other": U }],
    // Fracture
    ["Healed right rib fractures.", { Fracture: P }],
    ["Acute fracture of the left clavicle.", { Fracture: P }],
    ["No acute fracture.", { Fracture: A }],
    ["No displaced rib fractures.", { Fracture: A }],
    ["Possible nondisplaced fracture of the right seventh rib.", { Fracture: U }],
    ["Questionable fracture of the left fifth rib.", { Fracture: U }],
    // Support Devices
    ["ET tube terminates 4 cm above the carina.", { "Support Devices": P }],
    ["Right PICC line tip in the SVC.", { "Support Devices": P }],
    ["Left chest wall pacemaker with leads in the right atrium and ventricle.", { "Support Devices": P }],
    ["Sternotomy wires and mediastinal clips.", { "Support Devices": P }],
    ["The endotracheal tube has been removed.", { "Support Devices": A }],
    ["No lines or tubes.", { "Support Devices": A }],
    ["Possible retained catheter fragment.", { "Support Devices": U }],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: negation distributes over lists and stops at clause boundaries", () => {
  const rows: Row[] = [
    ["No focal consolidation, pleural effusion or pneumothorax.", { Consolidation: A, "Pleural Effusion": A, Pneumothorax: A }],
    ["No pleural effusion or pneumothorax.", { "Pleural Effusion": A, Pneumothorax: A }],
    ["No pneumothorax, effusion, or focal airspace consolidation.", { Pneumothorax: A, "Pleural Effusion": A, Consolidation: A }],
    ["There is no evidence of pneumonia, edema or effusion.", { Pneumonia: A, Edema: A, "Pleural Effusion": A }],
    ["The lungs are clear without consolidation, effusion or pneumothorax.", { Consolidation: A, "Pleural Effusion": A, Pneumothorax: A }],
    ["Lungs are free of focal consolidation and effusion.", { Consolidation: A, "Pleural Effusion": A }],
    ["Negative for pneumothorax or pleural effusion.", { Pneumothorax: A, "Pleural Effusion": A }],
    ["Neither pneumothorax nor effusion.", { Pneumothorax: A, "Pleural Effusion": A }],
    ["No pneumothorax but small left effusion.", { Pneumothorax: A, "Pleural Effusion": P }],
    ["No pneumothorax; there is a small left effusion.", { Pneumothorax: A, "Pleural Effusion": P }],
    ["No pleural effusion, however there is right lower lobe consolidation.", { "Pleural Effusion": A, Consolidation: P }],
    ["No effusion, although mild cardiomegaly is present.", { "Pleural Effusion": A, Cardiomegaly: P }],
    ["No acute abnormality other than bibasilar atelectasis.", { Atelectasis: P }],
    ["No pneumothorax is seen and the heart is enlarged.", { Pneumothorax: A, Cardiomegaly: P }],
    ["Lungs are clear without consolidation, with stable cardiomegaly.", { Consolidation: A, Cardiomegaly: P }],
    ["No pneumothorax, possible small left effusion.", { Pneumothorax: A, "Pleural Effusion": U }],
    ["No definite focal consolidation.", { Consolidation: A }],
    ["Absence of pleural effusion.", { "Pleural Effusion": A }],
    ["Interval resolution of left lower lobe pneumonia.", { Pneumonia: A }],
    ["Resolved right pleural effusion.", { "Pleural Effusion": A }],
    ["The left effusion has partially resolved.", { "Pleural Effusion": P }],
    ["Pneumothorax and effusion are not identified.", { Pneumothorax: A, "Pleural Effusion": A }],
    ["Pleural effusion is absent.", { "Pleural Effusion": A }],
    ["No opacity to suggest pneumonia.", { "Lung Opacity": A, Pneumonia: A }],
    ["No findings to suggest pulmonary edema.", { Edema: A }],
    ["Interval removal of the nasogastric tube.", { "Support Devices": A }],
    ["Pneumothorax is not seen, small left effusion is present.", { Pneumothorax: A, "Pleural Effusion": P }],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: uncertainty and hedges", () => {
  const rows: Row[] = [
    ["Left basilar opacity may reflect atelectasis or pneumonia.", { "Lung Opacity": P, Atelectasis: U, Pneumonia: U }],
    ["Right lower lobe consolidation, which may represent pneumonia.", { Consolidation: P, Pneumonia: U }],
    ["Bibasilar opacities, likely atelectasis.", { "Lung Opacity": P, Atelectasis: U }],
    ["Atelectasis versus pneumonia at the left base.", { Atelectasis: U, Pneumonia: U }],
    ["Atelectasis vs. consolidation in the right lower lobe.", { Atelectasis: U, Consolidation: U }],
    ["Left lower lobe atelectasis or consolidation.", { Atelectasis: U, Consolidation: U }],
    ["Pneumonia cannot be excluded.", { Pneumonia: U }],
    ["Cannot exclude early pneumonia.", { Pneumonia: U }],
    ["Underlying consolidation is not excluded.", { Consolidation: U }],
    ["Opacity in the right base may represent aspiration pneumonia.", { "Lung Opacity": P, Pneumonia: U }],
    ["Findings are suggestive of pulmonary edema.", { Edema: U }],
    ["Equivocal small left effusion.", { "Pleural Effusion": U }],
    ["Differential diagnosis includes pneumonia.", { Pneumonia: U }],
    ["Probable small bilateral effusions.", { "Pleural Effusion": U }],
    ["Right lung opacity concerning for pneumonia.", { "Lung Opacity": P, Pneumonia: U }],
    ["Patchy opacity, possibly pneumonia.", { "Lung Opacity": P, Pneumonia: U }],
    ["Atelectasis is likely.", { Atelectasis: U }],
    ["No new consolidation.", { Consolidation: U }],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: stable, unchanged and prior findings", () => {
  const rows: Row[] = [
    ["Stable cardiomegaly.", { Cardiomegaly: P }],
    ["Unchanged small left pleural effusion.", { "Pleural Effusion": P }],
    ["No change in the moderate right pleural effusion.", { "Pleural Effusion": P }],
    ["No significant change in bibasilar atelectasis.", { Atelectasis: P }],
    ["Right lung nodule is unchanged from prior.", { "Lung Lesion": P }],
    ["Left pneumothorax is stable in size.", { Pneumothorax: P }],
    ["Heart size is stable.", {}],
    ["Stable cardiomediastinal silhouette.", {}],
    ["Improving right lower lobe pneumonia.", { Pneumonia: P }],
    ["Decreased but persistent left effusion.", { "Pleural Effusion": P }],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: report structure, case, de-identification and abbreviations", () => {
  const rows: Row[] = [
    [
      "INDICATION: Cough, evaluate for pneumonia.\nFINDINGS: The lungs are clear. Heart size is normal.",
      { Pneumonia: null, Cardiomegaly: A, "No Finding": P },
    ],
    ["HISTORY: Rule out pneumothorax. FINDINGS: No pneumothorax.", { Pneumothorax: A, "No Finding": P }],
    ["REASON FOR EXAM: CHF exacerbation\nIMPRESSION: No acute cardiopulmonary process.", { Edema: null, "No Finding": P }],
    ["COMPARISON: Chest radiograph with left effusion. IMPRESSION: No effusion.", { "Pleural Effusion": A }],
    ["Portable chest to evaluate for pneumothorax after line placement.", { Pneumothorax: null }],
    ["To rule out pneumonia.", { Pneumonia: null }],
    ["History of CHF.", { Edema: null }],
    ["Pneumonia cannot be ruled out.", { Pneumonia: U }],
    [
      "IMPRESSION:\n1. No acute cardiopulmonary process.\n2. Small right pleural effusion, likely atelectasis.",
      { "Pleural Effusion": P, Atelectasis: U, "No Finding": A },
    ],
    ["IMPRESSION: 1. Cardiomegaly. 2. No pneumothorax.", { Cardiomegaly: P, Pneumothorax: A }],
    ["1. Right lower lobe pneumonia 2. No effusion", { Pneumonia: P, "Pleural Effusion": A }],
    ["PA AND LATERAL CHEST: THE HEART IS NORMAL IN SIZE. NO PLEURAL EFFUSION.", { Cardiomegaly: A, "Pleural Effusion": A }],
    ["NO PNEUMOTHORAX. LARGE RIGHT PLEURAL EFFUSION.", { Pneumothorax: A, "Pleural Effusion": P }],
    ["XXXX opacity in the right lower lobe.", { "Lung Opacity": P }],
    ["No XXXX pneumothorax or effusion.", { Pneumothorax: A, "Pleural Effusion": A }],
    ["The XXXX XXXX are normal. Heart size is normal.", { Cardiomegaly: A }],
    ["Findings compatible with CHF.", { Edema: U }],
    ["Worsening CHF.", { Edema: P }],
    ["Small right PTX.", { Pneumothorax: P }],
    ["Trachea is midline.", {}],
    ["Pericardial effusion.", { "Pleural Effusion": null }],
    ["Calcified granuloma in the left upper lobe.", { "Lung Lesion": null }],
    ["Plate-like atelectasis at the left base.", { Atelectasis: P, "Support Devices": null }],
    ["Degenerative changes of the thoracic spine.", {}],
    ["Subcutaneous edema of the chest wall.", { Edema: null }],
    ["The lungs are well expanded and clear.", { "No Finding": P }],
    ["", { "No Finding": null }],
  ];
  it.each(rows)("%j", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: No Finding and aggregation", () => {
  it("gives No Finding when nothing but support devices is present", () => {
    expectLabels("ET tube in good position. No pneumothorax.", { "Support Devices": P, Pneumothorax: A, "No Finding": P });
  });
  it("withholds No Finding when a pathology is uncertain", () => {
    expectLabels("Possible small left effusion.", { "Pleural Effusion": U, "No Finding": A });
  });
  it("lets present beat uncertain beat absent across sentences", () => {
    expectLabels("No effusion on the right. Possible left effusion. Small left effusion.", { "Pleural Effusion": P });
    expectLabels("No effusion on the right. Possible left effusion.", { "Pleural Effusion": U });
  });
  it("reports every observation name", () => {
    expect(Object.keys(labelReport("Normal chest.")).sort()).toEqual([...OBSERVATIONS].sort());
    expect(MENTIONED_OBSERVATIONS).toHaveLength(13);
  });
});

describe("labelReport: evidence, laterality and severity", () => {
  it("points to the supporting sentence by offsets in the input", () => {
    const text = "FINDINGS: Heart size is normal. Small left pleural effusion.";
    const label = labelReport(text)["Pleural Effusion"];
    expect(label.evidence).toEqual({ sentence: "Small left pleural effusion.", start: 32, end: 60 });
    expect(text.slice(label.evidence?.start, label.evidence?.end)).toBe("Small left pleural effusion.");
  });
  it.each([
    ["Small left pleural effusion.", "Pleural Effusion", "left", "small"],
    ["Large right pneumothorax.", "Pneumothorax", "right", "large"],
    ["Moderate bilateral pleural effusions.", "Pleural Effusion", "bilateral", "moderate"],
    ["Small left and moderate right effusions.", "Pleural Effusion", "bilateral", "moderate"],
    ["Trace right effusion.", "Pleural Effusion", "right", "trace"],
    ["Mild cardiomegaly.", "Cardiomegaly", undefined, "mild"],
    ["Severe pulmonary edema.", "Edema", undefined, "severe"],
    ["Atelectasis in the left lower lobe.", "Atelectasis", "left", undefined],
    ["Left lower lobe opacity and right effusion.", "Lung Opacity", "left", undefined],
    ["Left lower lobe opacity and right effusion.", "Pleural Effusion", "right", undefined],
  ] as const)("%s → %s %s %s", (text, observation, laterality, severity) => {
    const label = labelReport(text)[observation];
    expect(label.laterality).toBe(laterality);
    expect(label.severity).toBe(severity);
  });
});

describe("labelReport: more report language", () => {
  const rows: Row[] = [
    ["There is no evidence of pneumothorax or large pleural effusion.", { Pneumothorax: A, "Pleural Effusion": A }],
    ["The lungs are hyperinflated but clear.", { "No Finding": P }],
    ["Left-sided pacemaker device is unchanged in position.", { "Support Devices": P, "No Finding": P }],
    ["Right IJ central venous catheter tip projects over the mid SVC.", { "Support Devices": P }],
    ["Mild bibasilar atelectasis. Otherwise, the lungs are clear.", { Atelectasis: P }],
    ["Heart size normal.", { Cardiomegaly: A }],
    ["Heart is normal in size.", { Cardiomegaly: A }],
    ["The heart size is top normal.", { Cardiomegaly: A }],
    ["Cardiac silhouette is mildly enlarged but stable.", { Cardiomegaly: P }],
    ["The mediastinum is not widened.", { "Enlarged Cardiomediastinum": A }],
    ["There is no pulmonary vascular congestion.", { Edema: A }],
    ["Possible trace bilateral pleural effusions versus pleural thickening.", { "Pleural Effusion": U, "Pleural Other": U }],
    ["Diffuse interstitial opacities could represent edema or atypical infection.", { "Lung Opacity": P, Edema: U, Pneumonia: U }],
    ["The previously seen left lower lobe opacity has cleared.", { "Lung Opacity": A }],
    ["No acute displaced rib fracture identified.", { Fracture: A }],
    ["Opacification of the left hemithorax with volume loss.", { "Lung Opacity": P }],
    ["Increased density at the left base may be due to atelectasis.", { "Lung Opacity": P, Atelectasis: U }],
    ["No pleural effusion is seen on the right; a small left effusion persists.", { "Pleural Effusion": P }],
    ["Suspected right middle lobe pneumonia.", { Pneumonia: U }],
    ["There may be a small right effusion.", { "Pleural Effusion": U }],
    ["The left lung is collapsed.", { Atelectasis: P }],
    ["Enteric tube tip is not visualized.", { "Support Devices": P }],
    ["The nasogastric tube is no longer seen.", { "Support Devices": A }],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});

describe("labelReport: short reports", () => {
  const rows: Row[] = [
    [
      "FINDINGS: PA and lateral views of the chest. The lungs are clear. No pleural effusion or pneumothorax. The cardiomediastinal silhouette is normal. IMPRESSION: No acute cardiopulmonary process.",
      { "Pleural Effusion": A, Pneumothorax: A, "Enlarged Cardiomediastinum": A, "No Finding": P },
    ],
    [
      "FINDINGS: Endotracheal tube 5 cm above the carina. Nasogastric tube in the stomach. Bibasilar opacities, likely atelectasis. Small bilateral effusions. IMPRESSION: Lines and tubes as described. Bibasilar atelectasis versus pneumonia.",
      { "Support Devices": P, "Lung Opacity": P, Atelectasis: U, "Pleural Effusion": P, Pneumonia: U, "No Finding": A },
    ],
    [
      "FINDINGS: Moderate cardiomegaly. Pulmonary vascular congestion and interstitial edema. Small bilateral pleural effusions. IMPRESSION: Congestive heart failure.",
      { Cardiomegaly: P, Edema: P, "Pleural Effusion": P, "No Finding": A },
    ],
    [
      "INDICATION: Fever, rule out pneumonia. FINDINGS: Heart size normal. Lungs clear. No effusion. No pneumothorax. IMPRESSION: No evidence of pneumonia.",
      { Cardiomegaly: A, "Pleural Effusion": A, Pneumothorax: A, Pneumonia: A, "No Finding": P },
    ],
    [
      "FINDINGS: Interval placement of a right chest tube. The right pneumothorax has resolved. Stable left rib fractures. IMPRESSION: Resolved right pneumothorax.",
      { "Support Devices": P, Pneumothorax: A, Fracture: P, "No Finding": A },
    ],
    [
      "IMPRESSION: 1. Right upper lobe mass, concerning for malignancy. 2. No pleural effusion.",
      { "Lung Lesion": P, "Pleural Effusion": A, "No Finding": A },
    ],
  ];
  it.each(rows)("%s", (text, expected) => expectLabels(text, expected));
});
