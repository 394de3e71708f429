Profile: TrrgModelDevice
Parent: Device
Id: trrg-model-device
Title: "TRRG report generation model"
Description: "The model set that wrote a report: its name, version and the SHA-256 of its manifest. HL7 AI Transparency on FHIR records the model as a Device that is the Provenance agent."
* obeys trrg-manifest-sha256
* identifier 1..*
* identifier ^slicing.discriminator.type = #pattern
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains manifest 1..1
* identifier[manifest].system = "https://trrg-gateway.org/fhir/sid/model-manifest-sha256"
* identifier[manifest].value 1..1
* deviceName 1..*
* deviceName.type = #model-name
* version 1..1
// No coded device type is asserted: none could be confirmed from a source.
* type 1..1
* type.text = "AI report generation model"
* status 1..1
* status = #active

Invariant: trrg-manifest-sha256
Description: "The manifest identifier has a value: a SHA-256 digest in lower-case hex."
Severity: #error
Expression: "identifier.where(system = 'https://trrg-gateway.org/fhir/sid/model-manifest-sha256').all(value.matches('^[0-9a-f]{64}$'))"
