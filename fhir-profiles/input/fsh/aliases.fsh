// Code systems and naming systems used by the trrg-gateway profiles.
Alias: $loinc = http://loinc.org
Alias: $sct = http://snomed.info/sct
Alias: $ucum = http://unitsofmeasure.org
Alias: $v3-ObservationValue = http://terminology.hl7.org/CodeSystem/v3-ObservationValue
Alias: $v3-DataOperation = http://terminology.hl7.org/CodeSystem/v3-DataOperation
Alias: $observation-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $provenance-participant-type = http://terminology.hl7.org/CodeSystem/provenance-participant-type
Alias: $radlex = http://radlex.org
Alias: $dcm = http://dicom.nema.org/resources/ontology/DCM
