// Findings labeler throughput: reports per second on one core (one thread, no workers), over synthetic reports
// assembled from typical findings and impression sentences (seven sentences, about 320 characters each). Target:
// at least 2,000 reports per second (issue 4). No peer runs beside it: the CheXpert labeler (Python, NegBio and
// a dependency parser) is not installed here.
//
//   npx tsx bench/labeler.ts            (BENCH_QUICK=1 for a short run)
import { labelReport } from "../src/findings/labeler.js";

const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = QUICK ? 1 : 5;

const FINDINGS = [
  "PA and lateral views of the chest were obtained.",
  "The lungs are clear without focal consolidation, pleural effusion or pneumothorax.",
  "Heart size is normal.",
  "The cardiomediastinal silhouette is within normal limits.",
  "There is mild cardiomegaly.",
  "Small left pleural effusion with adjacent atelectasis.",
  "Bibasilar opacities, likely atelectasis, although pneumonia cannot be excluded.",
  "Endotracheal tube terminates 4 cm above the carina and a nasogastric tube courses into the stomach.",
  "Mild pulmonary vascular congestion without frank edema.",
  "Right upper lobe nodule measuring 1.5 cm is unchanged.",
  "No acute osseous abnormality; healed left rib fractures.",
  "Stable XXXX opacity in the right lower lobe.",
];
const IMPRESSIONS = [
  "IMPRESSION: No acute cardiopulmonary process.",
  "IMPRESSION: 1. Small left effusion. 2. No pneumothorax.",
  "IMPRESSION: Right lower lobe opacity may represent atelectasis versus pneumonia.",
  "IMPRESSION: Findings consistent with CHF.",
];

function makeReports(n: number): string[] {
  let seed = 42;
  const next = (k: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % k;
  };
  const reports: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts = ["INDICATION: Cough, evaluate for pneumonia.", "FINDINGS:"];
    for (let j = 0; j < 5; j++) parts.push(FINDINGS[next(FINDINGS.length)] ?? "");
    parts.push(IMPRESSIONS[next(IMPRESSIONS.length)] ?? "");
    reports.push(parts.join(" "));
  }
  return reports;
}

const reports = makeReports(5_000);
const meanChars = reports.reduce((n, r) => n + r.length, 0) / reports.length;

// Warm up the JIT, then time whole passes until SECONDS have gone by.
for (const r of reports.slice(0, 1_000)) labelReport(r);
let done = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < SECONDS) {
  for (const r of reports) labelReport(r);
  done += reports.length;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
const perSecond = done / elapsed;
console.log(`labelReport: ${done} reports (mean ${meanChars.toFixed(0)} chars) in ${elapsed.toFixed(2)} s on one core`);
console.log(`throughput: ${Math.round(perSecond)} reports/s (target ≥ 2000) ${perSecond >= 2000 ? "PASS" : "FAIL"}`);
