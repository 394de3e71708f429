// One error type for the DICOMweb routes: an HTTP status and a message for the Warning header and ErrorComment.
export class DicomwebError extends Error {
  constructor(
    readonly status: 400 | 404 | 406 | 409 | 413 | 415 | 500 | 503,
    message: string,
  ) {
    super(message);
    this.name = "DicomwebError";
  }
}

export const badRequest = (message: string) => new DicomwebError(400, message);
export const notFound = (message: string) => new DicomwebError(404, message);
export const notAcceptable = (message: string) => new DicomwebError(406, message);
export const payloadTooLarge = (message: string) => new DicomwebError(413, message);
export const unsupportedMediaType = (message: string) => new DicomwebError(415, message);
