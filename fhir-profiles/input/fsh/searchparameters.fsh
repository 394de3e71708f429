// Lets a client find the report of a study by its Study Instance UID (token: urn:dicom:uid|urn:oid:<UID>).
Instance: DiagnosticReport-study-instance-uid
InstanceOf: SearchParameter
Usage: #definition
Title: "DiagnosticReport study-instance-uid"
* url = "https://trrg-gateway.org/fhir/SearchParameter/DiagnosticReport-study-instance-uid"
* name = "StudyInstanceUid"
* status = #draft
* description = "The Study Instance UID (0020,000D) of the imaging study the report is about, as the logical reference DiagnosticReport.imagingStudy.identifier (system urn:dicom:uid, value urn:oid:<UID>)."
* code = #study-instance-uid
* base = #DiagnosticReport
* type = #token
* expression = "DiagnosticReport.imagingStudy.identifier"
* xpathUsage = #normal
