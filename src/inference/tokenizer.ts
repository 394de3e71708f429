// The model set's tokenizer.json, loaded with @huggingface/tokenizers (the same file format Hugging Face models
// ship), so that a hospital's own model with its own tokenizer needs no code here.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import type { ModelSet } from "./manifest.js";

export interface ReportTokenizer {
  encode(text: string): number[];
  /** Decodes ids to text, special tokens dropped and WordPiece spacing cleaned up. */
  decode(ids: readonly number[]): string;
}

export async function loadTokenizer(set: ModelSet): Promise<ReportTokenizer> {
  const json: unknown = JSON.parse(await readFile(join(set.directory, "tokenizer.json"), "utf8"));
  const tokenizer = new Tokenizer(json as object, {});
  return {
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: true }),
  };
}
