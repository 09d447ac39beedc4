"""Score text search on any directory in the shared-data layout, by the protocol of Marqo's fashion leaderboard.

    python -m scripts.evaluate_text_search DATA_DIR [--all] [--json PATH] [--encoder checkpoints/fashion-text]

Gallery: the photos of DATA_DIR's validation split (`kalas.dataset.split`; the text encoder never learned from
them), or every photo with `--all`, each as its served embedding and signals (kalas/served_outputs.py,
handlers/signals.py). Queries are scored by the very function the API scores a catalogue's photos with
(api/domain/text_search.py `photo_scores`: the encoder's vector against each photo's joint vector, plus the photos'
own probabilities of the taxonomy terms a query made only of such names asks for); titles are never indexed as
text here, so every figure is the photos' alone.
- category_to_product: one query per category, its name as the data set writes it ("Tshirts", "Casual Shoes",
  "T-Shirt"); relevant: the photos of that category. P@1 and P@10 (right answers in the top k / k, as BEIR counts
  them for Marqo's leaderboard), averaged over the categories with at least 10 photos in the gallery, whose top
  10 can be all right; `all_labels` gives the same over every category.
- colour_to_product: one query per colour name ("Navy Blue"); relevant: photos of that colour. P@1, likewise.
- title_to_image: each gallery photo's title is a query and the photo itself its one answer. R@1 and R@10.
A data set without colours or titles (clothing) gets only the figures its labels allow.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from api.domain.text_search import photo_scores, query_terms, rank_photos
from handlers.archive import DEFAULT_CHECKPOINT
from handlers.taxonomy import load_taxonomy
from handlers.signals import signals
from handlers.text_encoder import TextEncoder
from kalas.dataset import read_records, split
from kalas.served_outputs import served_outputs
from scripts.train_text import DEFAULT_OUT

MIN_RELEVANT = 10


def precision_at(ranked: np.ndarray, relevant: np.ndarray, k: int) -> float:
    return float(relevant[ranked[:k]].mean())


def by_name(records: list, column: str | None) -> dict[str, np.ndarray]:
    """{a label as the data set writes it: the gallery rows that carry it}."""
    rows: dict[str, list[int]] = defaultdict(list)
    if column:
        for i, record in enumerate(records):
            if value := (record.labels.get(column) or "").strip():
                rows[value].append(i)
    return {name: np.array(found) for name, found in rows.items()}


class Gallery:
    """The photos a query is ranked against: their embeddings and signals."""

    def __init__(self, embeddings: np.ndarray, signal_rows: np.ndarray | None) -> None:
        self.embeddings, self.signals = embeddings.astype(np.float32), signal_rows

    def __len__(self) -> int:
        return len(self.embeddings)

    def rank(self, encoder: TextEncoder, text: str, k: int) -> np.ndarray:
        query = encoder.query(text)
        scores = photo_scores(query, query_terms(text), self.embeddings @ query.photo_vector, self.signals)
        return rank_photos(scores, k)


def label_queries(encoder: TextEncoder, gallery: Gallery, groups: dict[str, np.ndarray], ks: tuple[int, ...]) -> dict:
    """P@k averaged over the labels with at least `MIN_RELEVANT` photos in the gallery (a label with fewer cannot
    fill the top 10), and under `all_labels` the same over every label (P@k = right answers in the top k / k)."""
    scores: dict[str, list[float]] = {f"p@{k}": [] for k in ks}
    every: dict[str, list[float]] = {f"p@{k}": [] for k in ks}
    for name, rows in sorted(groups.items()):
        relevant = np.zeros(len(gallery), dtype=bool)
        relevant[rows] = True
        ranked = gallery.rank(encoder, name, max(ks))
        for k in ks:
            every[f"p@{k}"].append(precision_at(ranked, relevant, k))
            if len(rows) >= MIN_RELEVANT:
                scores[f"p@{k}"].append(every[f"p@{k}"][-1])
    mean = lambda values: round(float(np.mean(values)), 4) if values else None  # noqa: E731
    return {"queries": len(scores[f"p@{ks[0]}"]), **{key: mean(v) for key, v in scores.items()},
            "all_labels": {"queries": len(groups), **{key: mean(v) for key, v in every.items()}}}


def title_queries(encoder: TextEncoder, gallery: Gallery, titles: list[str]) -> dict:
    rows = [i for i, title in enumerate(titles) if title]
    if not rows:
        return {}
    hits = {1: 0, 10: 0}
    for row in rows:
        ranked = gallery.rank(encoder, titles[row], 10)
        for k in hits:
            hits[k] += int(row in ranked[:k])
    return {"queries": len(rows), **{f"r@{k}": round(n / len(rows), 4) for k, n in hits.items()}}


def evaluate(data_dir: Path, encoder: TextEncoder, checkpoint: Path, use_all: bool) -> dict:
    records = read_records(data_dir)
    gallery_records = records if use_all else split(records)[1]
    outputs = served_outputs(gallery_records, data_dir, checkpoint)
    gallery = Gallery(outputs["embedding"], signals(outputs))
    mapping = load_taxonomy().detect(["id", *records[0].labels])
    report = {"data": str(data_dir), "gallery": len(gallery_records), "split": "all" if use_all else "validation",
              "encoder": {k: encoder.meta.get(k) for k in ("git_commit", "epochs", "seed")}}
    category_column = mapping.category.column if mapping.category else None
    report["category_to_product"] = label_queries(encoder, gallery, by_name(gallery_records, category_column), (1, 10))
    colours = by_name(gallery_records, mapping.colour.column if mapping.colour else None)
    if colours:
        report["colour_to_product"] = label_queries(encoder, gallery, colours, (1,))
    titles = title_queries(encoder, gallery, [(r.labels.get("title") or "").strip() for r in gallery_records])
    if titles:
        report["title_to_image"] = titles
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--all", action="store_true", help="the gallery is every photo, not the validation split")
    parser.add_argument("--encoder", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="the image model the encoder was trained against")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = evaluate(args.data_dir, TextEncoder.load(args.encoder), args.checkpoint, args.all)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
