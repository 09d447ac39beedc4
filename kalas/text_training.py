"""Learning the text encoder (handlers/text_encoder.py) against the served image embedding, which stays frozen.

Two kinds of (text, photo) examples, from the training split only:
- a product's title and its own photo (fashion-products has titles): the photo is the one right answer;
- a short phrase of the taxonomy's names for a photo's labels ("Men Striped T-Shirt", "navy blue", "Footwear"),
  drawn afresh each epoch from its category (the leaf's name, its groups' names, the data set's own label),
  colour, gender and pattern: every photo in the batch whose labels include all the phrase names is right.
The loss is a softmax over the batch's photos against the share of right photos (a CLIP-style contrastive loss
with several positives). The bag of words' matrix is learned first; then, with a sentence model, the linear map
of its sentence vectors into the same space, on the same kinds of examples and loss (`train_projection`). The
photos' side is their joint vector (handlers/signals.py), fixed. Everything is seeded and runs on one CPU thread
with deterministic kernels, so the same data gives the same encoder bit for bit.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from handlers.sentence_model import DIM as SENTENCE_DIM
from handlers.sentence_model import NAME as SENTENCE_NAME
from handlers.sentence_model import SentenceModel
from handlers.taxonomy import Taxonomy
from handlers.text_encoder import SENTENCE_WEIGHT, TextEncoder, tokens
from kalas.dataset import Record

SCALE = 20.0  # logit scale of the contrastive softmax (a temperature of 0.05)


@dataclass(frozen=True)
class Photo:
    """A training photo: its served embedding's row, its title (may be empty) and the terms its labels satisfy."""

    row: int
    title: str
    terms: frozenset[str]               # "category:tees", "colour:navy", ...: what a phrase may ask of it
    names: dict[str, list[tuple[str, str]]]  # per label kind, (a name a shop might type, the term it asks)


def describe(record: Record, row: int, taxonomy: Taxonomy) -> Photo:
    mapping = taxonomy.detect(["id", *record.labels])
    annotation = mapping.annotate(record.labels, unknown=Counter())
    terms: set[str] = set()
    names: dict[str, list[tuple[str, str]]] = {}
    if annotation.category is not None:
        chain = taxonomy.ancestors(annotation.category)
        terms |= {f"category:{c}" for c in chain + taxonomy.leaves_under(annotation.category)}
        names["category"] = [(taxonomy.name(c), f"category:{c}") for c in chain]
        raw = record.labels.get(mapping.category.column, "") if mapping.category else ""
        if raw:
            names["category"].append((raw, f"category:{annotation.category}"))
    if annotation.colour is not None:
        terms.add(f"colour:{annotation.colour}")
        colour_names = {c.label: c.name for c in taxonomy.colours}
        names["colour"] = [(colour_names[annotation.colour], f"colour:{annotation.colour}")]
        raw = record.labels.get(mapping.colour.column, "") if mapping.colour else ""
        if raw:
            names["colour"].append((raw, f"colour:{annotation.colour}"))
    for group in ("gender", "pattern"):
        value = annotation.attributes.get(group)
        if value is not None:
            terms.add(f"{group}:{value}")
            names[group] = [(next(t.name for t in taxonomy.attributes[group] if t.label == value), f"{group}:{value}")]
    return Photo(row, record.labels.get("title", "").strip(), frozenset(terms), names)


def phrase(photo: Photo, rng: random.Random) -> tuple[str, frozenset[str]]:
    """A random phrase of names for `photo`'s labels, and the terms a photo must satisfy to answer it."""
    kinds = [k for k in ("gender", "colour", "pattern", "category") if k in photo.names]
    chosen = [k for k in kinds if rng.random() < 0.5] or [rng.choice(kinds)]
    picks = [rng.choice(photo.names[k]) for k in chosen]
    return " ".join(name for name, _ in picks), frozenset(term for _, term in picks)


def vocabulary_of(photos: list[Photo], min_count: int) -> dict[str, int]:
    """Every token of a title seen at least `min_count` times, and every token of every name."""
    counts = Counter(t for p in photos if p.title for t in set(tokens(p.title)))
    kept = {t for t, n in counts.items() if n >= min_count}
    kept |= {t for p in photos for options in p.names.values() for name, _ in options for t in tokens(name)}
    return {t: i for i, t in enumerate(sorted(kept))}


