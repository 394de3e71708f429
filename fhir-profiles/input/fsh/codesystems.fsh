CodeSystem: TrrgFinding
Id: trrg-finding
Title: "TRRG chest X-ray findings"
Description: "The 14 observations of the CheXpert labeler (Irvin et al., AAAI 2019), in the order of the CheXpert label files. The display is the CheXpert observation name."
* ^caseSensitive = true
* #no-finding "No Finding"
* #enlarged-cardiomediastinum "Enlarged Cardiomediastinum"
* #cardiomegaly "Cardiomegaly"
* #lung-opacity "Lung Opacity"
* #lung-lesion "Lung Lesion"
* #edema "Edema"
* #consolidation "Consolidation"
* #pneumonia "Pneumonia"
* #atelectasis "Atelectasis"
* #pneumothorax "Pneumothorax"
* #pleural-effusion "Pleural Effusion"
* #pleural-other "Pleural Other"
* #fracture "Fracture"
* #support-devices "Support Devices"

CodeSystem: TrrgFindingPresence
Id: trrg-finding-presence
Title: "TRRG finding presence"
Description: "Whether a finding is present, as the report text states it (or, where the text is silent, as perception found it)."
* ^caseSensitive = true
* #present "Present" "The finding is present."
* #absent "Absent" "The finding is absent."
* #uncertain "Uncertain" "The report text states the finding with uncertainty."

CodeSystem: TrrgModelOutput
Id: trrg-model-output
Title: "TRRG model output"
Description: "Quantities and flags that the report generation model attaches to a finding."
* ^caseSensitive = true
* #probability "Probability" "The model's perception probability for the finding, in [0, 1]."
* #decision-threshold "Decision threshold" "The calibrated probability at or above which perception reports the finding."
* #needs-review "Needs review" "The report text contradicts perception even after the truthfulness gate regenerated it: a person must look."

CodeSystem: TrrgReportTag
Id: trrg-report-tag
Title: "TRRG report tag"
Description: "Tags a resource with the identifier value of the report it belongs to (meta.tag). R4 Provenance has no identifier, so delivery's conditional create matches Provenance on _tag. The codes are the report identifiers themselves and are not enumerated."
* ^caseSensitive = true
* ^content = #not-present
