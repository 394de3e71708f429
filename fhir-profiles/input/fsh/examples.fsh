// One phantom study (trrg-gateway phantom seed 42: no real patient): the report, one of its findings, the model and
// the provenance. Patient ID PH00000042 from issuer TRRG-PHANTOM, which is not an OID and is not mapped, so the
// subject has no system and keeps the issuer as assigner.display (docs/fhir.md, Patient linkage).

RuleSet: PhantomSubject
* subject.identifier.value = "PH00000042"
* subject.identifier.assigner.display = "TRRG-PHANTOM"

RuleSet: PhantomStudy(path)
* {path}.identifier.system = "urn:dicom:uid"
* {path}.identifier.value = "urn:oid:2.25.15789744710412630437472869635708717917"

Instance: example-chest-xray-report
InstanceOf: TrrgChestXrayReport
Title: "Example: a phantom chest X-ray report"
Usage: #example
* meta.security[aiast] = $v3-ObservationValue#AIAST "artificial intelligence asserted"
* identifier.system = "urn:ietf:rfc:3986"
* identifier.value = "urn:uuid:5f0c7a2e-8a4b-4c1e-9d3f-2b6a1c0e4d57"
* status = #preliminary
* category[radiology] = $loinc#LP29684-5 "Radiology"
* code = $loinc#36554-4 "XR Chest Single view"
* insert PhantomSubject
* effectiveDateTime = "2024-03-14T09:26:41Z"
* issued = "2024-03-14T09:31:02.117Z"
* performer.display = "trrg-gateway"
* insert PhantomStudy(imagingStudy)
* result = Reference(example-finding-observation)
* conclusion = "Right pleural effusion."
* presentedForm.contentType = #text/plain;charset=utf-8
// "FINDINGS: Small right pleural effusion. No pneumothorax.\nIMPRESSION: Right pleural effusion.\n"
* presentedForm.data = "RklORElOR1M6IFNtYWxsIHJpZ2h0IHBsZXVyYWwgZWZmdXNpb24uIE5vIHBuZXVtb3Rob3JheC4KSU1QUkVTU0lPTjogUmlnaHQgcGxldXJhbCBlZmZ1c2lvbi4K"
* presentedForm.title = "Chest X-ray report (AI, preliminary)"

Instance: example-finding-observation
InstanceOf: TrrgFindingObservation
Title: "Example: a pleural effusion finding"
Usage: #example
* meta.security[aiast] = $v3-ObservationValue#AIAST "artificial intelligence asserted"
* identifier.system = "urn:ietf:rfc:3986"
* identifier.value = "urn:uuid:9b1e4f6a-3c2d-4e8f-a7b5-0d6c2e1f3a48"
* status = #preliminary
* category[imaging] = $observation-category#imaging "Imaging"
* code.coding[finding] = https://trrg-gateway.org/fhir/CodeSystem/trrg-finding#pleural-effusion "Pleural Effusion"
* code.coding[snomed] = $sct#60046008 "Pleural effusion (disorder)"
* code.coding[radlex] = $radlex#RID34539 "pleural effusion"
* insert PhantomSubject
* effectiveDateTime = "2024-03-14T09:26:41Z"
* issued = "2024-03-14T09:31:02.117Z"
* valueCodeableConcept = https://trrg-gateway.org/fhir/CodeSystem/trrg-finding-presence#present "Present"
* component[probability].code = https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output#probability "Probability"
* component[probability].valueQuantity = 0.87 '1'
* component[decision-threshold].code = https://trrg-gateway.org/fhir/CodeSystem/trrg-model-output#decision-threshold "Decision threshold"
* component[decision-threshold].valueQuantity = 0.52 '1'
* bodySite = $sct#24028007 "Right"
* insert PhantomStudy(derivedFrom)
* device = Reference(example-model-device)

Instance: example-model-device
InstanceOf: TrrgModelDevice
Title: "Example: the trrg-mini model set"
Usage: #example
* identifier[manifest].system = "https://trrg-gateway.org/fhir/sid/model-manifest-sha256"
* identifier[manifest].value = "80648284b13fb058fcb335ed9bfa0b3f7d1d15e2259fe8293127e0403b20f3ab"
* deviceName.name = "trrg-mini"
* deviceName.type = #model-name
* version.value = "1.0.0"
* type.text = "AI report generation model"
* status = #active

Instance: example-ai-provenance
InstanceOf: TrrgAiProvenance
Title: "Example: provenance of the phantom report"
Usage: #example
* meta.tag[report] = https://trrg-gateway.org/fhir/CodeSystem/trrg-report-tag#urn:uuid:5f0c7a2e-8a4b-4c1e-9d3f-2b6a1c0e4d57
* target[0] = Reference(example-chest-xray-report)
* target[+] = Reference(example-finding-observation)
* recorded = "2024-03-14T09:31:02.117Z"
* activity = $v3-DataOperation#CREATE "create"
* agent[model].type = $provenance-participant-type#author "Author"
* agent[model].who = Reference(example-model-device)
* entity[study].role = #source
* insert PhantomStudy(entity[study].what)
