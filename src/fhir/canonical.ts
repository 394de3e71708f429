// Canonical URLs of our FHIR artefacts (fhir-profiles/) and the external code systems our resources use.
export const CANONICAL_BASE = "https://trrg-gateway.org/fhir";

export const PROFILES = {
  report: `${CANONICAL_BASE}/StructureDefinition/trrg-chest-xray-report`,
  finding: `${CANONICAL_BASE}/StructureDefinition/trrg-finding-observation`,
  device: `${CANONICAL_BASE}/StructureDefinition/trrg-model-device`,
  provenance: `${CANONICAL_BASE}/StructureDefinition/trrg-ai-provenance`,
} as const;

export const CODE_SYSTEMS = {
  finding: `${CANONICAL_BASE}/CodeSystem/trrg-finding`,
  presence: `${CANONICAL_BASE}/CodeSystem/trrg-finding-presence`,
  modelOutput: `${CANONICAL_BASE}/CodeSystem/trrg-model-output`,
  reportTag: `${CANONICAL_BASE}/CodeSystem/trrg-report-tag`,
  loinc: "http://loinc.org",
  snomed: "http://snomed.info/sct",
  ucum: "http://unitsofmeasure.org",
  observationValue: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
  observationCategory: "http://terminology.hl7.org/CodeSystem/observation-category",
  dataOperation: "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
  provenanceParticipantType: "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
} as const;

/** Identifier systems. */
export const IDENTIFIER_SYSTEMS = {
  /** FHIR R4 identifier-registry: a URI value such as urn:uuid:… */
  uri: "urn:ietf:rfc:3986",
  /** DICOM UIDs as FHIR identifiers (ImagingStudy.identifier), values urn:oid:… */
  dicomUid: "urn:dicom:uid",
  manifest: `${CANONICAL_BASE}/sid/model-manifest-sha256`,
} as const;

/** The CodeSystem code of a CheXpert observation name: "Enlarged Cardiomediastinum" → "enlarged-cardiomediastinum". */
export function findingCode(name: string): string {
  return name.toLowerCase().replace(/\s+/g, "-");
}
