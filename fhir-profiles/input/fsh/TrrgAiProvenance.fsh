Profile: TrrgAiProvenance
Parent: Provenance
Id: trrg-ai-provenance
Title: "TRRG AI provenance"
Description: "Who made a report: the model Device is the author of the DiagnosticReport and its Observations, from the imaging study. Follows HL7 AI Transparency on FHIR (Provenance of AI output)."
// R4 Provenance has no identifier: delivery's conditional create matches on _tag, the report identifier value.
* meta.tag 1..*
* meta.tag ^slicing.discriminator.type = #pattern
* meta.tag ^slicing.discriminator.path = "system"
* meta.tag ^slicing.rules = #open
* meta.tag contains report 1..1
* meta.tag[report].system = "https://trrg-gateway.org/fhir/CodeSystem/trrg-report-tag"
* meta.tag[report].code 1..1
* target 2..*
* target only Reference(TrrgChestXrayReport or TrrgFindingObservation)
* recorded 1..1
* activity 1..1
* activity = $v3-DataOperation#CREATE
// AI Transparency on FHIR: the model Device is the author of the AI output.
* agent 1..*
* agent ^slicing.discriminator.type = #pattern
* agent ^slicing.discriminator.path = "type"
* agent ^slicing.rules = #open
* agent contains model 1..1
* agent[model].type 1..1
* agent[model].type = $provenance-participant-type#author
* agent[model].who only Reference(TrrgModelDevice)
* entity 1..*
* entity ^slicing.discriminator.type = #pattern
* entity ^slicing.discriminator.path = "role"
* entity ^slicing.rules = #open
* entity contains study 1..1
* entity[study].role = #source
* insert LogicalStudyReference(entity[study].what)
