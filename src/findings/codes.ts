// Terminology codes for the 14 CheXpert observations, for the FHIR builders (Observation.code).
//
// Every code below was confirmed against a published source found with a search of public reference
// material; the source is cited on the entry. Where no code could be confirmed within the time given to
// the task, the code is left undefined and the entry carries a note saying so: a missing code is
// preferable to an invented one. Before production use, each code should be re-checked against the
// current SNOMED CT International Edition and RadLex releases.
import type { ObservationName } from "./observations.js";

export const SNOMED_CT = "http://snomed.info/sct";
export const RADLEX = "http://radlex.org";

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

export interface FindingCode {
  readonly snomed: SnomedCode | undefined;
  readonly radlex: RadLexCode | undefined;
  readonly note?: string;
}

export interface Coding {
  readonly system: string;
  readonly code: string;
  readonly display: string;
}

const RADLEX_UNCONFIRMED = "RadLex term not confirmed from an authoritative source; left undefined.";

export const FINDING_CODES: Readonly<Record<ObservationName, FindingCode>> = {
  "No Finding": {
    snomed: undefined,
    radlex: undefined,
    note:
      'No SNOMED CT "no abnormality detected"-type finding could be confirmed from a source within the time; left undefined. ' +
      RADLEX_UNCONFIRMED,
  },
  "Enlarged Cardiomediastinum": {
    snomed: undefined,
    radlex: undefined,
    note:
      "No SNOMED CT concept for an enlarged cardiomediastinal silhouette / mediastinal widening could be confirmed from a source; left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  Cardiomegaly: {
    // 8186001 is widely used for cardiomegaly, but no authoritative page (browser, value set) confirming it
    // was found in the time; only non-authoritative code repositories mention it.
    snomed: undefined,
    radlex: undefined,
    note:
      "SNOMED CT code not confirmed from an authoritative source within the time (candidate 8186001 |Cardiomegaly (disorder)| needs checking); left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  "Lung Opacity": {
    snomed: undefined,
    radlex: undefined,
    note:
      "No SNOMED CT concept for a lung opacity could be confirmed from a source; left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  "Lung Lesion": {
    // Source: FHIR terminology server SNOMED CT browser, concept 786838002 (FSN "Nodule of lung (disorder)",
    // synonym "Pulmonary nodule"; is-a "Lung mass" and "Lesion of lung"):
    // http://35.223.3.115/snomed/32506021000036107-20230731/?id=786838002&type=snomed
    snomed: { code: "786838002", display: "Nodule of lung (disorder)" },
    radlex: undefined,
    note:
      'Narrower than the CheXpert label (which covers nodules, masses and other lesions); the parent "Lesion of lung" ' +
      "code could not be confirmed from a source. " +
      RADLEX_UNCONFIRMED,
  },
  Edema: {
    snomed: undefined,
    radlex: undefined,
    note:
      "SNOMED CT code for pulmonary edema not confirmed from an authoritative source within the time; left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  Consolidation: {
    // Source: HL7 Lithuania Lung Cancer IG, ValueSet incidental-finding:
    // https://build.fhir.org/ig/HL7LT/ig-lt-lung/en/ValueSet-incidental-finding.html
    // (also the SNOMED CT parent of 233604007 |Pneumonia (disorder)| in https://gist.github.com/pgwilliams/8006310)
    snomed: { code: "95436008", display: "Lung consolidation (disorder)" },
    radlex: undefined,
    note: RADLEX_UNCONFIRMED,
  },
  Pneumonia: {
    // Source: HL7 Switzerland CH EKM IG, ValueSet ChEkmInvasiveStreptococcusPneumoniaeManifestation
    // (expansion from tx.fhir.org):
    // https://build.fhir.org/ig/ahdis/ch-ekm/ValueSet-ChEkmInvasiveStreptococcusPneumoniaeManifestation.html
    snomed: { code: "233604007", display: "Pneumonia (disorder)" },
    radlex: undefined,
    note: RADLEX_UNCONFIRMED,
  },
  Atelectasis: {
    snomed: undefined,
    radlex: undefined,
    note:
      "SNOMED CT code not confirmed from an authoritative source within the time; left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  Pneumothorax: {
    // Source: HL7 Lithuania Lung Cancer IG, ValueSet incidental-finding:
    // https://build.fhir.org/ig/HL7LT/ig-lt-lung/en/ValueSet-incidental-finding.html
    snomed: { code: "36118008", display: "Pneumothorax (disorder)" },
    radlex: undefined,
    note: RADLEX_UNCONFIRMED,
  },
  "Pleural Effusion": {
    // 60046008 is widely used for pleural effusion, but no authoritative page (browser, value set) confirming it
    // was found in the time; only non-authoritative code repositories mention it.
    snomed: undefined,
    radlex: undefined,
    note:
      "SNOMED CT code not confirmed from an authoritative source within the time (candidate 60046008 |Pleural effusion (disorder)| needs checking); left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  "Pleural Other": {
    snomed: undefined,
    radlex: undefined,
    note:
      "Heterogeneous label (pleural thickening, plaques, fibrosis…); no single SNOMED CT concept confirmed from a source; left undefined. " +
      RADLEX_UNCONFIRMED,
  },
  Fracture: {
    // Source: SNOMED International's own modelling templates, "Fracture of [bone structure] (disorder) - v2",
    // whose domain is << 125605004 |Fracture of bone (disorder)|:
    // https://github.com/IHTSDO/snomed-templates/blob/master/Fracture%20of%20%5Bbone%20structure%5D%20(disorder)%20-%20v2.json
    snomed: { code: "125605004", display: "Fracture of bone (disorder)" },
    radlex: undefined,
    note: RADLEX_UNCONFIRMED,
  },
  "Support Devices": {
    snomed: undefined,
    radlex: undefined,
    note:
      "Not a clinical finding: the label marks the presence of lines, tubes and devices; no SNOMED CT or RadLex concept assigned.",
  },
};

/** FHIR-style codings for an observation, one per code present (SNOMED CT first, then RadLex). */
export function codingsFor(name: ObservationName): Coding[] {
  const entry = FINDING_CODES[name];
  const codings: Coding[] = [];
  if (entry.snomed !== undefined) {
    codings.push({ system: SNOMED_CT, code: entry.snomed.code, display: entry.snomed.display });
  }
  if (entry.radlex !== undefined) {
    codings.push({ system: RADLEX, code: entry.radlex.code, display: entry.radlex.display });
  }
  return codings;
}
