"""The text encoder: words to a point of the photos' joint space, so that a text query ranks photos.

    encoder = TextEncoder.load(Path("checkpoints/fashion-text"))
    encoder.encode(["striped shirt", "Herren Hemd"])   # -> [2, D + S] float32, L2-normalised
    encoder.query("striped shirt")                    # -> TextQuery: the vector and how to read it
    encoder.embedder_digest                           # the image embedder whose space this is

The space is the photos' joint vector (handlers/signals.py: the served image embedding beside what the model's
heads say of the photo), recorded at training in `meta["space"]`. Two readers of a query, averaged:
- a bag of words and word pairs: the normalised mean of its known tokens' rows of one matrix (tokens: `tokens`);
- a packaged sentence model (handlers/sentence_model.py, all-MiniLM-L6-v2) through a learned linear projection,
  which also reads words no title taught the bag and their order (`SENTENCE_WEIGHT` of the average).
kalas/text_training.py learns both (the matrix, then the projection) from (title, photo) pairs and from the
taxonomy's names of each training photo's labels, with the photos' side frozen. The bag is numpy; the sentence
model runs on onnxruntime, 23 MB int8, a few milliseconds a query (docs/benchmarks.md, "Text search"), so the
inference client runs the encoder in the API's process beside its calls to the image models; its vectors compare
only with vectors of `embedder_digest`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from handlers.sentence_model import SentenceModel
from handlers.signals import JOINT_WEIGHT, joint_scores

WEIGHTS_FILE = "encoder.npy"
PROJECTION_FILE = "projection.npy"
META_FILE = "meta.json"
# The sentence model's share of a query's vector (the bag of words has the rest). Measured on fashion-products'
# validation titles (docs/benchmarks.md, "Text search"): 0.3 gave title-to-image R@1 0.369 against the bag's 0.346
# and the sentence model's 0.290 alone; 0.5 gave 0.362, 0.7 0.338.
SENTENCE_WEIGHT = 0.3
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script: "Hemd", "t", "shirt", "2"


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def tokens(text: str) -> list[str]:
    """The words of `text` (case-folded; "T-Shirt" is "t", "shirt") and each pair of neighbouring words."""
    found = words(text)
    return found + [f"{a} {b}" for a, b in zip(found, found[1:])]


@dataclass(frozen=True)
class TextQuery:
    """A query encoded: its vector in the joint space (handlers/signals.py; an encoder trained before the joint
    space has no signal part), the words the encoder does not know, and how to read the vector."""

    vector: np.ndarray  # [embedding_dim + len(signal_terms)] float32, unit norm (zeros: no known word)
    unknown_words: list[str]
    embedding_dim: int
    joint_weight: float
    signal_terms: tuple[str, ...]  # what each signal column stands for (handlers/signals.py `signal_terms`)

    @property
    def photo_vector(self) -> np.ndarray:
        """The embedding part, L2-normalised: what a vector index of photo embeddings is searched with."""
        part = self.vector[:self.embedding_dim]
        norm = float(np.linalg.norm(part))
        return part / norm if norm > 0 else part

    def scores(self, cosines: np.ndarray, signal_rows: np.ndarray | None) -> np.ndarray:
        """[N] the query's inner product with N photos' joint vectors, from their cosines with `photo_vector` and
        their signals ([N, S] in `signal_terms`' order, or None)."""
        return joint_scores(self.vector, cosines, signal_rows if self.signal_terms else None, self.embedding_dim,
                            self.joint_weight)


@dataclass(frozen=True)
class TextEncoder:
    vocabulary: dict[str, int]
    weights: np.ndarray  # [len(vocabulary), dim] float32
    embedder_digest: str
    meta: dict
    projection: np.ndarray | None = None  # [sentence DIM + 1, dim]: the sentence vector's map (last row: bias)
    sentence: SentenceModel | None = None

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    def query(self, text: str) -> TextQuery:
        """`text` encoded, with what a search needs to read the vector (the space recorded at training)."""
        space = self.meta.get("space") or {}
        return TextQuery(self.encode([text])[0], self.unknown_words(text), int(space.get("embedding_dim", self.dim)),
                         float(space.get("joint_weight", JOINT_WEIGHT)), tuple(space.get("signal_terms", ())))

    def known(self, text: str) -> list[str]:
        """The tokens of `text` this encoder has a row for."""
        return [t for t in tokens(text) if t in self.vocabulary]

    def unknown_words(self, text: str) -> list[str]:
        """The words of `text` this encoder has no row for."""
        return [w for w in words(text) if w not in self.vocabulary]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, each row L2-normalised: the bag of words' vector and the sentence model's,
        averaged (`SENTENCE_WEIGHT`); without a sentence model a text with no known token gives a zero row."""
        bag = self.encode_words(texts)
        if self.sentence is None or self.projection is None or not len(texts):
            return bag
        weight = float(self.meta.get("sentence", {}).get("weight", SENTENCE_WEIGHT))
        mixed = (1.0 - weight) * bag + weight * project(self.sentence.encode(texts), self.projection)
        return mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)

    def encode_words(self, texts: Sequence[str]) -> np.ndarray:
        """The bag of words' part: [len(texts), dim], unit rows, zeros for a text with no known token."""
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
        files = [directory / WEIGHTS_FILE, directory / META_FILE]
        if self.projection is not None:
            np.save(directory / PROJECTION_FILE, self.projection.astype(np.float16))
            files.append(directory / PROJECTION_FILE)
        meta = {**self.meta, "embedder_digest": self.embedder_digest, "vocabulary": sorted(self.vocabulary, key=self.vocabulary.get)}
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        return files

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
        projection = sentence = None
        if (directory / PROJECTION_FILE).is_file():
            projection = np.load(directory / PROJECTION_FILE).astype(np.float32)
            if projection.shape[1] != weights.shape[1]:
                raise ValueError(f"{directory / PROJECTION_FILE} maps to {projection.shape[1]} dimensions; the "
                                 f"words' matrix has {weights.shape[1]}")
            sentence = SentenceModel.load()
            wanted = (meta.get("sentence") or {}).get("digest")
            if wanted != sentence.digest:
                raise ValueError(f"{directory} was trained on another sentence network (sha256 {wanted}) than the "
                                 f"installed one ({sentence.digest}): train it again with python -m scripts.train_text")
        return cls(vocabulary, weights, meta.pop("embedder_digest"), meta, projection, sentence)


def project(sentence_vectors: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """Sentence vectors [N, 384] mapped by `projection` ([385, D], last row the bias) into the joint space, unit rows."""
    mapped = sentence_vectors @ projection[:-1] + projection[-1]
    return (mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)).astype(np.float32)
