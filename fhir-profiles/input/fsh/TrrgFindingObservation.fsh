Profile: TrrgFindingObservation
Parent: Observation
Id: trrg-finding-observation
Title: "TRRG AI finding"
Description: "One CheXpert finding that the trrg-gateway model reports on: whether it is present, with the model's probability and decision threshold."
* obeys trrg-probability-range and trrg-model-output-quantity
* insert AiAssertedLabel
* insert UuidIdentifier
// preliminary as the model writes it; not fixed, as for the report, so that a signed finding still conforms.
* status 1..1
// R4 observation-category: a finding read from an image.
* category 1..*
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains imaging 1..1
* category[imaging] = $observation-category#imaging
// The trrg-finding coding is required; SNOMED CT, RadLex and DICOM codings follow it where they exist.
* code.coding 1..*
* code.coding ^slicing.discriminator.type = #pattern
* code.coding ^slicing.discriminator.path = "system"
* code.coding ^slicing.rules = #open
* code.coding contains finding 1..1 and snomed 0..1 and radlex 0..1 and dicom 0..1
* code.coding[finding].system = "https://trrg-gateway.org/fhir/CodeSystem/trrg-finding"
* code.coding[finding].code 1..1
* code.coding[finding] from TrrgFindingCode (required)
* code.coding[snomed].system = $sct
* code.coding[radlex].system = $radlex
* code.coding[dicom].system = $dcm
* subject 1..1
* subject only Reference(Patient)
* effective[x] 1..1
* effective[x] only dateTime
* issued 1..1
* value[x] 1..1
* value[x] only CodeableConcept
* valueCodeableConcept from TrrgFindingPresenceVS (required)
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #open
* component contains probability 1..1 and decision-threshold 1..1
* component[probability].code = https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output#probability
* component[probability].value[x] 1..1
* component[probability].value[x] only Quantity
* component[probability].valueQuantity.value 1..1
* component[probability].valueQuantity.system = $ucum
* component[probability].valueQuantity.code = #1
* component[decision-threshold].code = https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output#decision-threshold
* component[decision-threshold].value[x] 1..1
* component[decision-threshold].value[x] only Quantity
* component[decision-threshold].valueQuantity.value 1..1
* component[decision-threshold].valueQuantity.system = $ucum
* component[decision-threshold].valueQuantity.code = #1
// Set only when the text contradicts perception even after the truthfulness gate regenerated it.
* interpretation 0..1
// The pattern is on the coding's system and code, not on interpretation: @medplum/core 4.5 matches a pattern on
// an element that repeats in the base resource (R4 interpretation 0..*) against the whole array, never a match.
* interpretation.coding.system = "https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output"
* interpretation.coding.code = #needs-review
* bodySite from TrrgLaterality (required)
* derivedFrom 1..*
* derivedFrom only Reference(ImagingStudy)
* insert LogicalStudyReference(derivedFrom)
* device 1..1
* device only Reference(TrrgModelDevice)

Invariant: trrg-probability-range
Description: "The probability component is a value in [0, 1]."
Severity: #error
Expression: "component.where(code.coding.exists(system = 'https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output' and code = 'probability')).value.ofType(Quantity).all(value >= 0 and value <= 1)"

// @medplum/core counts slices but does not check the elements inside one (component[probability].value[x] 1..1,
// its UCUM unit), so the rule is also an invariant on the resource, which it does check.
Invariant: trrg-model-output-quantity
Description: "Every model-output component has a value in UCUM unit 1."
Severity: #error
Expression: "component.where(code.coding.exists(system = 'https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output')).all(value.ofType(Quantity).exists(value.exists() and system = 'http://unitsofmeasure.org' and code = '1'))"
