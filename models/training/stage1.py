"""Stage 1: contrastive pre-training of the vision encoder with a text encoder (TRRG §pre-training).

Two losses: (1) disease sentences: for every finding, the image embedding must be nearer its positive sentence than
its negative one when the finding is drawn, and the reverse when not (this is exactly the zero-shot clue score);
(2) image-impression InfoNCE over the batch (CLIP), aligning the image with its own impression sentence(s).
Writes work/stage1.pt and work/tokenizer.json.
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from trrg.common import Clock, auroc, pad_batch, shift_augment, stage_arguments
from trrg.data import load_meta, load_split
from trrg.model import TextEncoder, VisionEncoder, zero_shot_logits
from trrg.prompts import PROMPTS
from trrg.tokenizer import WordPieceTokenizer


def encode_prompts(text_encoder, tokenizer, findings, rng: random.Random | None):
    """One positive and one negative sentence per finding (random ones when rng is given, else all averaged)."""
    def embed(sentences):
        return text_encoder(pad_batch([tokenizer.encode(s) for s in sentences], tokenizer.pad_id))

    if rng is not None:
        pos = embed([rng.choice(PROMPTS[f][0]) for f in findings])
        neg = embed([rng.choice(PROMPTS[f][1]) for f in findings])
        return pos, neg
    pos = torch.stack([F.normalize(embed(PROMPTS[f][0]).mean(0), dim=-1) for f in findings])
    neg = torch.stack([F.normalize(embed(PROMPTS[f][1]).mean(0), dim=-1) for f in findings])
    return pos, neg


def main() -> None:
    args = stage_arguments(__doc__.splitlines()[0], epochs=18, batch=64, seed=1)
    clock = Clock()
    meta = load_meta(args.data)
    findings = meta["findings"]
    train, val = load_split(args.data, "train", meta), load_split(args.data, "val", meta)
    corpus = [r["report"]["findings"] + " " + r["report"]["impression"] for r in train.records]
    corpus += [s for f in findings for s in PROMPTS[f][0] + PROMPTS[f][1]]
    tokenizer = WordPieceTokenizer.train(corpus)
    tokenizer.save(f"{args.work}/tokenizer.json")
    print(f"{clock} tokenizer: {len(tokenizer.vocab)} tokens; train {len(train)}, val {len(val)}", flush=True)

    vision = VisionEncoder()
    text = TextEncoder(len(tokenizer.vocab), pad_id=tokenizer.pad_id)
    logit_scale = torch.nn.Parameter(torch.tensor(10.0))
    clip_scale = torch.nn.Parameter(torch.tensor(2.66))  # ln(1/0.07), as CLIP starts
    params = list(vision.parameters()) + list(text.parameters()) + [logit_scale, clip_scale]
    optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
    steps = args.epochs * (len(train) // args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(args.seed)
    rng = random.Random(args.seed)
    # Sentence-level alignment with the impression (short: it names what is abnormal), as TRRG aligns sentences.
    report_ids = [tokenizer.encode(r["report"]["impression"])[:32] for r in train.records]
    positive_weight = ((1 - train.labels.mean(0)) / train.labels.mean(0).clamp(min=1e-3)).sqrt()

    for epoch in range(args.epochs):
        vision.train()
        text.train()
        order = torch.randperm(len(train), generator=generator)
        total = 0.0
        for step in range(len(train) // args.batch):
            index = order[step * args.batch : (step + 1) * args.batch]
            images = shift_augment(train.images[index], 6, generator)
            labels = train.labels[index]
            _, image_embedding = vision(images)
            pos, neg = encode_prompts(text, tokenizer, findings, rng)
            logits = zero_shot_logits(image_embedding[:, None, :], pos[None], neg[None], logit_scale)
            disease_loss = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=positive_weight)
            reports = text(pad_batch([report_ids[i] for i in index.tolist()], tokenizer.pad_id))
            similarity = clip_scale.exp().clamp(max=100) * image_embedding @ reports.T
            targets = torch.arange(len(index))
            clip_loss = (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2
            loss = disease_loss + 0.5 * clip_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        aucs = evaluate(vision, text, tokenizer, findings, val, logit_scale.item())
        print(f"{clock} epoch {epoch + 1}/{args.epochs} loss {total / (step + 1):.3f} "
              f"val macro AUROC {sum(aucs.values()) / len(aucs):.4f}", flush=True)
    print("  " + ", ".join(f"{f}: {a:.3f}" for f, a in aucs.items()))
    torch.save({"vision": vision.state_dict(), "text": text.state_dict(), "logit_scale": logit_scale.item(),
                "vocab": tokenizer.vocab, "findings": findings}, f"{args.work}/stage1.pt")


@torch.no_grad()
def evaluate(vision, text, tokenizer, findings, split, logit_scale):
    vision.eval()
    text.eval()
    pos, neg = encode_prompts(text, tokenizer, findings, None)
    embeddings = torch.cat([vision(split.images[i : i + 256])[1] for i in range(0, len(split), 256)])
    scores = zero_shot_logits(embeddings[:, None, :], pos[None], neg[None], logit_scale).numpy()
    labels = split.labels.numpy()
    return {f: auroc(scores[:, j], labels[:, j]) for j, f in enumerate(findings)}


if __name__ == "__main__":
    main()
