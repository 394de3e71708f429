"""TRRG-mini: the four exported stages and the text encoder used to pre-train them.

Stages follow TRRG (Wang et al., "TRRG: Towards Truthful Radiology Report Generation With Cross-modal Disease Clue
Enhanced Large Language Models", arXiv:2408.12141, MICCAI 2025): stage 1, contrastive pre-training of the vision
encoder with disease sentences, giving zero-shot disease perception; stage 2, clue injection and the cross-modal
clue interaction module feeding a causal language model. Sizes are small on purpose: the set trains on 2 CPU
cores, and the decoder is a small GPT in place of the paper's LLM.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class VisionEncoder(nn.Module):
    """A small convolutional encoder: 1 x S x S image -> (S/16)^2 patch embeddings and one global embedding."""

    def __init__(self, patch_dim: int = 128, embed_dim: int = 128):
        super().__init__()
        widths = [1, 24, 48, 96, patch_dim]
        blocks = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            blocks += [
                nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.GELU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.GELU(),
            ]
        self.features = nn.Sequential(*blocks)
        self.project = nn.Linear(2 * patch_dim, embed_dim)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.features(pixel_values)  # B, C, h, w
        patches = maps.flatten(2).transpose(1, 2)  # B, h*w, C
        # Max pooling beside the mean keeps small local findings (a nodule, a fracture) in the global embedding.
        pooled = torch.cat([patches.mean(1), patches.amax(1)], dim=-1)
        image_embedding = F.normalize(self.project(pooled), dim=-1)
        return patches, image_embedding


class TextEncoder(nn.Module):
    """Token embeddings, a two-layer transformer and mean pooling into the joint space (pre-training only)."""

    def __init__(self, vocab_size: int, dim: int = 128, embed_dim: int = 128, max_len: int = 128, pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.positions = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, dim * 4, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.project = nn.Linear(dim, embed_dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = input_ids != self.pad_id
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(positions)[None]
        x = self.encoder(x, src_key_padding_mask=~mask)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return F.normalize(self.project(pooled), dim=-1)


class CluePerception(nn.Module):
    """Zero-shot clues: p(finding) = softmax over the image's similarity to its positive and negative prompt."""

    def __init__(self, positive: torch.Tensor, negative: torch.Tensor, logit_scale: float):
        super().__init__()
        self.register_buffer("positive", F.normalize(positive, dim=-1))
        self.register_buffer("negative", F.normalize(negative, dim=-1))
        self.logit_scale = logit_scale

    def forward(self, image_embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = image_embedding @ self.positive.T
        neg = image_embedding @ self.negative.T
        probabilities = torch.sigmoid(self.logit_scale * (pos - neg))
        return probabilities, self.positive


def zero_shot_logits(image_embedding, positive, negative, logit_scale):
    """The same score as CluePerception, for training with freshly encoded prompts."""
    return logit_scale * ((image_embedding * positive).sum(-1) - (image_embedding * negative).sum(-1))


class ClueInteraction(nn.Module):
    """Clue injection and cross-modal clue interaction.

    Clue embeddings (text space) are injected as tokens beside the image patches (neighbouring patches merged
    2 x 2 first); a learned "no clue" token is always present, so zero clues is a valid input. Patches attend to clues and clues attend to patches (one
    bidirectional cross-attention block), then both go to the decoder as its prefix.
    """

    def __init__(self, patch_dim: int, clue_dim: int, model_dim: int, num_patches: int, heads: int = 4, merge: int = 2):
        super().__init__()
        self.grid = math.isqrt(num_patches)
        self.merge = merge
        self.patch_in = nn.Linear(patch_dim, model_dim)
        self.clue_in = nn.Linear(clue_dim, model_dim)
        self.patch_position = nn.Parameter(torch.zeros(1, (self.grid // merge) ** 2, model_dim))
        self.no_clue = nn.Parameter(torch.zeros(1, 1, model_dim))
        self.clue_type = nn.Parameter(torch.zeros(1, 1, model_dim))
        self.norm_p = nn.LayerNorm(model_dim)
        self.norm_c = nn.LayerNorm(model_dim)
        self.patch_from_clues = nn.MultiheadAttention(model_dim, heads, batch_first=True)
        self.clues_from_patches = nn.MultiheadAttention(model_dim, heads, batch_first=True)
        self.ffn_p = nn.Sequential(nn.LayerNorm(model_dim), nn.Linear(model_dim, model_dim * 2), nn.GELU(), nn.Linear(model_dim * 2, model_dim))
        self.ffn_c = nn.Sequential(nn.LayerNorm(model_dim), nn.Linear(model_dim, model_dim * 2), nn.GELU(), nn.Linear(model_dim * 2, model_dim))
        nn.init.normal_(self.patch_position, std=0.02)
        nn.init.normal_(self.no_clue, std=0.02)
        nn.init.normal_(self.clue_type, std=0.02)

    def merge_patches(self, patch_embeddings):
        """Averages merge x merge neighbouring patches: a shorter prefix for the decoder, the layout kept."""
        batch, _, channels = patch_embeddings.shape
        grid = patch_embeddings.transpose(1, 2).reshape(batch, channels, self.grid, self.grid)
        return F.avg_pool2d(grid, self.merge).flatten(2).transpose(1, 2)

    def forward(self, patch_embeddings, clue_embeddings, clue_mask):
        batch = patch_embeddings.shape[0]
        patches = self.patch_in(self.merge_patches(patch_embeddings)) + self.patch_position
        clues = self.clue_in(clue_embeddings) + self.clue_type
        clues = torch.cat([self.no_clue.expand(batch, -1, -1), clues], dim=1)
        clue_mask = torch.cat([torch.ones_like(patch_embeddings[:, :1, 0], dtype=clue_mask.dtype), clue_mask], dim=1)
        p, c = self.norm_p(patches), self.norm_c(clues)
        patches = patches + self.patch_from_clues(p, c, c, key_padding_mask=clue_mask == 0, need_weights=False)[0]
        clues = clues + self.clues_from_patches(c, p, p, need_weights=False)[0]
        patches = patches + self.ffn_p(patches)
        clues = clues + self.ffn_c(clues)
        prefix = torch.cat([patches, clues], dim=1)
        prefix_mask = torch.cat([torch.ones_like(patches[:, :, 0], dtype=torch.int64), clue_mask.to(torch.int64)], dim=1)
        return prefix, prefix_mask


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x, bias, past_key, past_value):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = torch.cat([past_key, k.view(b, t, self.heads, self.head_dim).transpose(1, 2)], dim=2)
        v = torch.cat([past_value, v.view(b, t, self.heads, self.head_dim).transpose(1, 2)], dim=2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        x = x + self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
        x = x + self.mlp(self.norm2(x))
        return x, k, v


class Decoder(nn.Module):
    """A GPT-style causal decoder over input embeddings, with a KV cache in the Optimum layout:
    past_key_values.{i}.key/value [batch, heads, past, head_dim] in, present.{i}.key/value out."""

    def __init__(self, vocab_size: int, dim: int = 128, layers: int = 3, heads: int = 4, max_positions: int = 256):
        super().__init__()
        self.dim, self.heads, self.num_layers = dim, heads, layers
        self.positions = nn.Embedding(max_positions, dim)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)

    def forward(self, inputs_embeds, attention_mask, position_ids, past):
        """attention_mask covers past and new positions [B, past + T]; past is a list of (key, value)."""
        t = inputs_embeds.shape[1]
        total = attention_mask.shape[1]
        past_len = total - t
        query_pos = torch.arange(t, device=inputs_embeds.device)[:, None] + past_len
        key_pos = torch.arange(total, device=inputs_embeds.device)[None, :]
        allowed = (key_pos <= query_pos)[None, None] & (attention_mask[:, None, None, :] > 0)
        bias = torch.zeros(allowed.shape, dtype=inputs_embeds.dtype).masked_fill(~allowed, -1e4)
        x = inputs_embeds + self.positions(position_ids)
        presents = []
        for layer, (pk, pv) in zip(self.layers, past):
            x, k, v = layer(x, bias, pk, pv)
            presents.append((k, v))
        return self.lm_head(self.norm(x)), presents

    def empty_past(self, batch: int):
        shape = (batch, self.heads, 0, self.dim // self.heads)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(self.num_layers)]


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)

    def forward(self, input_ids):
        return self.embed(input_ids)
