// QIDO-RS Search Transaction (PS3.18 §10.6) over the real app: matching (PS3.4 C.2.2.2), result attributes
// (PS3.18 Tables 10.6.3-3..5), includefield, paging and errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CR_SOP_CLASS, DX_FOR_PRESENTATION_SOP_CLASS, makeInstance, newUid } from "./fixtures/dicomFactory.js";
import { startTestApp, storeInstances, type TestApp } from "./support/testApp.js";

type Dataset = Record<string, { vr: string; Value?: unknown[] }>;

const TAG = {
  SpecificCharacterSet: "00080005",
  SOPClassUID: "00080016",
  SOPInstanceUID: "00080018",
  StudyDate: "00080020",
  StudyTime: "00080030",
  AccessionNumber: "00080050",
  Modality: "00080060",
  ModalitiesInStudy: "00080061",
  ReferringPhysicianName: "00080090",
  RetrieveURL: "00081190",
  StudyDescription: "00081030",
  SeriesDescription: "0008103E",
  AvailableTransferSyntaxUID: "00083002",
  PatientName: "00100010",
  PatientID: "00100020",
  PatientBirthDate: "00100030",
  PatientSex: "00100040",
  BodyPartExamined: "00180015",
  ViewPosition: "00185101",
  StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E",
  StudyID: "00200010",
  SeriesNumber: "00200011",
  InstanceNumber: "00200013",
  NumberOfStudyRelatedSeries: "00201206",
  NumberOfStudyRelatedInstances: "00201208",
  NumberOfSeriesRelatedInstances: "00201209",
  NumberOfFrames: "00280008",
  Rows: "00280010",
  Columns: "00280011",
  BitsAllocated: "00280100",
  ImagerPixelSpacing: "00181164",
} as const;

// Four studies. In date/time order: C (2023-12-31 23:59:59.5), D (2024-01-15 09:00), A (2024-01-15 10:15),
// B (2024-02-20 08:30). A has two DX series (PA with instances 2 and 1, LAT with one); B one CR series; C and D
// one DX instance each.
const uid = {
  A: newUid(), B: newUid(), C: newUid(), D: newUid(),
  A1: newUid(), A2: newUid(), B1: newUid(), C1: newUid(), D1: newUid(),
  a11: newUid(), a12: newUid(), a21: newUid(), b11: newUid(), c11: newUid(), d11: newUid(),
};
const studyOrder = [uid.C, uid.D, uid.A, uid.B];

const instances = [
  makeInstance({
    studyInstanceUID: uid.A, seriesInstanceUID: uid.A1, sopInstanceUID: uid.a12, patientName: "Doe^Jane",
    patientID: "PID-A", studyDate: "20240115", studyTime: "101500", accessionNumber: "ACC-A1",
    studyDescription: "XR CHEST PA", seriesNumber: 1, instanceNumber: 2,
  }),
  makeInstance({
    studyInstanceUID: uid.A, seriesInstanceUID: uid.A1, sopInstanceUID: uid.a11, patientName: "Doe^Jane",
    patientID: "PID-A", studyDate: "20240115", studyTime: "101500", accessionNumber: "ACC-A1",
    studyDescription: "XR CHEST PA", seriesNumber: 1, instanceNumber: 1,
  }),
  makeInstance({
    studyInstanceUID: uid.A, seriesInstanceUID: uid.A2, sopInstanceUID: uid.a21, patientName: "Doe^Jane",
    patientID: "PID-A", studyDate: "20240115", studyTime: "101500", accessionNumber: "ACC-A1",
    studyDescription: "XR CHEST PA", seriesNumber: 2, instanceNumber: 1, viewPosition: "LAT",
  }),
  makeInstance({
    studyInstanceUID: uid.B, seriesInstanceUID: uid.B1, sopInstanceUID: uid.b11, patientName: "DOE^JOHN",
    patientID: "PID-B", studyDate: "20240220", studyTime: "083000", accessionNumber: "ACC-B1",
    studyDescription: "XR CHEST AP", modality: "CR", viewPosition: "AP", rows: 32, columns: 48,
  }),
  makeInstance({
    studyInstanceUID: uid.C, seriesInstanceUID: uid.C1, sopInstanceUID: uid.c11, patientName: "Smith^Anna",
    patientID: "PID-C", studyDate: "20231231", studyTime: "235959.50", accessionNumber: "X_100%",
    studyDescription: "Chest follow-up", bitsAllocated: 8,
  }),
  makeInstance({
    studyInstanceUID: uid.D, seriesInstanceUID: uid.D1, sopInstanceUID: uid.d11, patientName: "Doe^Jane",
    patientID: "PID-D", studyDate: "20240115", studyTime: "090000", accessionNumber: "ACC-D1",
    studyDescription: "XR CHEST PA",
  }),
];

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  expect((await storeInstances(t, instances)).status).toBe(200);
});

