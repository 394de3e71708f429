"""Exports TRRG-mini to ONNX in the model contract (DESIGN §5) and records reference outputs for parity tests.

Graphs (opset 17), names as the service's pipeline expects:
  vision.onnx       pixel_values [B,1,S,S] -> patch_embeddings [B,N,C], image_embedding [B,E]
  perception.onnx   image_embedding [B,E] -> probabilities [B,F], clue_embeddings [F,E]
  interaction.onnx  patch_embeddings [B,N,C], clue_embeddings [B,K,E], clue_mask [B,K] (K may be 0)
                    -> prefix_embeddings [B,P,D], prefix_mask [B,P]
  embed_tokens.onnx input_ids [B,T] -> inputs_embeds [B,T,D]
  decoder.onnx      inputs_embeds [B,T,D], attention_mask [B,past+T], position_ids [B,T],
                    past_key_values.{i}.key/.value [B,H,past,D/H] -> logits [B,T,V], present.{i}.key/.value
                    (the layout of Hugging Face Optimum's decoder exports)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil

import numpy as np
import torch

from trrg.common import set_seed
from trrg.data import load_meta, load_split
from trrg.model import ClueInteraction, CluePerception, Decoder, TokenEmbedding, VisionEncoder
from trrg.tokenizer import WordPieceTokenizer
from stage2 import MODEL_DIM

OPSET = 17
MAX_NEW_TOKENS = 160


class DecoderGraph(torch.nn.Module):
    """The decoder with its cache flattened into the positional inputs and outputs ONNX export needs."""

    def __init__(self, decoder: Decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, inputs_embeds, attention_mask, position_ids, *flat_past):
        past = [(flat_past[2 * i], flat_past[2 * i + 1]) for i in range(self.decoder.num_layers)]
        logits, presents = self.decoder(inputs_embeds, attention_mask, position_ids, past)
        return (logits, *[t for kv in presents for t in kv])


def load_models(work: str, size: int):
    stage1, stage2 = torch.load(f"{work}/stage1.pt"), torch.load(f"{work}/stage2.pt")
    vocab = stage1["vocab"]
    vision = VisionEncoder()
    vision.load_state_dict(stage1["vision"])
    perception = CluePerception(stage2["positive"], stage2["negative"], stage1["logit_scale"])
    embed = TokenEmbedding(len(vocab), MODEL_DIM)
    embed.load_state_dict(stage2["embed"])
    decoder = Decoder(len(vocab), MODEL_DIM)
    decoder.load_state_dict(stage2["decoder"])
    patch_dim = stage1["vision"]["project.weight"].shape[1] // 2
    with torch.no_grad():
        num_patches = vision.eval()(torch.zeros(1, 1, size, size))[0].shape[1]
    interaction = ClueInteraction(patch_dim, stage2["positive"].shape[1], MODEL_DIM, num_patches)
    interaction.load_state_dict(stage2["interaction"])
    for m in (vision, perception, embed, decoder, interaction):
        m.eval()
    return {"vision": vision, "perception": perception, "interaction": interaction, "embed": embed,
            "decoder": decoder, "tokenizer": WordPieceTokenizer(vocab), "thresholds": stage2["thresholds"],
            "findings": stage1["findings"]}


@torch.no_grad()
def generate(m, pixel_values, clue_indices=None):
    """Greedy decoding with the KV cache, as the service runs it; returns (token ids, probabilities, clues)."""
    patches, image_embedding = m["vision"](pixel_values)
    probabilities, clue_table = m["perception"](image_embedding)
    if clue_indices is None:
        clue_indices = [j for j, p in enumerate(probabilities[0].tolist()) if p >= m["thresholds"][j]]
    clues = clue_table[clue_indices][None]
    prefix, prefix_mask = m["interaction"](patches, clues, torch.ones(1, len(clue_indices), dtype=torch.long))
    tok = m["tokenizer"]
    decoder = m["decoder"]
    inputs = torch.cat([prefix, m["embed"](torch.tensor([[tok.bos_id]]))], dim=1)
    mask = torch.cat([prefix_mask, torch.ones(1, 1, dtype=torch.long)], dim=1)
    positions = torch.arange(inputs.shape[1])[None]
    past = decoder.empty_past(1)
    out = []
    for _ in range(MAX_NEW_TOKENS):
        logits, past = decoder(inputs, mask, positions, past)
        token = int(logits[0, -1].argmax())
        if token == tok.eos_id:
            break
        out.append(token)
        inputs = m["embed"](torch.tensor([[token]]))
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, torch.ones(1, 1, dtype=torch.long)], dim=1)
    return out, probabilities[0], clue_indices


def export_graphs(m, out: str, size: int) -> None:
    vision, perception, interaction, embed, decoder = (m[k] for k in ("vision", "perception", "interaction", "embed", "decoder"))
    image = torch.zeros(1, 1, size, size)
    patches, embedding = vision(image)
    torch.onnx.export(vision, (image,), f"{out}/vision.onnx", opset_version=OPSET,
                      input_names=["pixel_values"], output_names=["patch_embeddings", "image_embedding"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "patch_embeddings": {0: "batch"}, "image_embedding": {0: "batch"}})
    torch.onnx.export(perception, (embedding,), f"{out}/perception.onnx", opset_version=OPSET,
                      input_names=["image_embedding"], output_names=["probabilities", "clue_embeddings"],
                      dynamic_axes={"image_embedding": {0: "batch"}, "probabilities": {0: "batch"}})
    clues = torch.zeros(1, 2, embedding.shape[1])
    clue_mask = torch.ones(1, 2, dtype=torch.long)
    torch.onnx.export(interaction, (patches, clues, clue_mask), f"{out}/interaction.onnx", opset_version=OPSET,
                      input_names=["patch_embeddings", "clue_embeddings", "clue_mask"],
                      output_names=["prefix_embeddings", "prefix_mask"],
                      dynamic_axes={"patch_embeddings": {0: "batch"}, "clue_embeddings": {0: "batch", 1: "clues"},
                                    "clue_mask": {0: "batch", 1: "clues"}, "prefix_embeddings": {0: "batch", 1: "prefix"},
                                    "prefix_mask": {0: "batch", 1: "prefix"}})
    ids = torch.zeros(1, 3, dtype=torch.long)
    torch.onnx.export(embed, (ids,), f"{out}/embed_tokens.onnx", opset_version=OPSET,
                      input_names=["input_ids"], output_names=["inputs_embeds"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "inputs_embeds": {0: "batch", 1: "sequence"}})
    head_dim = decoder.dim // decoder.heads
    past_len, new = 4, 2
    flat_past = [torch.zeros(1, decoder.heads, past_len, head_dim) for _ in range(2 * decoder.num_layers)]
    past_names = [f"past_key_values.{i}.{kind}" for i in range(decoder.num_layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(decoder.num_layers) for kind in ("key", "value")]
    dynamic = {"inputs_embeds": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total_sequence"},
               "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    dynamic |= {n: {0: "batch", 2: "past_sequence"} for n in past_names}
    dynamic |= {n: {0: "batch", 2: "total_sequence"} for n in present_names}
    torch.onnx.export(DecoderGraph(decoder),
                      (torch.zeros(1, new, decoder.dim), torch.ones(1, past_len + new, dtype=torch.long),
                       torch.arange(past_len, past_len + new)[None], *flat_past),
                      f"{out}/decoder.onnx", opset_version=OPSET,
                      input_names=["inputs_embeds", "attention_mask", "position_ids", *past_names],
                      output_names=["logits", *present_names], dynamic_axes=dynamic)


def save_tensor(directory: str, name: str, tensor: torch.Tensor, index: dict) -> None:
    array = tensor.detach().numpy()
    dtype = "int64" if array.dtype == np.int64 else "float32"
    array.astype("<i8" if dtype == "int64" else "<f4").tofile(f"{directory}/{name}.bin")
    index[name] = {"dtype": dtype, "shape": list(array.shape)}


@torch.no_grad()
def record_reference(m, out: str, image: torch.Tensor) -> None:
    """Each stage's outputs for one fixed test image, for the TypeScript parity test (tolerance 1e-4)."""
    directory = f"{out}/reference"
    os.makedirs(directory, exist_ok=True)
    index: dict = {}
    save_tensor(directory, "pixel_values", image, index)
    patches, embedding = m["vision"](image)
    save_tensor(directory, "patch_embeddings", patches, index)
    save_tensor(directory, "image_embedding", embedding, index)
    probabilities, clue_table = m["perception"](embedding)
    save_tensor(directory, "probabilities", probabilities, index)
    save_tensor(directory, "clue_embeddings", clue_table, index)
    chosen = [0, 2, 5]
    clues, clue_mask = clue_table[chosen][None], torch.ones(1, len(chosen), dtype=torch.long)
    prefix, prefix_mask = m["interaction"](patches, clues, clue_mask)
    save_tensor(directory, "interaction.clue_mask", clue_mask, index)
    save_tensor(directory, "prefix_embeddings", prefix, index)
    save_tensor(directory, "prefix_mask", prefix_mask, index)
    empty_prefix, _ = m["interaction"](patches, clue_table[:0][None], torch.ones(1, 0, dtype=torch.long))
    save_tensor(directory, "prefix_embeddings.no_clues", empty_prefix, index)
    ids = torch.tensor([[m["tokenizer"].bos_id, 7, 8]])
    save_tensor(directory, "input_ids", ids, index)
    embeds = m["embed"](ids)
    save_tensor(directory, "inputs_embeds", embeds, index)
    decoder = m["decoder"]
    inputs = torch.cat([prefix, embeds], dim=1)
    mask = torch.ones(1, inputs.shape[1], dtype=torch.long)
    positions = torch.arange(inputs.shape[1])[None]
    logits, past = decoder(inputs, mask, positions, decoder.empty_past(1))
    save_tensor(directory, "decoder.first.logits", logits, index)
    save_tensor(directory, "decoder.first.present.0.key", past[0][0], index)
    step = m["embed"](torch.tensor([[9]]))
    logits2, _ = decoder(step, torch.ones(1, inputs.shape[1] + 1, dtype=torch.long), positions[:, -1:] + 1, past)
    save_tensor(directory, "decoder.second.logits", logits2, index)
    tokens, _, used = generate(m, image)
    index["greedy"] = {"clues": used, "token_ids": tokens, "text": " ".join(m["tokenizer"].vocab[t] for t in tokens)}
    sample = "FINDINGS: The heart is mildly enlarged. Small left pleural effusion, 2.5 cm nodule; well-defined."
    index["tokenizer"] = {"text": sample, "ids": m["tokenizer"].encode(sample)}
    with open(f"{directory}/reference.json", "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_manifest(m, out: str, meta: dict, version: str) -> None:
    decoder = m["decoder"]
    tok = m["tokenizer"]
    files = ["vision.onnx", "perception.onnx", "interaction.onnx", "embed_tokens.onnx", "decoder.onnx", "tokenizer.json"]
    manifest = {
        "name": "trrg-mini",
        "version": version,
        "intendedUse": "Demonstration and testing of the trrg-gateway pipeline on synthetic phantoms. Not for clinical use.",
        "views": ["frontal"],
        "findings": [{"name": f, "snomed": meta["snomed"].get(f), "threshold": round(t, 6)}
                     for f, t in zip(m["findings"], m["thresholds"])],
        "preprocess": meta["preprocess"],
        "stages": {
            "vision": {"file": "vision.onnx", "inputs": ["pixel_values"], "outputs": ["patch_embeddings", "image_embedding"]},
            "perception": {"file": "perception.onnx", "inputs": ["image_embedding"], "outputs": ["probabilities", "clue_embeddings"]},
            "interaction": {"file": "interaction.onnx", "inputs": ["patch_embeddings", "clue_embeddings", "clue_mask"],
                            "outputs": ["prefix_embeddings", "prefix_mask"]},
            "embedTokens": {"file": "embed_tokens.onnx", "inputs": ["input_ids"], "outputs": ["inputs_embeds"]},
            "decoder": {"file": "decoder.onnx", "inputs": ["inputs_embeds", "attention_mask", "position_ids"],
                        "outputs": ["logits"], "layers": decoder.num_layers, "heads": decoder.heads,
                        "headDim": decoder.dim // decoder.heads, "hiddenSize": decoder.dim,
                        "maxPositions": decoder.positions.num_embeddings},
        },
        "generation": {"bosTokenId": tok.bos_id, "eosTokenId": tok.eos_id, "padTokenId": tok.pad_id,
                       "sectionTokenId": tok.impression_id, "maxNewTokens": MAX_NEW_TOKENS, "numBeams": 1},
        "files": {name: {"sha256": sha256(f"{out}/{name}"), "bytes": os.path.getsize(f"{out}/{name}")} for name in files},
    }
    with open(f"{out}/manifest.json", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--version", default="1.0.0")
    args = parser.parse_args()
    set_seed(3)
    meta = load_meta(args.data)
    m = load_models(args.work, meta["preprocess"]["size"])
    os.makedirs(args.out, exist_ok=True)
    export_graphs(m, args.out, meta["preprocess"]["size"])
    shutil.copy(f"{args.work}/tokenizer.json", f"{args.out}/tokenizer.json")
    test = load_split(args.data, "test", meta)
    record_reference(m, args.out, test.images[:1])
    write_manifest(m, args.out, meta, args.version)
    print("exported", sorted(os.listdir(args.out)))


if __name__ == "__main__":
    main()
