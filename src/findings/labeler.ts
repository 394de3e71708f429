// Chest X-ray report labeler: report text → one label per CheXpert observation, with the sentence that supports
// it. The approach is the CheXpert labeler's (mention extraction, then negation / uncertainty classification,
// then aggregation) with NegBio-style scope; without a dependency parser, a cue's scope is approximated by word
// order inside a clause (see phrases.ts for the sources of every list).
import { MENTIONED_OBSERVATIONS, OBSERVATIONS, type MentionedObservation, type ObservationName } from "./observations.js";
import {
  ANATOMY_ENLARGED,
  ANATOMY_NORMAL,
  ANATOMY_STABLE,
  ANATOMY_UNCERTAIN,
  CLAUSE_BOUNDARIES,
  LATERALITY,
  NOT_A_FINDING,
  PHRASES,
  POST_NEGATION,
  POST_NEGATION_UNCERTAINTY,
  POST_UNCERTAINTY,
  PRE_NEGATION,
  PRE_NEGATION_UNCERTAINTY,
  PRE_UNCERTAINTY,
  SCOPE_TERMINATORS,
  SEVERITY,
  SUGGESTIVE,
} from "./phrases.js";

export type LabelStatus = "present" | "absent" | "uncertain";
export type Laterality = "left" | "right" | "bilateral";
export type Severity = "mild" | "moderate" | "severe" | "small" | "large" | "trace";

export interface Evidence {
  /** The sentence as written in the input. */
  sentence: string;
  /** Offsets of the sentence in the input text (end exclusive). */
  start: number;
  end: number;
}

export interface ObservationLabel {
  /** null: not mentioned. */
  status: LabelStatus | null;
  evidence?: Evidence;
  laterality?: Laterality;
  severity?: Severity;
}

export type ReportLabels = Record<ObservationName, ObservationLabel>;

// ---- compiled once ----

/** Word boundaries where the phrase starts or ends with a word (or group); longest alternatives first. */
function compile(phrases: readonly string[]): RegExp {
  const sorted = [...phrases].sort((a, b) => b.length - a.length);
  const parts = sorted.map((p) => `${/^[\w(]/.test(p) ? "\\b" : ""}(?:${p})${/[\w)?]$/.test(p) ? "\\b" : ""}`);
  return new RegExp(parts.join("|"), "g");
}

type CueKind =
  | "pnu" // pre-negation uncertainty
  | "neg"
  | "unc"
  | "sugg"
  | "nf" // not a finding
  | "postneg"
  | "postpnu"
  | "postunc"
  | "norm"
  | "enl"
  | "anunc"
  | "anstable"
  | "term"
  | "or";

const CUE_PATTERNS: readonly (readonly [CueKind, RegExp])[] = [
  ["pnu", compile(PRE_NEGATION_UNCERTAINTY)],
  ["neg", compile(PRE_NEGATION)],
  ["unc", compile(PRE_UNCERTAINTY)],
  ["sugg", compile(SUGGESTIVE)],
  ["nf", compile(NOT_A_FINDING)],
  ["postneg", compile(POST_NEGATION)],
  ["postpnu", compile(POST_NEGATION_UNCERTAINTY)],
  ["postunc", compile(POST_UNCERTAINTY)],
  ["norm", compile(ANATOMY_NORMAL)],
  ["enl", compile(ANATOMY_ENLARGED)],
  ["anunc", compile(ANATOMY_UNCERTAIN)],
  ["anstable", compile(ANATOMY_STABLE)],
  ["term", compile(SCOPE_TERMINATORS)],
  ["or", compile(["or", "and/or", "versus", "vs"])],
];
const PRE_KINDS: ReadonlySet<CueKind> = new Set(["pnu", "neg", "unc", "sugg", "nf"]);
const POST_KINDS: ReadonlySet<CueKind> = new Set(["postneg", "postpnu", "postunc"]);
const STATE_KINDS: ReadonlySet<CueKind> = new Set(["norm", "enl", "anunc", "anstable"]);

const BOUNDARY = compile(CLAUSE_BOUNDARIES);

type MentionKind = "mention" | "anatomy" | "hedged";
interface ObservationMatchers {
  observation: MentionedObservation;
  kinds: readonly (readonly [MentionKind, RegExp])[];
  exclude: RegExp | undefined;
}
const MATCHERS: readonly ObservationMatchers[] = MENTIONED_OBSERVATIONS.map((observation) => {
  const p = PHRASES[observation];
  const kinds: [MentionKind, RegExp][] = [["mention", compile(p.mention)]];
  if (p.hedged) kinds.push(["hedged", compile(p.hedged)]);
  if (p.anatomy) kinds.push(["anatomy", compile(p.anatomy)]);
  return { observation, kinds, exclude: p.exclude ? compile(p.exclude) : undefined };
});

