"""A WordPiece tokenizer trained on the report corpus, saved in the Hugging Face `tokenizer.json` format.

The service loads the file with @huggingface/tokenizers; this module encodes the training text the same way
(a test in the TypeScript suite checks that both give the same ids). Pre-tokenization keeps decimals ("2.5"),
ordinals ("7th") and hyphenated words ("well-defined") whole, so that the WordPiece decoder's clean-up gives back
readable text.
"""
from __future__ import annotations

import collections
import json
import re

PAD, UNK, BOS, EOS, IMPRESSION = "[PAD]", "[UNK]", "[BOS]", "[EOS]", "[IMPRESSION]"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, IMPRESSION]
PRE_TOKENIZER_PATTERN = r"[A-Za-z0-9]+(?:[.'-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]"
_PATTERN = re.compile(PRE_TOKENIZER_PATTERN)


class WordPieceTokenizer:
    def __init__(self, vocab: list[str]):
        self.vocab = vocab
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.impression_id = (self.ids[t] for t in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: list[str], min_frequency: int = 2) -> "WordPieceTokenizer":
        """Whole words seen often enough, then every character alone and as a continuation, for the rest."""
        counts = collections.Counter(word for text in texts for word in _PATTERN.findall(text))
        words = sorted(w for w, n in counts.items() if n >= min_frequency)
        chars = sorted({c for text in texts for c in text if not c.isspace()})
        vocab = list(SPECIAL_TOKENS)
        for token in words + chars + ["##" + c for c in chars]:
            if token not in vocab:
                vocab.append(token)
        return cls(vocab)

    def _word_pieces(self, word: str) -> list[int]:
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk_id]
            start = end
        return pieces

    def encode(self, text: str) -> list[int]:
        return [i for word in _PATTERN.findall(text) for i in self._word_pieces(word)]

    def encode_report(self, findings: str, impression: str) -> list[int]:
        """The decoder's target: BOS findings [IMPRESSION] impression EOS."""
        return [self.bos_id, *self.encode(findings), self.impression_id, *self.encode(impression), self.eos_id]

    def to_json(self) -> dict:
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": self.ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
                for t in SPECIAL_TOKENS
            ],
            "normalizer": None,
            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": PRE_TOKENIZER_PATTERN}, "behavior": "Removed", "invert": True},
            "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
            "model": {
                "type": "WordPiece",
                "unk_token": UNK,
                "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": self.ids,
            },
        }

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)
