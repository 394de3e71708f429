// Resource URLs of PS3.18 §10.4 (Studies Service), used as RetrieveURL (0008,1190) values.
export function studyURL(base: string, study: string): string {
  return `${base}/studies/${study}`;
}

export function seriesURL(base: string, study: string, series: string): string {
  return `${studyURL(base, study)}/series/${series}`;
}

export function instanceURL(base: string, study: string, series: string, instance: string): string {
  return `${seriesURL(base, study, series)}/instances/${instance}`;
}