const LATERALITY_RE = compile([LATERALITY.bilateral, LATERALITY.left, LATERALITY.right]);
const SEVERITY_RE = compile(SEVERITY.map(([p]) => p));
const SEVERITY_BY_WORD = new Map<string, Severity>();
for (const [words, severity] of SEVERITY) for (const w of words.split("|")) SEVERITY_BY_WORD.set(w, severity);

// Report sections: indication, history, comparison and technique describe the request, not the image.
const SECTION_HEADER =
  /(?<=^|[\s.])(indications?|clinical (?:history|indication|information|question|data|notes?)|history|reason for (?:exam(?:ination)?|study|request|referral)|comparisons?|technique|exam(?:ination)?|procedure|findings|impressions?|conclusions?|recommendations?|notification)\s*:/g;
const NON_FINDING_SECTION = /^(?:indication|clinical|history|reason|comparison|technique|exam|procedure|notification)/;
// Sentence ends (not the period of "vs."); numbered impressions ("1. ... 2. ...") split too.
const SENTENCE_BREAK = /(?<!\b(?:vs|e\.g|i\.e|dr|approx|cf))\.(?=\s|$)|[!?](?=\s|$)|\n[ \t]*\n|(?<=^|\s)\d{1,2}[.)](?=\s)/g;
const HAS_LETTER = /[a-z]/;
const WHITESPACE = /\s/;
const LIST_SEPARATOR = /,| and /;
const NEG_ONLY: ReadonlySet<CueKind> = new Set(["neg"]);
const MAX_CUE_GAP = 80;
const OR_GAP = 30;
const WINDOW = 40;

// ---- per call ----

interface Span {
  start: number;
  end: number;
}
interface Cue extends Span {
  kind: CueKind;
}
interface Mention extends Span {
  observation: MentionedObservation;
  kind: MentionKind;
}

/** Lower case without changing offsets (a few characters grow when lower-cased; those stay as they are). */
function lowerSameLength(text: string): string {
  const lower = text.toLowerCase();
  if (lower.length === text.length) return lower;
  let out = "";
  for (const ch of text) {
    const l = ch.toLowerCase();
    out += l.length === ch.length ? l : ch;
  }
  return out;
}

/** The parts of the report that describe the image: everything outside indication/history/comparison sections. */
function findingRanges(lower: string): Span[] {
  const ranges: Span[] = [];
  let start = 0;
  let keep = true;
  SECTION_HEADER.lastIndex = 0;
  for (let m = SECTION_HEADER.exec(lower); m; m = SECTION_HEADER.exec(lower)) {
    if (keep && m.index > start) ranges.push({ start, end: m.index });
    keep = !NON_FINDING_SECTION.test(m[1] ?? "");
    start = m.index + m[0].length;
  }
  if (keep && start < lower.length) ranges.push({ start, end: lower.length });
  return ranges;
}

function splitSentences(lower: string, range: Span, out: Span[]): void {
  let start = range.start;
  const push = (end: number): void => {
    let s = start;
    let e = end;
    while (s < e && WHITESPACE.test(lower[s] ?? "")) s++;
    while (e > s && WHITESPACE.test(lower[e - 1] ?? "")) e--;
    if (e > s && HAS_LETTER.test(lower.slice(s, e))) out.push({ start: s, end: e });
  };
  SENTENCE_BREAK.lastIndex = range.start;
  for (let m = SENTENCE_BREAK.exec(lower); m && m.index < range.end; m = SENTENCE_BREAK.exec(lower)) {
    const isPeriod = m[0].length === 1;
    push(isPeriod ? m.index + 1 : m.index);
    start = m.index + m[0].length;
  }
  push(range.end);
}

function scan(re: RegExp, text: string, fn: (start: number, end: number, match: string) => void): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    fn(m.index, m.index + m[0].length, m[0]);
  }
}

const overlaps = (a: Span, b: Span): boolean => a.start < b.end && b.start < a.end;

function findCues(s: string): Cue[] {
  const all: Cue[] = [];
  for (const [kind, re] of CUE_PATTERNS) scan(re, s, (start, end) => all.push({ kind, start, end }));
  // A cue inside a longer one is part of it: "not" in "is not seen", "no" in "no new", "enlarged" in "not enlarged".
  const cues = all.filter(
    (c) => !all.some((o) => o !== c && o.start <= c.start && o.end >= c.end && o.end - o.start > c.end - c.start),
  );
  return cues.sort((a, b) => a.start - b.start);
}