class _Examples:
    """The training photos' fixed side and, per epoch, the (text, terms asked, photo) examples in batches."""

    def __init__(self, photos: list[Photo], embeddings: np.ndarray, seed: int, phrases_per_photo: int) -> None:
        self.photos, self.phrases_per_photo = photos, phrases_per_photo
        self.term_index = {t: i for i, t in enumerate(sorted({t for p in photos for t in p.terms}))}
        self.photo_terms = torch.zeros(len(photos), len(self.term_index))
        for i, p in enumerate(photos):
            self.photo_terms[i, [self.term_index[t] for t in p.terms]] = 1.0
        self.images = torch.from_numpy(np.ascontiguousarray(embeddings[[p.row for p in photos]], dtype=np.float32))
        self.rng = random.Random(seed)
        self.titled = [i for i, p in enumerate(photos) if p.title]

    def epoch(self) -> list[tuple[str, frozenset[str] | None, int]]:
        """(text, the terms it asks, or None for a title, whose own photo is its one answer; the photo), shuffled."""
        examples = [(self.photos[i].title, None, i) for i in self.titled]
        examples += [(*phrase(p, self.rng), i) for i, p in enumerate(self.photos)
                     for _ in range(self.phrases_per_photo) if p.names]
        self.rng.shuffle(examples)
        return examples

    def loss(self, queries: torch.Tensor, batch: list) -> torch.Tensor:
        """The contrastive loss of the batch's unit query vectors against the batch's photos. Right answers: a
        title's own photo; for a phrase, every photo of the batch that has all the terms it asks."""
        asked = torch.zeros(len(batch), len(self.term_index))
        for row, (_, terms, _) in enumerate(batch):
            if terms is not None:
                asked[row, [self.term_index[t] for t in terms]] = 1.0
        rows = torch.tensor([i for _, _, i in batch])
        counts = asked.sum(dim=1, keepdim=True)
        right = torch.where(counts > 0, (asked @ self.photo_terms[rows].T == counts).float(), torch.eye(len(batch)))
        return F.cross_entropy(SCALE * queries @ self.images[rows].T, right / right.sum(dim=1, keepdim=True))


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """The block seeded, on one thread, with deterministic kernels; torch's settings put back after."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)


def _learn(module: torch.nn.Module, examples: _Examples, queries, epochs: int, batch_size: int, lr: float) -> None:
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(epochs):
        texts = examples.epoch()
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            loss = examples.loss(F.normalize(queries(batch), dim=1), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def train_text_encoder(photos: list[Photo], embeddings: np.ndarray, embedder_digest: str, *, epochs: int = 40,
                       batch_size: int = 1024, lr: float = 0.05, seed: int = 0, min_count: int = 2,
                       phrases_per_photo: int = 2, sentence: SentenceModel | None = None) -> TextEncoder:
    """The encoder learned from `photos` (their rows of `embeddings`, [N, D] L2-normalised, stay fixed): its bag
    of words, and with `sentence` its projection of that model's vectors (`train_projection`)."""
    vocabulary = vocabulary_of(photos, min_count)
    with _deterministic(seed):
        examples = _Examples(photos, embeddings, seed, phrases_per_photo)
        table = torch.nn.EmbeddingBag(len(vocabulary), examples.images.shape[1], mode="mean")
        torch.nn.init.normal_(table.weight, std=0.01)

        def queries(batch: list) -> torch.Tensor:
            ids, offsets = [], []
            for text, _, _ in batch:
                offsets.append(len(ids))
                ids.extend(vocabulary[t] for t in tokens(text) if t in vocabulary)
            return table(torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long))

        _learn(table, examples, queries, epochs, batch_size, lr)
        weights = table.weight.detach().numpy().astype(np.float32)
    meta = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "min_count": min_count,
            "phrases_per_photo": phrases_per_photo, "photos": len(photos), "dim": int(weights.shape[1])}
    if sentence is None:
        return TextEncoder(vocabulary, weights, embedder_digest, meta)
    projection, settings = train_projection(photos, embeddings, sentence, seed=seed, batch_size=batch_size,
                                            phrases_per_photo=phrases_per_photo)
    meta["sentence"] = {"name": SENTENCE_NAME, "digest": sentence.digest, "weight": SENTENCE_WEIGHT, **settings}
    return TextEncoder(vocabulary, weights, embedder_digest, meta, projection, sentence)


def train_projection(photos: list[Photo], embeddings: np.ndarray, sentence: SentenceModel, *, epochs: int = 20,
                     batch_size: int = 1024, lr: float = 1e-3, seed: int = 0, phrases_per_photo: int = 2
                     ) -> tuple[np.ndarray, dict]:
    """([sentence dim + 1, D] the linear map of `sentence`'s vectors into the photos' space, last row the bias;
    its settings). Each distinct text is encoded once (the phrases repeat across epochs)."""
    vectors: dict[str, np.ndarray] = {}
    with _deterministic(seed):
        examples = _Examples(photos, embeddings, seed, phrases_per_photo)
        linear = torch.nn.Linear(SENTENCE_DIM, examples.images.shape[1])

        def queries(batch: list) -> torch.Tensor:
            missing = list(dict.fromkeys(text for text, _, _ in batch if text not in vectors))
            vectors.update(zip(missing, sentence.encode(missing)))
            return linear(torch.from_numpy(np.stack([vectors[text] for text, _, _ in batch])))

        _learn(linear, examples, queries, epochs, batch_size, lr)
        projection = np.concatenate([linear.weight.detach().numpy().T, linear.bias.detach().numpy()[None, :]])
    return projection.astype(np.float32), {"epochs": epochs, "lr": lr, "texts": len(vectors)}