afterAll(async () => {
  await t.close();
});

async function search(path: string, query: Record<string, string | string[]> = {}) {
  const res = await t.api.get(`/dicomweb${path}`).query(query);
  return { res, body: res.body as Dataset[] };
}

const values = (datasets: Dataset[], tag: string) => datasets.map((dataset) => dataset[tag]?.Value?.[0]);
const studies = async (query: Record<string, string | string[]>) =>
  values((await search("/studies", query)).body, TAG.StudyInstanceUID);

describe("QIDO-RS study search", () => {
  it("returns every study in study date and time order, then by UID", async () => {
    const { res, body } = await search("/studies");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/dicom\+json/);
    expect(values(body, TAG.StudyInstanceUID)).toEqual(studyOrder);
    expect(res.headers.warning).toBeUndefined();
  });

  it("returns the attributes of PS3.18 Table 10.6.3-3 with their VRs", async () => {
    const { body } = await search("/studies", { PatientID: "PID-A" });
    expect(body).toHaveLength(1);
    const study = body[0] ?? {};
    expect(study).toMatchObject({
      [TAG.SpecificCharacterSet]: { vr: "CS", Value: ["ISO_IR 192"] },
      [TAG.StudyDate]: { vr: "DA", Value: ["20240115"] },
      [TAG.StudyTime]: { vr: "TM", Value: ["101500"] },
      [TAG.AccessionNumber]: { vr: "SH", Value: ["ACC-A1"] },
      [TAG.ModalitiesInStudy]: { vr: "CS", Value: ["DX"] },
      [TAG.ReferringPhysicianName]: { vr: "PN", Value: [{ Alphabetic: "Referring^Doctor" }] },
      [TAG.PatientName]: { vr: "PN", Value: [{ Alphabetic: "Doe^Jane" }] },
      [TAG.PatientID]: { vr: "LO", Value: ["PID-A"] },
      [TAG.PatientBirthDate]: { vr: "DA", Value: ["19700101"] },
      [TAG.PatientSex]: { vr: "CS", Value: ["O"] },
      [TAG.StudyInstanceUID]: { vr: "UI", Value: [uid.A] },
      [TAG.StudyID]: { vr: "SH", Value: ["1"] },
      [TAG.StudyDescription]: { vr: "LO", Value: ["XR CHEST PA"] },
      [TAG.NumberOfStudyRelatedSeries]: { vr: "IS", Value: [2] },
      [TAG.NumberOfStudyRelatedInstances]: { vr: "IS", Value: [3] },
    });
    expect(study[TAG.RetrieveURL]?.vr).toBe("UR");
    expect(study[TAG.RetrieveURL]?.Value?.[0]).toMatch(new RegExp(`^http://[^/]+/dicomweb/studies/${uid.A}$`));
    expect(Object.keys(study)).toEqual([...Object.keys(study)].sort());
  });

  it("answers 200 with an empty array when nothing matches", async () => {
    const { res, body } = await search("/studies", { PatientID: "NOBODY" });
    expect(res.status).toBe(200);
    expect(body).toEqual([]);
  });

  it("treats an empty value as universal matching", async () => {
    expect(await studies({ PatientID: "" })).toEqual(studyOrder);
  });

  it("treats a value of only * as universal matching", async () => {
    expect(await studies({ PatientName: "*" })).toEqual(studyOrder);
  });

  it("matches StudyInstanceUID against a comma- or backslash-separated UID list", async () => {
    expect(await studies({ StudyInstanceUID: `${uid.B},${uid.C}` })).toEqual([uid.C, uid.B]);
    expect(await studies({ StudyInstanceUID: `${uid.A}\\${uid.D}` })).toEqual([uid.D, uid.A]);
    expect(await studies({ StudyInstanceUID: uid.A })).toEqual([uid.A]);
  });

  it("matches PatientID exactly and case-sensitively", async () => {
    expect(await studies({ PatientID: "PID-B" })).toEqual([uid.B]);
    expect(await studies({ PatientID: "pid-b" })).toEqual([]);
    expect(await studies({ PatientID: "PID" })).toEqual([]);
  });

  it("matches ? as exactly one character and * as any run", async () => {
    expect(await studies({ PatientID: "PID-?" })).toEqual(studyOrder);
    expect(await studies({ PatientID: "PID?" })).toEqual([]);
    expect(await studies({ PatientID: "P*-C" })).toEqual([uid.C]);
  });

  it("matches PatientName with a trailing wildcard case-insensitively", async () => {
    expect(await studies({ PatientName: "doe^j*" })).toEqual([uid.D, uid.A, uid.B]);
    expect(await studies({ PatientName: "DOE^JO*" })).toEqual([uid.B]);
  });

  it("matches PatientName without wildcards exactly but case-insensitively", async () => {
    expect(await studies({ PatientName: "DOE^JANE" })).toEqual([uid.D, uid.A]);
    expect(await studies({ PatientName: "Doe" })).toEqual([]);
  });

  it("takes % and _ in a value literally, not as SQL wildcards", async () => {
    expect(await studies({ AccessionNumber: "X_100%" })).toEqual([uid.C]);
    expect(await studies({ AccessionNumber: "X_1*" })).toEqual([uid.C]);
    expect(await studies({ AccessionNumber: "X?100?" })).toEqual([uid.C]);
    expect(await studies({ AccessionNumber: "ACC_A1" })).toEqual([]);
    expect(await studies({ AccessionNumber: "%*" })).toEqual([]);
  });

  it("matches AccessionNumber case-sensitively", async () => {
    expect(await studies({ AccessionNumber: "ACC-A1" })).toEqual([uid.A]);
    expect(await studies({ AccessionNumber: "acc-a1" })).toEqual([]);
  });

  it("matches a single StudyDate and StudyDate ranges, open at either end", async () => {
    expect(await studies({ StudyDate: "20240115" })).toEqual([uid.D, uid.A]);
    expect(await studies({ StudyDate: "20240101-20240131" })).toEqual([uid.D, uid.A]);
    expect(await studies({ StudyDate: "20240115-20240220" })).toEqual([uid.D, uid.A, uid.B]);
    expect(await studies({ StudyDate: "-20231231" })).toEqual([uid.C]);
    expect(await studies({ StudyDate: "20240116-" })).toEqual([uid.B]);
  });

  it("matches StudyTime ranges on HHMMSS, leading components standing for the whole hour or minute", async () => {
    expect(await studies({ StudyTime: "0800-0900" })).toEqual([uid.D, uid.B]);
    expect(await studies({ StudyTime: "10" })).toEqual([uid.A]);
    expect(await studies({ StudyTime: "2359-" })).toEqual([uid.C]);
    expect(await studies({ StudyTime: "-083000" })).toEqual([uid.B]);
    expect(await studies({ StudyTime: "235959.9" })).toEqual([uid.C]);
  });

  it("matches ModalitiesInStudy when any series of the study has one of the modalities", async () => {
    expect(await studies({ ModalitiesInStudy: "CR" })).toEqual([uid.B]);
    expect(await studies({ ModalitiesInStudy: "DX" })).toEqual([uid.C, uid.D, uid.A]);
    expect(await studies({ ModalitiesInStudy: "CR,DX" })).toEqual(studyOrder);
    expect(await studies({ ModalitiesInStudy: "MR" })).toEqual([]);
  });

  it("matches ReferringPhysicianName, StudyDescription and StudyID", async () => {
    expect(await studies({ ReferringPhysicianName: "referring^*" })).toEqual(studyOrder);
    expect(await studies({ ReferringPhysicianName: "Other*" })).toEqual([]);
    expect(await studies({ StudyDescription: "XR CHEST*" })).toEqual([uid.D, uid.A, uid.B]);
    expect(await studies({ StudyDescription: "Chest follow-up" })).toEqual([uid.C]);
    expect(await studies({ StudyID: "1" })).toEqual(studyOrder);
    expect(await studies({ StudyID: "2" })).toEqual([]);
  });

  it("combines several matching keys with AND", async () => {
    expect(await studies({ PatientName: "Doe^Jane", StudyTime: "09" })).toEqual([uid.D]);
  });

  it("accepts attributes given by 8-hex-digit tag as well as by keyword", async () => {
    expect(await studies({ "00100020": "PID-A" })).toEqual([uid.A]);
    expect(await studies({ "0020000d": uid.B })).toEqual([uid.B]);
  });
});

