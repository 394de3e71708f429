// DICOM JSON → Native DICOM Model XML (PS3.19 Annex A), for clients that ask for application/dicom+xml.
import { keywordOf, type DicomJsonDataset, type PersonName } from "./dicomJson.js";

const escapeXml = (text: string) =>
  text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c);

export function toNativeDicomModel(dataset: DicomJsonDataset): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">${attributes(dataset)}</NativeDicomModel>\n`;
}

function attributes(dataset: DicomJsonDataset): string {
  return Object.keys(dataset)
    .sort()
    .map((tag) => {
      const element = dataset[tag]!;
      const keyword = keywordOf(tag);
      const open = `<DicomAttribute tag="${tag}" vr="${element.vr}"${keyword ? ` keyword="${keyword}"` : ""}>`;
      return `${open}${values(element.vr, element.Value ?? [])}${element.InlineBinary ? `<InlineBinary>${element.InlineBinary}</InlineBinary>` : ""}</DicomAttribute>`;
    })
    .join("");
}

function values(vr: string, list: unknown[]): string {
  return list
    .map((value, index) => {
      const number = index + 1;
      if (vr === "SQ") return `<Item number="${number}">${attributes(value as DicomJsonDataset)}</Item>`;
      if (vr === "PN") return `<PersonName number="${number}">${personName(value as PersonName)}</PersonName>`;
      return `<Value number="${number}">${escapeXml(String(value))}</Value>`;
    })
    .join("");
}

function personName(name: PersonName): string {
  return (["Alphabetic", "Ideographic", "Phonetic"] as const)
    .filter((group) => name[group])
    .map((group) => {
      const parts = name[group]!.split("^");
      const names = ["FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"]
        .map((element, i) => (parts[i] ? `<${element}>${escapeXml(parts[i]!)}</${element}>` : ""))
        .join("");
      return `<${group}>${names}</${group}>`;
    })
    .join("");
}