function findMentions(s: string): Mention[] {
  const mentions: Mention[] = [];
  const excluded: Span[] = [];
  for (const { observation, kinds, exclude } of MATCHERS) {
    excluded.length = 0;
    if (exclude) scan(exclude, s, (start, end) => excluded.push({ start, end }));
    const own: Mention[] = [];
    for (const [kind, re] of kinds) {
      scan(re, s, (start, end) => {
        const m: Mention = { observation, kind, start, end };
        if (excluded.some((x) => overlaps(x, m)) || own.some((o) => overlaps(o, m))) return;
        own.push(m);
      });
    }
    mentions.push(...own);
  }
  return mentions.sort((a, b) => a.start - b.start);
}

function clauseOf(boundaries: readonly Span[], pos: number, length: number): Span {
  let start = 0;
  let end = length;
  for (const b of boundaries) {
    if (b.end <= pos) start = b.end;
    else if (b.start >= pos) {
      end = b.start;
      break;
    }
  }
  return { start, end };
}

const hasCueBetween = (cues: readonly Cue[], kind: CueKind, from: number, to: number): boolean =>
  cues.some((c) => c.kind === kind && c.start >= from && c.end <= to);

const hasMentionBetween = (mentions: readonly Mention[], from: number, to: number, kinds: ReadonlySet<MentionKind>): boolean =>
  mentions.some((m) => kinds.has(m.kind) && m.start >= from && m.end <= to);

const FINDING_KINDS: ReadonlySet<MentionKind> = new Set(["mention", "hedged"]);

/** The nearest cue of the given kinds before the mention in its clause that no verb phrase separates from it. */
function cueBefore(cues: readonly Cue[], kinds: ReadonlySet<CueKind>, clause: Span, m: Span): Cue | undefined {
  let found: Cue | undefined;
  for (const c of cues) {
    if (c.end > m.start) break;
    if (c.start >= clause.start && kinds.has(c.kind)) found = c;
  }
  if (!found || m.start - found.end > MAX_CUE_GAP || hasCueBetween(cues, "term", found.end, m.start)) return undefined;
  return found;
}

/** The first cue of the given kinds after the mention in its clause, with no verb phrase in between. */
function cueAfter(cues: readonly Cue[], kinds: ReadonlySet<CueKind>, clause: Span, m: Span): Cue | undefined {
  const found = cues.find((c) => c.start >= m.end && c.end <= clause.end && kinds.has(c.kind));
  if (!found || found.start - m.end > MAX_CUE_GAP || hasCueBetween(cues, "term", m.end, found.start)) return undefined;
  return found;
}

function classifyFinding(cues: readonly Cue[], mentions: readonly Mention[], clause: Span, m: Mention): LabelStatus | null {
  const pre = cueBefore(cues, PRE_KINDS, clause, m);
  const post = cueAfter(cues, POST_KINDS, clause, m);
  if (pre?.kind === "nf") return null;
  if (pre?.kind === "pnu" || post?.kind === "postpnu") return "uncertain";
  if (post?.kind === "postneg" || pre?.kind === "neg") return "absent";
  if (pre?.kind === "sugg") {
    // "no focal opacity to suggest pneumonia": the negation reaches through the suggestion.
    const negated = cues.some((c) => c.kind === "neg" && c.start >= clause.start && c.end <= pre.start);
    return negated ? "absent" : "uncertain";
  }
  if (pre?.kind === "unc" || post?.kind === "postunc") return "uncertain";
  // "atelectasis or pneumonia", "edema versus infection" (CheXpert: conj:or, conj:versus).
  const nearOr = cues.some(
    (c) =>
      c.kind === "or" &&
      c.start >= clause.start &&
      c.end <= clause.end &&
      ((c.end <= m.start && m.start - c.end <= OR_GAP && !hasCueBetween(cues, "term", c.end, m.start) &&
        !hasMentionBetween(mentions, c.end, m.start, FINDING_KINDS)) ||
        (c.start >= m.end && c.start - m.end <= OR_GAP && !hasCueBetween(cues, "term", m.end, c.start) &&
          !hasMentionBetween(mentions, m.end, c.start, FINDING_KINDS))),
  );
  if (nearOr) return "uncertain";
  return m.kind === "hedged" ? "uncertain" : "present";
}

/** Anatomy ("heart size") is labelled only by what the sentence says of it: enlarged, normal, borderline, stable. */
function classifyAnatomy(s: string, cues: readonly Cue[], mentions: readonly Mention[], clause: Span, m: Mention): LabelStatus | null {
  // A state after the structure ("the heart is enlarged") belongs to it only up to the next list separator:
  // in "normal cardiomediastinal silhouette, large left effusion", "large" describes the effusion.
  let state = cues.find(
    (c) =>
      STATE_KINDS.has(c.kind) &&
      c.start >= m.end &&
      c.end <= clause.end &&
      c.start - m.end <= WINDOW &&
      !/[,;]/.test(s.slice(m.end, c.start)) &&
      !hasMentionBetween(mentions, m.end, c.start, FINDING_KINDS),
  );
  state ??= cueBefore(cues, STATE_KINDS, clause, m);
  if (!state) return null;
  if (state.kind === "norm") return "absent";
  if (state.kind === "anunc") return "uncertain";
  if (state.kind === "anstable") return null;
  // Enlarged: hedged when an uncertainty cue governs it ("heart size may be enlarged").
  const from = Math.min(state.start, m.start);
  const hedged = cues.some(
    (c) => (c.kind === "unc" || c.kind === "sugg") && c.start >= clause.start && c.end <= Math.max(state.start, m.start) && c.start >= from - MAX_CUE_GAP,
  );
  const negated = cueBefore(cues, NEG_ONLY, clause, { start: state.start, end: state.end });
  if (negated && state.start < m.start) return "absent";
  return hedged ? "uncertain" : "present";
}

