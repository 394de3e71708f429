"""The phantom data set written by make-dataset.ts: preprocessed frontal images and their ground truth."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Split:
    images: torch.Tensor  # N, 1, S, S, already normalised as the manifest says
    labels: torch.Tensor  # N, F, 1.0 where the finding is drawn
    records: list[dict]  # one JSON object per study: seed, studyInstanceUID, findings, labels, report

    def __len__(self) -> int:
        return len(self.records)


def load_meta(data_dir: str) -> dict:
    with open(os.path.join(data_dir, "meta.json"), encoding="utf-8") as f:
        return json.load(f)


def load_split(data_dir: str, name: str, meta: dict) -> Split:
    size = meta["preprocess"]["size"]
    records = []
    with open(os.path.join(data_dir, f"{name}.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    raw = np.fromfile(os.path.join(data_dir, f"{name}.images.u16"), dtype="<u2")
    if raw.size != len(records) * size * size:
        raise ValueError(f"{name}: {raw.size} pixels for {len(records)} studies of {size}x{size}")
    grey = torch.from_numpy(raw.astype(np.float32) / 65535.0).view(len(records), 1, size, size)
    spec = meta["preprocess"]
    images = (grey - spec["mean"]) / spec["std"]
    findings = meta["findings"]
    labels = torch.zeros(len(records), len(findings))
    for i, record in enumerate(records):
        for finding in record["findings"]:
            labels[i, findings.index(finding["observation"])] = 1.0
    return Split(images, labels, records)