describe("QIDO-RS series search", () => {
  it("returns the series of one study in series number order with the attributes of Table 10.6.3-4", async () => {
    const { res, body } = await search(`/studies/${uid.A}/series`);
    expect(res.status).toBe(200);
    expect(values(body, TAG.SeriesInstanceUID)).toEqual([uid.A1, uid.A2]);
    expect(body[0]).toMatchObject({
      [TAG.Modality]: { vr: "CS", Value: ["DX"] },
      [TAG.SeriesDescription]: { vr: "LO", Value: ["DX CHEST PA"] },
      [TAG.SeriesNumber]: { vr: "IS", Value: [1] },
      [TAG.NumberOfSeriesRelatedInstances]: { vr: "IS", Value: [2] },
    });
    expect(body[0]?.[TAG.RetrieveURL]?.Value?.[0]).toMatch(new RegExp(`/dicomweb/studies/${uid.A}/series/${uid.A1}$`));
    // Study attributes are given only when the search spans studies.
    expect(body[0]?.[TAG.PatientName]).toBeUndefined();
  });

  it("includes the study attributes in a search across all series", async () => {
    const { body } = await search("/series", { Modality: "CR" });
    expect(values(body, TAG.SeriesInstanceUID)).toEqual([uid.B1]);
    expect(body[0]).toMatchObject({
      [TAG.PatientName]: { vr: "PN", Value: [{ Alphabetic: "DOE^JOHN" }] },
      [TAG.StudyInstanceUID]: { vr: "UI", Value: [uid.B] },
      [TAG.NumberOfStudyRelatedInstances]: { vr: "IS", Value: [1] },
    });
    // The series' own RetrieveURL wins over its study's.
    expect(body[0]?.[TAG.RetrieveURL]?.Value?.[0]).toMatch(new RegExp(`/series/${uid.B1}$`));
  });

  it("orders series across studies by study, then series number", async () => {
    const { body } = await search("/series");
    expect(values(body, TAG.SeriesInstanceUID)).toEqual([uid.C1, uid.D1, uid.A1, uid.A2, uid.B1]);
  });

  it("matches SeriesInstanceUID lists, SeriesNumber and SeriesDescription", async () => {
    const series = async (query: Record<string, string>) =>
      values((await search("/series", query)).body, TAG.SeriesInstanceUID);
    expect(await series({ SeriesInstanceUID: `${uid.A2},${uid.C1}` })).toEqual([uid.C1, uid.A2]);
    expect(await series({ SeriesNumber: "2" })).toEqual([uid.A2]);
    expect(await series({ SeriesDescription: "DX CHEST LAT" })).toEqual([uid.A2]);
    expect(await series({ SeriesDescription: "* AP" })).toEqual([uid.B1]);
  });

  it("matches study-level keys in a series search", async () => {
    const { body } = await search("/series", { PatientID: "PID-A" });
    expect(values(body, TAG.SeriesInstanceUID)).toEqual([uid.A1, uid.A2]);
  });

  it("answers 200 with an empty array for the series of an unknown study", async () => {
    const { res, body } = await search(`/studies/${newUid()}/series`);
    expect(res.status).toBe(200);
    expect(body).toEqual([]);
  });
});

