// Transfer syntaxes of PS3.5 §10 / PS3.6 Table A-1 that STOW-RS accepts for storage. Storing does not decode
// pixels, so every standard image transfer syntax a modality or PACS may send is accepted; anything else is
// answered with 0xC122 (Referenced Transfer Syntax not supported).
export interface TransferSyntax {
  uid: string;
  name: string;
  encapsulated: boolean;
}

const TRANSFER_SYNTAXES: readonly TransferSyntax[] = [
  { uid: "1.2.840.10008.1.2", name: "Implicit VR Little Endian", encapsulated: false },
  { uid: "1.2.840.10008.1.2.1", name: "Explicit VR Little Endian", encapsulated: false },
  { uid: "1.2.840.10008.1.2.1.99", name: "Deflated Explicit VR Little Endian", encapsulated: false },
  { uid: "1.2.840.10008.1.2.2", name: "Explicit VR Big Endian (retired)", encapsulated: false },
  { uid: "1.2.840.10008.1.2.4.50", name: "JPEG Baseline (Process 1)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.51", name: "JPEG Extended (Process 2 & 4)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.57", name: "JPEG Lossless, Non-Hierarchical (Process 14)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.70", name: "JPEG Lossless, First-Order Prediction (Process 14 SV1)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.80", name: "JPEG-LS Lossless", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.81", name: "JPEG-LS Near-Lossless", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.90", name: "JPEG 2000 (Lossless Only)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.91", name: "JPEG 2000", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.201", name: "High-Throughput JPEG 2000 (Lossless Only)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.202", name: "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)", encapsulated: true },
  { uid: "1.2.840.10008.1.2.4.203", name: "High-Throughput JPEG 2000", encapsulated: true },
  { uid: "1.2.840.10008.1.2.5", name: "RLE Lossless", encapsulated: true },
];

const BY_UID = new Map(TRANSFER_SYNTAXES.map((ts) => [ts.uid, ts]));

export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99";

export function findTransferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}
