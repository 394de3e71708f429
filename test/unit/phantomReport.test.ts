import { beforeAll, describe, expect, it } from "vitest";
import { labelReport, labelStatuses, type ReportLabels } from "../../src/findings/labeler.js";
import { sampleCase, type PhantomCase, type PhantomFinding } from "../../src/phantom/groundTruth.js";
import { Random } from "../../src/phantom/random.js";
import { writeReport, type ReferenceReport } from "../../src/phantom/reportGrammar.js";

const SEEDS = 5000;

interface Sample {
  seed: number;
  c: PhantomCase;
  r: ReferenceReport;
  labeled: ReportLabels;
}

function report(seed: number): Sample {
  const c = sampleCase(seed);
  const r = writeReport(c, new Random(seed).fork("report"));
  return { seed, c, r, labeled: labelReport(r.text) };
}

const isNormal = (c: PhantomCase): boolean => c.findings.every((f) => f.observation === "Support Devices");
const words = (s: string): number => s.split(/\s+/).filter(Boolean).length;

/** The first sentence that states the finding, with sizes, sides, numbers and grades blanked: its wording. */
function wording(s: Sample, f: PhantomFinding): string {
  return (s.labeled[f.observation].evidence?.sentence ?? "")
    .toLowerCase()
    .replace(/\d+(?:\.\d+)?(?:st|nd|rd|th)?/g, "#")
    .replace(/\b(?:left|right|bilateral|small|tiny|moderate|large|mild|minimal|severe|marked|mildly|moderately|markedly|severely)\b/g, "_");
}

describe("writeReport", () => {
  const samples: Sample[] = [];
  beforeAll(() => {
    for (let seed = 0; seed < SEEDS; seed++) samples.push(report(seed));
  });

  it("gives the labels the labeler reads from its own text, for every seed", () => {
    const mismatches = samples.filter((s) => JSON.stringify(labelStatuses(s.r.text)) !== JSON.stringify(s.r.labels));
    expect(mismatches.map((s) => ({ seed: s.seed, text: s.r.text }))).toEqual([]);
    for (const s of samples.slice(0, 50)) expect(labelStatuses(s.r.text)).toEqual(s.r.labels);
  });

  it("states every drawn finding as present, never hedged", () => {
    for (const { c, r, labeled } of samples) {
      for (const f of c.findings) {
        expect(r.labels[f.observation]).toBe("present");
        expect(labeled[f.observation].status).toBe("present");
      }
    }
  });

  it("gives each drawn finding the side and the grade or size of the case, as the labeler extracts them", () => {
    const wrong: string[] = [];
    for (const s of samples) {
      for (const f of s.c.findings) {
        const label = s.labeled[f.observation];
        if ("laterality" in f && label.laterality !== f.laterality) wrong.push(`${s.seed} ${f.observation} side ${label.laterality}`);
        if ("severity" in f && label.severity !== f.severity) wrong.push(`${s.seed} ${f.observation} grade ${label.severity}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("gives No Finding present on normal studies (support devices allowed) and absent otherwise", () => {
    for (const { c, r } of samples) expect(r.labels["No Finding"]).toBe(isNormal(c) ? "present" : "absent");
  });

  it("mentions pneumonia only as a hedge on a consolidation, or denies it", () => {
    for (const { c, r } of samples) {
      const hasConsolidation = c.findings.some((f) => f.observation === "Consolidation");
      if (r.labels.Pneumonia === "uncertain") expect(hasConsolidation).toBe(true);
      expect(r.labels.Pneumonia).not.toBe("present");
      if (hasConsolidation) expect(r.labels.Pneumonia).not.toBe("absent");
    }
    expect(samples.some((s) => s.r.labels.Pneumonia === "uncertain")).toBe(true);
  });

  it("denies only what is not drawn, and denies something in most reports", () => {
    let withNegatives = 0;
    for (const { c, r } of samples) {
      for (const f of c.findings) expect(r.labels[f.observation]).not.toBe("absent");
      if (Object.values(r.labels).includes("absent")) withNegatives++;
    }
    expect(withNegatives / SEEDS).toBeGreaterThan(0.8);
  });

  it("writes a FINDINGS and an IMPRESSION section of short sentences ending with a period", () => {
    for (const { r } of samples) {
      expect(r.text).toBe(`FINDINGS: ${r.findings}\n\nIMPRESSION: ${r.impression}`);
      for (const section of [r.findings, r.impression]) {
        expect(section).toMatch(/^[A-Z1].*\.$/);
        expect(section).not.toMatch(/[:;]|\s{2}|\.\./);
      }
      expect(words(r.findings)).toBeGreaterThanOrEqual(5);
      expect(words(r.findings)).toBeLessThanOrEqual(90);
      expect(words(r.impression)).toBeGreaterThanOrEqual(2);
      expect(words(r.impression)).toBeLessThanOrEqual(35);
    }
  });

  it("numbers some impressions and not others", () => {
    const numbered = samples.filter((s) => s.r.impression.startsWith("1. "));
    expect(numbered.length).toBeGreaterThan(SEEDS * 0.05);
    for (const s of numbered) expect(s.r.impression).toContain(" 2. ");
  });

  it("names the view it was taken with when it has a technique sentence", () => {
    for (const { c, r } of samples) {
      const view = /\b(PA|AP)( and lateral)?\b/.exec(r.findings);
      if (!view) continue;
      expect(view[1]).toBe(c.acquisition.viewPosition);
      expect(Boolean(view[2])).toBe(c.acquisition.withLateral);
    }
  });

  it("names every support device", () => {
    for (const { c, r } of samples) {
      const devices = c.findings.find((f) => f.observation === "Support Devices");
      for (const d of devices?.devices ?? []) expect(r.findings.toLowerCase()).toContain(d);
    }
  });

  it("varies normal reports: at least 100 distinct texts over 1000 normal studies", () => {
    const normal = samples.filter((s) => s.c.findings.length === 0).slice(0, 1000);
    expect(normal.length).toBe(1000);
    expect(new Set(normal.map((s) => s.r.text)).size).toBeGreaterThanOrEqual(100);
    expect(new Set(normal.map((s) => s.r.impression)).size).toBeGreaterThanOrEqual(6);
  });

  it("varies the wording of every drawn finding: at least 3 sentence forms each", () => {
    const forms = new Map<string, Set<string>>();
    for (const s of samples) {
      for (const f of s.c.findings) {
        const set = forms.get(f.observation) ?? new Set<string>();
        set.add(wording(s, f));
        forms.set(f.observation, set);
      }
    }
    expect(forms.size).toBe(12);
    for (const [observation, set] of forms) expect({ observation, forms: set.size >= 3 }).toEqual({ observation, forms: true });
  });

  it("keeps the vocabulary small enough for a tiny model", () => {
    const vocabulary = new Set(samples.flatMap((s) => s.r.text.toLowerCase().match(/[a-z][a-z-]*/g) ?? []));
    expect(vocabulary.size).toBeLessThan(400);
  });

  it("is deterministic given the case and the random stream, and varies with the stream", () => {
    for (const seed of [0, 1, 17, 4242]) {
      const c = sampleCase(seed);
      expect(writeReport(c, new Random(seed).fork("report"))).toEqual(writeReport(c, new Random(seed).fork("report")));
    }
    const c = sampleCase(3);
    const texts = new Set(Array.from({ length: 20 }, (_, i) => writeReport(c, new Random(i)).text));
    expect(texts.size).toBeGreaterThan(10);
  });
});