describe("QIDO-RS instance search", () => {
  it("returns the instances of one series in instance number order with the attributes of Table 10.6.3-5", async () => {
    const { body } = await search(`/studies/${uid.A}/series/${uid.A1}/instances`);
    expect(values(body, TAG.SOPInstanceUID)).toEqual([uid.a11, uid.a12]);
    expect(body[0]).toMatchObject({
      [TAG.SOPClassUID]: { vr: "UI", Value: [DX_FOR_PRESENTATION_SOP_CLASS] },
      [TAG.InstanceNumber]: { vr: "IS", Value: [1] },
      [TAG.Rows]: { vr: "US", Value: [64] },
      [TAG.Columns]: { vr: "US", Value: [64] },
      [TAG.BitsAllocated]: { vr: "US", Value: [16] },
      [TAG.NumberOfFrames]: { vr: "IS" },
      [TAG.AvailableTransferSyntaxUID]: { vr: "UI", Value: ["1.2.840.10008.1.2.1"] },
    });
    expect(body[0]?.[TAG.RetrieveURL]?.Value?.[0]).toMatch(
      new RegExp(`/dicomweb/studies/${uid.A}/series/${uid.A1}/instances/${uid.a11}$`),
    );
    expect(body[0]?.[TAG.SeriesInstanceUID]).toBeUndefined();
    expect(body[0]?.[TAG.StudyInstanceUID]).toBeUndefined();
  });

  it("includes series but not study attributes in a search of one study's instances", async () => {
    const { body } = await search(`/studies/${uid.A}/instances`);
    expect(values(body, TAG.SOPInstanceUID)).toEqual([uid.a11, uid.a12, uid.a21]);
    expect(body[2]?.[TAG.SeriesNumber]).toEqual({ vr: "IS", Value: [2] });
    expect(body[2]?.[TAG.PatientName]).toBeUndefined();
  });

  it("includes study and series attributes in a search across all instances", async () => {
    const { body } = await search("/instances", { SOPClassUID: CR_SOP_CLASS });
    expect(values(body, TAG.SOPInstanceUID)).toEqual([uid.b11]);
    expect(body[0]).toMatchObject({
      [TAG.PatientID]: { vr: "LO", Value: ["PID-B"] },
      [TAG.Modality]: { vr: "CS", Value: ["CR"] },
      [TAG.Rows]: { vr: "US", Value: [32] },
      [TAG.Columns]: { vr: "US", Value: [48] },
    });
  });

  it("matches SOPInstanceUID lists and InstanceNumber", async () => {
    const instances = async (path: string, query: Record<string, string>) =>
      values((await search(path, query)).body, TAG.SOPInstanceUID);
    expect(await instances("/instances", { SOPInstanceUID: `${uid.d11}\\${uid.a12}` })).toEqual([uid.d11, uid.a12]);
    expect(await instances(`/studies/${uid.A}/instances`, { InstanceNumber: "2" })).toEqual([uid.a12]);
    expect(await instances(`/studies/${uid.A}/instances`, { SeriesNumber: "2", InstanceNumber: "1" })).toEqual([uid.a21]);
  });
});

