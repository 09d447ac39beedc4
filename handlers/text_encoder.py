"""The text encoder: words to a point in the served image embedding's space, so that a text query ranks photos.

    encoder = TextEncoder.load(Path("checkpoints/fashion-text"))
    encoder.encode(["striped shirt", "Herren Hemd"])   # -> [2, 256] float32, L2-normalised
    encoder.embedder_digest                           # the image embedder whose space this is

A bag of words and word pairs: a query is the normalised mean of its known tokens' rows of one matrix (tokens:
`tokens`). kalas/text_training.py learns that matrix from (title, photo) pairs and from the taxonomy's names of
each training photo's labels, with the photos' served embeddings frozen. It is numpy only and small (about 3 MB,
tens of microseconds a query: docs/benchmarks.md, "Text search"), so the inference client runs it in the API's
process beside its calls to the image models; its vectors compare only with vectors of `embedder_digest`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

WEIGHTS_FILE = "encoder.npy"
META_FILE = "meta.json"
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script: "Hemd", "t", "shirt", "2"


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def tokens(text: str) -> list[str]:
    """The words of `text` (case-folded; "T-Shirt" is "t", "shirt") and each pair of neighbouring words."""
    found = words(text)
    return found + [f"{a} {b}" for a, b in zip(found, found[1:])]


@dataclass(frozen=True)
class TextEncoder:
    vocabulary: dict[str, int]
    weights: np.ndarray  # [len(vocabulary), dim] float32
    embedder_digest: str
    meta: dict

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    def known(self, text: str) -> list[str]:
        """The tokens of `text` this encoder has a row for."""
        return [t for t in tokens(text) if t in self.vocabulary]

    def unknown_words(self, text: str) -> list[str]:
        """The words of `text` this encoder has no row for."""
        return [w for w in words(text) if w not in self.vocabulary]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, each row L2-normalised; a text with no known token gives a zero row."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            rows = [self.vocabulary[t] for t in self.known(text)]
            if rows:
                vector = self.weights[rows].mean(axis=0)
                norm = float(np.linalg.norm(vector))
                if norm > 0:
                    out[i] = vector / norm
        return out

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / WEIGHTS_FILE, self.weights.astype(np.float16))
        meta = {**self.meta, "embedder_digest": self.embedder_digest, "vocabulary": sorted(self.vocabulary, key=self.vocabulary.get)}
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        return [directory / WEIGHTS_FILE, directory / META_FILE]

    @classmethod
    def load(cls, directory: Path) -> "TextEncoder":
        """The encoder saved in `directory`; FileNotFoundError or ValueError saying what is missing or wrong."""
        for name in (WEIGHTS_FILE, META_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory} is not a text encoder: {name} is missing")
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        weights = np.load(directory / WEIGHTS_FILE).astype(np.float32)
        vocabulary = {token: row for row, token in enumerate(meta.pop("vocabulary"))}
        if weights.ndim != 2 or weights.shape[0] != len(vocabulary):
            raise ValueError(f"{directory / WEIGHTS_FILE} has shape {weights.shape}; meta.json names {len(vocabulary)} tokens")
        return cls(vocabulary, weights, meta.pop("embedder_digest"), meta)
