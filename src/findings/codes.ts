// Terminology codes for the 14 CheXpert observations, for the FHIR builders (Observation.code).
//
// Every code below was confirmed against a published source found with a search of public reference
// material; the source is cited on the entry. Sources, strongest first: HL7 and DICOM publications; national
// FHIR implementation guides (HL7 Lithuania, the German Medizininformatik-Initiative); RSNA's own repositories
// (RSNA/RadLex, and RSNA/ACR-RSNA-CDEs, whose next-generation schema binds RadLex 4.3 and SNOMED CT but is
// still marked "proposed"). Where no code could be confirmed, the code is left undefined and the entry carries a
// note saying so: a missing code is preferable to an invented one. Before production use, each code should be
// re-checked against the current SNOMED CT International Edition and RadLex releases.
import type { ObservationName } from "./observations.js";

export const SNOMED_CT = "http://snomed.info/sct";
export const RADLEX = "http://radlex.org";
export const DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM";

export interface SnomedCode {
  readonly code: string;
  /** The SNOMED CT fully specified name (with semantic tag) or preferred term. */
  readonly display: string;
}

export interface RadLexCode {
  /** RadLex identifier, e.g. "RID5352". */
  readonly code: string;
  readonly display: string;
}

/** A DICOM Controlled Terminology (PS3.16) code, for concepts that SNOMED CT and RadLex lack here. */
export interface DicomCode {
  readonly code: string;
  readonly display: string;
}

export interface FindingCode {
  readonly snomed: SnomedCode | undefined;
  readonly radlex: RadLexCode | undefined;
  readonly dicom?: DicomCode;
  readonly note?: string;
}

export interface Coding {
  readonly system: string;
  readonly code: string;
  readonly display: string;
}

// Two sources cited by short name below:
// - RSNA_CDE: https://github.com/RSNA/ACR-RSNA-CDEs, files under docs/next-gen-schema/ (draft, "proposed").
// - MII_CONCEPT_MAP: the German Medizininformatik-Initiative oncology module's ConceptMap of surgical
//   complications to SNOMED CT ("equivalent" mappings),
//   https://github.com/medizininformatik-initiative/kerndatensatzmodul-onkologie
//   input/fsh/oBDS/13_OP/mii-cm-onko-operation-komplikation-sct.fsh

const RADLEX_UNCONFIRMED = "RadLex term not confirmed from an authoritative source; left undefined.";