describe("QIDO-RS includefield", () => {
  it("adds attributes named by keyword or tag from the stored metadata, repeated or comma-separated", async () => {
    const { body } = await search("/studies", { PatientID: "PID-A", includefield: ["BodyPartExamined,00185101", "Rows"] });
    expect(body[0]).toMatchObject({
      [TAG.BodyPartExamined]: { vr: "CS", Value: ["CHEST"] },
      [TAG.ViewPosition]: { vr: "CS", Value: ["PA"] },
      [TAG.Rows]: { vr: "US", Value: [64] },
    });
  });

  it("takes includefield attributes from the first instance of each series", async () => {
    const { body } = await search(`/studies/${uid.A}/series`, { includefield: "ViewPosition" });
    expect(values(body, TAG.ViewPosition)).toEqual(["PA", "LAT"]);
  });

  it("returns an includefield attribute that the instance lacks as empty", async () => {
    const { body } = await search("/studies", { PatientID: "PID-A", includefield: "PatientComments" });
    expect(body[0]?.["00104000"]).toEqual({ vr: "LT" });
  });

  it("returns an attribute given with an empty value as a return key", async () => {
    const { res, body } = await search("/studies", { PatientID: "PID-A", BodyPartExamined: "" });
    expect(res.headers.warning).toBeUndefined();
    expect(body[0]?.[TAG.BodyPartExamined]).toEqual({ vr: "CS", Value: ["CHEST"] });
  });

  it("with all, adds the study-level attributes of a study but not its series or instance attributes", async () => {
    const { body } = await search("/studies", { PatientID: "PID-A", includefield: "all" });
    expect(body[0]).toMatchObject({ [TAG.StudyInstanceUID]: { vr: "UI", Value: [uid.A] } });
    expect(body[0]?.[TAG.SOPInstanceUID]).toBeUndefined();
    expect(body[0]?.[TAG.Modality]).toBeUndefined();
    expect(body[0]?.[TAG.SpecificCharacterSet]).toEqual({ vr: "CS", Value: ["ISO_IR 192"] });
  });

  it("with all, adds every stored attribute of an instance", async () => {
    const { body } = await search(`/studies/${uid.A}/series/${uid.A1}/instances`, { includefield: "all" });
    expect(body[0]).toMatchObject({
      [TAG.ImagerPixelSpacing]: { vr: "DS", Value: [0.139, 0.139] },
      [TAG.PatientName]: { vr: "PN", Value: [{ Alphabetic: "Doe^Jane" }] },
      [TAG.SpecificCharacterSet]: { vr: "CS", Value: ["ISO_IR 192"] },
    });
    expect(body[0]?.["7FE00010"]).toBeUndefined();
  });

  it("answers 400 for an unknown attribute in includefield", async () => {
    const { res } = await search("/studies", { includefield: "NoSuchAttribute" });
    expect(res.status).toBe(400);
  });
});

