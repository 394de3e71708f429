"""Stage 2: clue injection, cross-modal clue interaction and the decoder (TRRG §fine-tuning).

The vision encoder and the clue embeddings from stage 1 are frozen. Each training report is generated from the
image patches plus a set of disease clues: the ground-truth findings, or the findings zero-shot perception finds,
with clue dropout, so that the decoder learns to use clues without trusting them blindly.
Calibrates per-finding thresholds on the validation split (the F1-optimal cut) and writes work/stage2.pt.
"""
from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F

from stage1 import encode_prompts
from trrg.common import Clock, pad_batch, stage_arguments
from trrg.data import load_meta, load_split
from trrg.model import ClueInteraction, CluePerception, Decoder, TextEncoder, TokenEmbedding, VisionEncoder
from trrg.tokenizer import WordPieceTokenizer

MODEL_DIM = 128


@torch.no_grad()
def perceive(vision, perception, split):
    patches, probabilities = [], []
    for i in range(0, len(split), 256):
        p, embedding = vision(split.images[i : i + 256])
        patches.append(p)
        probabilities.append(perception(embedding)[0])
    return torch.cat(patches), torch.cat(probabilities)


def best_thresholds(probabilities: np.ndarray, labels: np.ndarray) -> list[float]:
    """Per finding, the cut on the validation split that maximises F1."""
    cuts = []
    for j in range(labels.shape[1]):
        best, best_f1 = 0.5, -1.0
        for cut in np.unique(probabilities[:, j]):
            predicted = probabilities[:, j] >= cut
            tp = float((predicted & (labels[:, j] == 1)).sum())
            f1 = 2 * tp / max(predicted.sum() + labels[:, j].sum(), 1)
            if f1 > best_f1:
                best, best_f1 = float(cut), f1
        cuts.append(best)
    return cuts


def choose_clues(truth: torch.Tensor, perceived: torch.Tensor, rng: random.Random) -> list[int]:
    """Ground truth half the time, perception a third, the rest ground truth with each clue dropped at 30%."""
    r = rng.random()
    if r < 0.5:
        chosen = truth
    elif r < 0.8:
        chosen = perceived
    else:
        chosen = truth & (torch.rand(truth.shape) > 0.3)
    return chosen.nonzero().flatten().tolist()


def batch_inputs(parts, clue_embeddings, token_lists, embed, interaction, pad_id):
    """Prefix from patches and clues, then the report tokens; returns the decoder inputs and the targets."""
    patches, clue_sets = parts
    k = max([len(c) for c in clue_sets] + [0])
    clues = torch.zeros(len(clue_sets), k, clue_embeddings.shape[1])
    clue_mask = torch.zeros(len(clue_sets), k, dtype=torch.long)
    for i, chosen in enumerate(clue_sets):
        if chosen:
            clues[i, : len(chosen)] = clue_embeddings[chosen]
            clue_mask[i, : len(chosen)] = 1
    prefix, prefix_mask = interaction(patches, clues, clue_mask)
    tokens = pad_batch(token_lists, pad_id)
    text_mask = (tokens != pad_id).long()
    inputs = torch.cat([prefix, embed(tokens[:, :-1])], dim=1)
    attention_mask = torch.cat([prefix_mask, text_mask[:, :-1]], dim=1)
    position_ids = (attention_mask.cumsum(1) - 1).clamp(min=0)
    targets = tokens[:, 1:].masked_fill(text_mask[:, 1:] == 0, -100)
    return inputs, attention_mask, position_ids, targets, prefix.shape[1]


def main() -> None:
    args = stage_arguments(__doc__.splitlines()[0], epochs=12, batch=32, seed=2)
    clock = Clock()
    meta = load_meta(args.data)
    stage1 = torch.load(f"{args.work}/stage1.pt")
    findings = stage1["findings"]
    tokenizer = WordPieceTokenizer(stage1["vocab"])
    vision = VisionEncoder()
    vision.load_state_dict(stage1["vision"])
    vision.eval()
    text = TextEncoder(len(tokenizer.vocab), pad_id=tokenizer.pad_id)
    text.load_state_dict(stage1["text"])
    text.eval()
    with torch.no_grad():
        positive, negative = encode_prompts(text, tokenizer, findings, None)
    perception = CluePerception(positive, negative, stage1["logit_scale"])

    train, val = load_split(args.data, "train", meta), load_split(args.data, "val", meta)
    train_patches, train_probabilities = perceive(vision, perception, train)
    _, val_probabilities = perceive(vision, perception, val)
    thresholds = best_thresholds(val_probabilities.numpy(), val.labels.numpy())
    perceived = train_probabilities >= torch.tensor(thresholds)
    print(f"{clock} perception done; thresholds {[round(t, 3) for t in thresholds]}", flush=True)

    embed = TokenEmbedding(len(tokenizer.vocab), MODEL_DIM)
    interaction = ClueInteraction(train_patches.shape[2], positive.shape[1], MODEL_DIM, train_patches.shape[1])
    decoder = Decoder(len(tokenizer.vocab), MODEL_DIM)
    modules = torch.nn.ModuleList([embed, interaction, decoder])
    token_lists = [tokenizer.encode_report(r["report"]["findings"], r["report"]["impression"]) for r in train.records]
    print(f"{clock} report tokens: mean {np.mean([len(t) for t in token_lists]):.1f}, max {max(len(t) for t in token_lists)}", flush=True)
    optimizer = torch.optim.AdamW(modules.parameters(), lr=1e-3, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train) / args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    rng = random.Random(args.seed)
    truth = train.labels > 0.5
    for epoch in range(args.epochs):
        modules.train()
        order = torch.randperm(len(train)).tolist()
        total, count = 0.0, 0
        for start in range(0, len(order), args.batch):
            index = order[start : start + args.batch]
            clue_sets = [choose_clues(truth[i], perceived[i], rng) for i in index]
            inputs, mask, positions, targets, prefix_len = batch_inputs(
                (train_patches[index], clue_sets), positive, [token_lists[i] for i in index], embed, interaction, tokenizer.pad_id)
            logits, _ = decoder(inputs, mask, positions, decoder.empty_past(len(index)))
            # logits at prefix_len + j read token j and predict token j + 1, which is targets[:, j].
            loss = F.cross_entropy(logits[:, prefix_len:].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item()
            count += 1
        print(f"{clock} epoch {epoch + 1}/{args.epochs} loss {total / count:.4f}", flush=True)
    torch.save({
        "embed": embed.state_dict(), "interaction": interaction.state_dict(), "decoder": decoder.state_dict(),
        "thresholds": thresholds, "positive": positive, "negative": negative,
    }, f"{args.work}/stage2.pt")


if __name__ == "__main__":
    main()
