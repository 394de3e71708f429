from __future__ import annotations

import argparse
import os
import random
import time

import numpy as np
import torch


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("TRRG_TRAIN_THREADS", os.cpu_count() or 1)))


def pad_batch(sequences: list[list[int]], pad_id: int) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def shift_augment(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to max_shift pixels, the same for the whole batch row; never a flip (laterality)."""
    padded = torch.nn.functional.pad(images, (max_shift,) * 4, mode="replicate")
    size = images.shape[-1]
    out = torch.empty_like(images)
    offsets = torch.randint(0, 2 * max_shift + 1, (images.shape[0], 2), generator=generator)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy : dy + size, dx : dx + size]
    return out


class Clock:
    def __init__(self) -> None:
        self.start = time.time()

    def __str__(self) -> str:
        return f"{time.time() - self.start:6.0f}s"


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties given their mean rank."""
    positives = labels.sum()
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = scores.argsort()
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def stage_arguments(description: str, epochs: int, batch: int, seed: int) -> argparse.Namespace:
    """The options every training stage takes: the data set, the scratch folder, and its schedule."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, help="folder written by make-dataset.ts")
    parser.add_argument("--work", required=True, help="scratch folder for checkpoints and the tokenizer")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--seed", type=int, default=seed)
    args = parser.parse_args()
    set_seed(args.seed)
    return args
