// Accept header negotiation (RFC 9110 §12.5.1) over the media types a route can produce.
interface AcceptRange {
  type: string;
  subtype: string;
  params: Record<string, string>;
  quality: number;
}

function parseAccept(header: string): AcceptRange[] {
  return header
    .split(",")
    .map((range) => range.trim())
    .filter(Boolean)
    .map((range) => {
      const [mediaRange = "", ...paramList] = range.split(";").map((p) => p.trim());
      const [type = "", subtype = ""] = mediaRange.toLowerCase().split("/");
      const params: Record<string, string> = {};
      let quality = 1;
      for (const param of paramList) {
        const eq = param.indexOf("=");
        if (eq < 0) continue;
        const name = param.slice(0, eq).trim().toLowerCase();
        const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
        if (name === "q") quality = Number(value);
        else params[name] = value;
      }
      return { type, subtype, params, quality: Number.isFinite(quality) ? quality : 0 };
    });
}

export interface Offer {
  /** e.g. "application/dicom+json" */
  mediaType: string;
  /** Parameters that must match when the client names them, e.g. { type: "application/dicom" }. */
  params?: Record<string, string>;
}

/**
 * Picks the first offer the client accepts with the highest quality; a missing Accept header accepts the
 * first offer. Returns undefined when nothing offered is acceptable (→ 406).
 */
export function negotiate<T extends Offer>(acceptHeader: string | undefined, offers: readonly T[]): T | undefined {
  if (!acceptHeader?.trim()) return offers[0];
  let best: { offer: T; quality: number } | undefined;
  for (const range of parseAccept(acceptHeader)) {
    if (range.quality <= 0) continue;
    for (const offer of offers) {
      const [type, subtype] = offer.mediaType.split("/");
      const typeMatches = range.type === "*" || range.type === type;
      const subtypeMatches = range.subtype === "*" || range.subtype === subtype;
      const paramsMatch = Object.entries(range.params).every(([name, value]) => {
        const offered = offer.params?.[name];
        return offered === undefined ? false : offered.toLowerCase() === value.toLowerCase() || value === "*";
      });
      if (typeMatches && subtypeMatches && paramsMatch && (!best || range.quality > best.quality)) {
        best = { offer, quality: range.quality };
      }
    }
  }
  return best?.offer;
}

/** The parameters a client put on the chosen media range, e.g. transfer-syntax for WADO-RS. */
export function acceptedParameters(acceptHeader: string | undefined, mediaType: string): Record<string, string>[] {
  if (!acceptHeader) return [];
  const [type, subtype] = mediaType.split("/");
  return parseAccept(acceptHeader)
    .filter((range) => range.type === type && range.subtype === subtype && range.quality > 0)
    .map((range) => range.params);
}
