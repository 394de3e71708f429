// HL7 AI Transparency on FHIR (STU1 ballot): resources asserted by an AI carry the v3 ObservationValue security
// label AIAST ("artificial intelligence asserted") in meta.security.
RuleSet: AiAssertedLabel
* meta.security 1..*
* meta.security ^slicing.discriminator.type = #pattern
* meta.security ^slicing.discriminator.path = "$this"
* meta.security ^slicing.rules = #open
* meta.security ^slicing.description = "The AIAST label, beside any others"
* meta.security contains aiast 1..1
* meta.security[aiast] = $v3-ObservationValue#AIAST

// The report identifier: a UUID URI (RFC 3986 system, R4 datatypes "Identifier" urn:uuid convention), which
// delivery's conditional create matches on so that a retry never duplicates.
RuleSet: UuidIdentifier
* identifier 1..*
* identifier.system 1..1
* identifier.system = "urn:ietf:rfc:3986"
* identifier.value 1..1

// A logical reference to the imaging study by its Study Instance UID (0020,000D): the FHIR ImagingStudy.identifier
// convention for DICOM UIDs (system urn:dicom:uid, value urn:oid:<UID>), which DICOM PS3.18 also follows.
RuleSet: LogicalStudyReference(path)
* {path}.identifier 1..1
* {path}.identifier.system 1..1
* {path}.identifier.system = "urn:dicom:uid"
* {path}.identifier.value 1..1