function describe(s: string, mentions: readonly Mention[], clause: Span, m: Mention): { laterality?: Laterality; severity?: Severity } {
  let prevEnd = clause.start;
  let nextStart = clause.end;
  for (const o of mentions) {
    if (o.observation === m.observation) continue;
    if (o.end <= m.start) prevEnd = Math.max(prevEnd, o.end);
    else if (o.start >= m.end) nextStart = Math.min(nextStart, o.start);
  }
  const pre: Span = { start: Math.max(prevEnd, m.start - WINDOW), end: m.start };
  let postEnd = Math.min(nextStart, m.end + WINDOW);
  const sep = s.slice(m.end, postEnd).search(LIST_SEPARATOR);
  if (sep >= 0) postEnd = m.end + sep;
  const post: Span = { start: m.end, end: postEnd };
  const out: { laterality?: Laterality; severity?: Severity } = {};
  for (const window of [pre, post]) {
    const sides = new Set<string>();
    scan(LATERALITY_RE, s.slice(window.start, window.end), (_a, _b, w) => {
      sides.add(LATERALITY.left === w ? "left" : LATERALITY.right === w ? "right" : "bilateral");
    });
    if (sides.size > 0 && !out.laterality) out.laterality = sides.size > 1 || sides.has("bilateral") ? "bilateral" : sides.has("left") ? "left" : "right";
    let severity: Severity | undefined;
    scan(SEVERITY_RE, s.slice(window.start, window.end), (_a, _b, w) => {
      // Before the mention the nearest word wins ("small to moderate effusion" → moderate); after it, the first.
      if (window === pre || !severity) severity = SEVERITY_BY_WORD.get(w);
    });
    if (severity && !out.severity) out.severity = severity;
  }
  return out;
}

const RANK: Record<LabelStatus, number> = { absent: 1, uncertain: 2, present: 3 };

/** Labels one chest X-ray report (findings and/or impression; indication and history are ignored). */
export function labelReport(text: string): ReportLabels {
  const labels = {} as ReportLabels;
  for (const o of OBSERVATIONS) labels[o] = { status: null };
  const lower = lowerSameLength(text);
  const sentences: Span[] = [];
  for (const range of findingRanges(lower)) splitSentences(lower, range, sentences);

  for (const sentence of sentences) {
    const s = lower.slice(sentence.start, sentence.end);
    const mentions = findMentions(s);
    if (mentions.length === 0) continue;
    const cues = findCues(s);
    const boundaries: Span[] = [];
    scan(BOUNDARY, s, (start, end) => boundaries.push({ start, end }));
    for (const m of mentions) {
      const clause = clauseOf(boundaries, m.start, s.length);
      const status = m.kind === "anatomy" ? classifyAnatomy(s, cues, mentions, clause, m) : classifyFinding(cues, mentions, clause, m);
      if (!status) continue;
      const label = labels[m.observation];
      if (label.status && RANK[label.status] >= RANK[status]) continue;
      const { laterality, severity } = describe(s, mentions, clause, m);
      const next: ObservationLabel = {
        status,
        evidence: { sentence: text.slice(sentence.start, sentence.end), start: sentence.start, end: sentence.end },
      };
      if (laterality) next.laterality = laterality;
      if (severity) next.severity = severity;
      labels[m.observation] = next;
    }
  }

  // CheXpert: No Finding is positive only when no pathology (Support Devices aside) is positive or uncertain.
  if (sentences.length > 0) {
    const pathology = MENTIONED_OBSERVATIONS.some(
      (o) => o !== "Support Devices" && (labels[o].status === "present" || labels[o].status === "uncertain"),
    );
    labels["No Finding"] = { status: pathology ? "absent" : "present" };
  }
  return labels;
}

/** Just the statuses, keyed by observation (the `--jsonl` output shape). */
export function labelStatuses(text: string): Record<ObservationName, LabelStatus | null> {
  const labels = labelReport(text);
  const out = {} as Record<ObservationName, LabelStatus | null>;
  for (const o of OBSERVATIONS) out[o] = labels[o].status;
  return out;
}
