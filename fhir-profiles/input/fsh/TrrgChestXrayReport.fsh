Profile: TrrgChestXrayReport
Parent: DiagnosticReport
Id: trrg-chest-xray-report
Title: "TRRG AI chest X-ray report"
Description: "A preliminary chest X-ray report written by the trrg-gateway model. Modelled on US Core DiagnosticReport Note (the elements it requires) and on HL7 AI Transparency on FHIR."
* insert AiAssertedLabel
* insert UuidIdentifier
// The model writes preliminary; a person who signs makes it final, so the value is not fixed here.
* status 1..1
// US Core DiagnosticReport Note: category LP29684-5 "Radiology".
* category 1..*
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains radiology 1..1
* category[radiology] = $loinc#LP29684-5
// US Core DiagnosticReport Note: a LOINC report code.
* code 1..1
* code from TrrgChestXrayReportCode (required)
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only dateTime
* issued 1..1
// R4 DiagnosticReport.performer allows no Device: the model is the Provenance agent instead.
* performer 1..*
* performer only Reference(Organization)
* imagingStudy 1..1
* insert LogicalStudyReference(imagingStudy)
* result only Reference(TrrgFindingObservation)
* conclusion 1..1
// US Core DiagnosticReport Note: the report text in presentedForm.
* presentedForm 1..*
* presentedForm.contentType 1..1
* presentedForm.contentType = #text/plain;charset=utf-8
* presentedForm.data 1..1
* presentedForm.title 1..1