describe("QIDO-RS paging", () => {
  it("returns limit results and a Warning header when more exist", async () => {
    const { res, body } = await search("/studies", { limit: "2" });
    expect(values(body, TAG.StudyInstanceUID)).toEqual(studyOrder.slice(0, 2));
    expect(res.headers.warning).toBe('299 trrg-gateway "There are additional results that can be requested."');
  });

  it("skips offset results, with no Warning header on the last page", async () => {
    const { res, body } = await search("/studies", { limit: "2", offset: "2" });
    expect(values(body, TAG.StudyInstanceUID)).toEqual(studyOrder.slice(2));
    expect(res.headers.warning).toBeUndefined();
  });

  it("answers 200 with an empty array for an offset past the last result", async () => {
    const { res, body } = await search("/studies", { offset: "10" });
    expect(res.status).toBe(200);
    expect(body).toEqual([]);
  });

  it.each([["limit", "0"], ["limit", "many"], ["offset", "-1"]])("answers 400 for %s=%s", async (name, value) => {
    expect((await search("/studies", { [name]: value })).res.status).toBe(400);
  });

  describe("with a server maximum", () => {
    let capped: TestApp;
    beforeAll(async () => {
      capped = await startTestApp({ TRRG_QIDO_DEFAULT_LIMIT: "2", TRRG_QIDO_MAX_LIMIT: "3" });
      const study = newUid();
      const files = [1, 2, 3, 4].map((n) => makeInstance({ studyInstanceUID: study, instanceNumber: n, rows: 8, columns: 8 }));
      expect((await storeInstances(capped, files)).status).toBe(200);
    });
    afterAll(async () => {
      await capped.close();
    });

    it("applies the default limit when none is given", async () => {
      const res = await capped.api.get("/dicomweb/instances");
      expect(res.body).toHaveLength(2);
      expect(res.headers.warning).toContain("additional results");
    });

    it("caps the limit at the server maximum and says so in a Warning header", async () => {
      const res = await capped.api.get("/dicomweb/instances").query({ limit: "10" });
      expect(res.body).toHaveLength(3);
      expect(res.headers.warning).toContain("exceeded the maximum supported by the server");
    });
  });
});

