ValueSet: TrrgChestXrayReportCode
Id: trrg-chest-xray-report-code
Title: "TRRG chest X-ray report codes"
Description: "LOINC codes of a chest X-ray report. US Core DiagnosticReport Note binds DiagnosticReport.code to LOINC; its chest X-ray example uses 30746-2."
// The model reads one frontal image.
* $loinc#36554-4 "XR Chest Single view"
* $loinc#36643-5 "XR Chest 2 Views"
* $loinc#30746-2 "Portable XR Chest Views"

ValueSet: TrrgFindingCode
Id: trrg-finding-code
Title: "TRRG finding codes"
Description: "All the findings of CodeSystem trrg-finding."
* include codes from system TrrgFinding

ValueSet: TrrgFindingPresenceVS
Id: trrg-finding-presence
Title: "TRRG finding presence"
Description: "All the codes of CodeSystem trrg-finding-presence."
* include codes from system TrrgFindingPresence

ValueSet: TrrgLaterality
Id: trrg-laterality
Title: "TRRG laterality"
Description: "Laterality of a finding, as SNOMED CT qualifier values."
* $sct#24028007 "Right"
* $sct#7771000 "Left"
* $sct#51440002 "Right and left"