export const FINDING_CODES: Readonly<Record<ObservationName, FindingCode>> = {
  "No Finding": {
    // Source: HL7 mCODE IG, ValueSet ConditionStatusTrendVS (expansion on SNOMED CT US edition 2021-03-01):
    // https://hl7.org/fhir/us/mcode/2021May/ValueSet-mcode-condition-status-trend-vs.html
    snomed: { code: "281900007", display: "No abnormality detected (finding)" },
    radlex: undefined,
    note: "A general finding, not specific to imaging: the CheXpert label means no abnormality on the radiograph. " + RADLEX_UNCONFIRMED,
  },
  "Enlarged Cardiomediastinum": {
    snomed: undefined,
    radlex: undefined,
    note:
      "No SNOMED CT or RadLex concept for an enlarged cardiomediastinal silhouette / mediastinal widening could be confirmed from a source; left undefined.",
  },
  Cardiomegaly: {
    // 8186001 is widely used for cardiomegaly, but no authoritative page (browser, value set, RSNA file)
    // confirming it was found; only application code and third-party summaries mention it.
    snomed: undefined,
    radlex: undefined,
    note:
      "SNOMED CT code not confirmed from an authoritative source (candidate 8186001 |Cardiomegaly (disorder)| needs checking); left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  "Lung Opacity": {
    snomed: undefined,
    radlex: undefined,
    // Source: DICOM PS3.16 CID 6104 "Abnormal Opacity Finding or Feature", in DICOM's FHIR terminology package:
    // https://fhir.org/guides/stats2/valueset-fhir.dicom-dicom-cid-6104-abnormalopacityfindingorfeature.html
    dicom: { code: "112001", display: "Opacity" },
    note: "No SNOMED CT concept for a lung opacity could be confirmed from a source; the DICOM code is used. " + RADLEX_UNCONFIRMED,
  },
  "Lung Lesion": {
    // SNOMED CT source: FHIR terminology server SNOMED CT browser, concept 786838002 (FSN "Nodule of lung
    // (disorder)", synonym "Pulmonary nodule"; is-a "Lung mass" and "Lesion of lung"):
    // http://35.223.3.115/snomed/32506021000036107-20230731/?id=786838002&type=snomed
    // RadLex source: RSNA_CDE 05-radlex-baseline.md ("pulmonary nodule (RID50149)", checked against RadLex.owl)
    // and alpha/compiled/_all-findings.json (FC-000005).
    snomed: { code: "786838002", display: "Nodule of lung (disorder)" },
    radlex: { code: "RID50149", display: "pulmonary nodule" },
    note:
      'Narrower than the CheXpert label (which covers nodules, masses and other lesions); the parent "Lesion of lung" ' +
      "code could not be confirmed from a source.",
  },
  Edema: {
    // Source: MII_CONCEPT_MAP, #LOE "Lungenödem" equivalent to 19242006 "Pulmonary edema (disorder)".
    snomed: { code: "19242006", display: "Pulmonary edema (disorder)" },
    radlex: undefined,
    note: RADLEX_UNCONFIRMED,
  },
  Consolidation: {
    // SNOMED CT source: HL7 Lithuania Lung Cancer IG, ValueSet incidental-finding:
    // https://build.fhir.org/ig/HL7LT/ig-lt-lung/en/ValueSet-incidental-finding.html
    // RadLex source: RSNA_CDE alpha/compiled/FC-000024-consolidation.json (RadLex 4.3; binds 95436008 too).
    snomed: { code: "95436008", display: "Lung consolidation (disorder)" },
    radlex: { code: "RID43255", display: "consolidation" },
  },
  Pneumonia: {
    // SNOMED CT source: HL7 Switzerland CH EKM IG, ValueSet ChEkmInvasiveStreptococcusPneumoniaeManifestation
    // (expansion from tx.fhir.org):
    // https://build.fhir.org/ig/ahdis/ch-ekm/ValueSet-ChEkmInvasiveStreptococcusPneumoniaeManifestation.html
    // RadLex source: RSNA_CDE graph/pleural-effusion.jsonl (exactMatch RADLEX:RID5350 "pneumonia", beside
    // SNOMEDCT:233604007).
    snomed: { code: "233604007", display: "Pneumonia (disorder)" },
    radlex: { code: "RID5350", display: "pneumonia" },
  },
  Atelectasis: {
    // Source: RSNA_CDE alpha/compiled/FC-000006B-atelectasis.json: SNOMEDCT 46621007 "Atelectasis" (exactMatch,
    // supplied by the authors rather than checked against a release) and RADLEX RID28493 "atelectasis" (4.3).
    snomed: { code: "46621007", display: "Atelectasis" },
    radlex: { code: "RID28493", display: "atelectasis" },
    note: "The SNOMED CT code comes from a draft RSNA file that gives the preferred term, not the fully specified name.",
  },
  Pneumothorax: {
    // SNOMED CT source: HL7 Lithuania Lung Cancer IG, ValueSet incidental-finding:
    // https://build.fhir.org/ig/HL7LT/ig-lt-lung/en/ValueSet-incidental-finding.html
    // RadLex source: RSNA_CDE alpha/compiled/FC-000022-pneumothorax.json (RadLex 4.3), and the CISMeF RadLex
    // page https://www.cismef.org/page/detail/en/RAD_CO_RID5352 ("Preferred Label: pneumothorax").
    snomed: { code: "36118008", display: "Pneumothorax (disorder)" },
    radlex: { code: "RID5352", display: "pneumothorax" },
  },
  "Pleural Effusion": {
    // SNOMED CT source: MII_CONCEPT_MAP, #PLE "Pleuraerguss" equivalent to 60046008 "Pleural effusion (disorder)".
    // RadLex source: RSNA's RadLex repository (https://github.com/RSNA/RadLex), tests/data/search_eval.json and
    // tests/test_search_regressions.py: "pleural effusion" is the exact label of RID34539.
    snomed: { code: "60046008", display: "Pleural effusion (disorder)" },
    radlex: { code: "RID34539", display: "pleural effusion" },
  },
  "Pleural Other": {
    // Source: HL7 Lithuania Lung Cancer IG, ValueSet incidental-finding (as for Pneumothorax):
    // 301256004 "Pleura finding (finding)".
    snomed: { code: "301256004", display: "Pleura finding (finding)" },
    radlex: undefined,
    note:
      "A grouping concept: the CheXpert label is heterogeneous (pleural thickening, plaques, fibrosis…), and the " +
      "Observation text says which. " +
      RADLEX_UNCONFIRMED,
  },
  Fracture: {
    // SNOMED CT source: SNOMED International's own modelling templates, "Fracture of [bone structure] (disorder)
    // - v2", whose domain is << 125605004 |Fracture of bone (disorder)|:
    // https://github.com/IHTSDO/snomed-templates/blob/master/Fracture%20of%20%5Bbone%20structure%5D%20(disorder)%20-%20v2.json
    // RadLex source: RSNA_CDE alpha/compiled/FC-000037-rib-fracture.json (anchor RADLEX RID4650 "fracture").
    snomed: { code: "125605004", display: "Fracture of bone (disorder)" },
    radlex: { code: "RID4650", display: "fracture" },
  },
  "Support Devices": {
    snomed: undefined,
    radlex: undefined,
    note:
      "Not a clinical finding: the label marks the presence of lines, tubes and devices; no SNOMED CT or RadLex concept assigned.",
  },
};

/** FHIR-style codings for an observation, one per code present (SNOMED CT first, then RadLex, then DICOM). */
export function codingsFor(name: ObservationName): Coding[] {
  const entry = FINDING_CODES[name];
  const codings: Coding[] = [];
  if (entry.snomed !== undefined) {
    codings.push({ system: SNOMED_CT, code: entry.snomed.code, display: entry.snomed.display });
  }
  if (entry.radlex !== undefined) {
    codings.push({ system: RADLEX, code: entry.radlex.code, display: entry.radlex.display });
  }
  if (entry.dicom !== undefined) {
    codings.push({ system: DICOM_DCM, code: entry.dicom.code, display: entry.dicom.display });
  }
  return codings;
}