describe("QIDO-RS errors and warnings", () => {
  it("answers 400 for an unknown keyword or tag", async () => {
    for (const name of ["PatientNam", "00990099", "patientname"]) {
      const { res } = await search("/studies", { [name]: "x" });
      expect(res.status, name).toBe(400);
      expect(res.headers.warning).toMatch(/^299 trrg-gateway "unknown attribute/);
    }
  });

  it.each([
    ["StudyDate", "2024011"],
    ["StudyDate", "20240230"],
    ["StudyDate", "20240301-20240201"],
    ["StudyTime", "2500"],
    ["StudyInstanceUID", "1.2.abc"],
    ["InstanceNumber", "one"],
    ["ModalitiesInStudy", "D*"],
  ])("answers 400 for %s=%s", async (name, value) => {
    const path = name === "InstanceNumber" ? "/instances" : "/studies";
    const { res } = await search(path, { [name]: value });
    expect(res.status).toBe(400);
    expect(res.body).toHaveProperty("00000902");
  });

  it("answers 400 for an invalid UID in the path", async () => {
    expect((await search("/studies/1.2.x/series")).res.status).toBe(400);
    expect((await search(`/studies/${uid.A}/series/01.2/instances`)).res.status).toBe(400);
  });

  it("answers 400 when an attribute is given twice", async () => {
    const res = await t.api.get("/dicomweb/studies?PatientID=PID-A&00100020=PID-B");
    expect(res.status).toBe(400);
  });

  it("ignores a valid attribute it cannot match on, with a Warning header", async () => {
    const { res, body } = await search("/studies", { PatientAge: "030Y" });
    expect(res.status).toBe(200);
    expect(body).toHaveLength(4);
    expect(res.headers.warning).toBe('299 trrg-gateway "matching on PatientAge is not supported; it was ignored"');
  });

  it("ignores a key below the searched level, with a Warning header", async () => {
    const { res, body } = await search("/studies", { SOPClassUID: CR_SOP_CLASS });
    expect(body).toHaveLength(4);
    expect(res.headers.warning).toContain("SOPClassUID is not a matching key of a study search");
  });

  it("says that fuzzymatching is not supported", async () => {
    const { res, body } = await search("/studies", { PatientName: "doe^jane", fuzzymatching: "true" });
    expect(values(body, TAG.StudyInstanceUID)).toEqual([uid.D, uid.A]);
    expect(res.headers.warning).toBe(
      '299 trrg-gateway "The fuzzymatching parameter is not supported. Only literal matching has been performed."',
    );
  });

  it("answers 406 when the Accept header rules out DICOM JSON", async () => {
    const res = await t.api
      .get("/dicomweb/studies")
      .set("Accept", 'multipart/related; type="application/dicom+xml"');
    expect(res.status).toBe(406);
  });

  it("accepts application/json", async () => {
    const res = await t.api.get("/dicomweb/studies").set("Accept", "application/json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
  });
});
