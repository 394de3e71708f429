// Minimal ambient typings for the parts of dcmjs (no upstream types) used by this project.
declare module 'dcmjs' {
  /** One data element in dcmjs' "denaturalized" (DICOM JSON-like) form, keyed by tag "GGGGEEEE". */
  export interface DicomElement {
    vr: string;
    Value?: unknown[];
    InlineBinary?: string;
    BulkDataURI?: string;
  }

  /** Dataset keyed by unpunctuated upper-case tag, e.g. "00100010". */
  export type DicomDataset = Record<string, DicomElement>;

  /** Dataset keyed by DICOM keyword, e.g. { PatientName: ..., _vrMap: { PixelData: 'OW' } }. */
  export type NaturalizedDataset = Record<string, unknown>;

  export interface DictionaryEntry {
    tag: string;
    vr: string;
    name: string;
  }

  export interface ReadOptions {
    untilTag?: string;
    includeUntilTagValue?: boolean;
    ignoreErrors?: boolean;
  }

  export namespace data {
    class DicomDict {
      constructor(meta: DicomDataset);
      meta: DicomDataset;
      dict: DicomDataset;
      write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
    }

    class DicomMessage {
      static readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
    }

    class DicomMetaDictionary {
      static naturalizeDataset(dataset: DicomDataset): NaturalizedDataset;
      static denaturalizeDataset(
        dataset: NaturalizedDataset,
        nameMap?: Record<string, DictionaryEntry>,
      ): DicomDataset;
      static uid(): string;
      static nameMap: Record<string, DictionaryEntry>;
      static dictionary: Record<string, DictionaryEntry>;
      static punctuateTag(rawTag: string): string;
      static unpunctuateTag(tag: string): string;
    }
  }

  /** dcmjs' loglevel logger; it writes straight to the console. */
  export const log: { setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void };

  const dcmjs: { data: typeof data; log: typeof log };
  export default dcmjs;
}
