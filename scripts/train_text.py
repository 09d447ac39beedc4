"""Train the text encoder (handlers/text_encoder.py) on the training split of data directories, against the
served image embedding of a checkpoint, and write it where the inference client finds it.

    python -m scripts.train_text ../shared/data/fashion-products ../shared/data/clothing \
        [--checkpoint checkpoints/fashion] [--out checkpoints/fashion-text] [--epochs 40] [--seed 0] \
        [--no-sentence-model]

The bag of words is learned first, then the projection of the packaged sentence model's vectors
(handlers/sentence_model.py; `--no-sentence-model` leaves it out: a bag of words alone, numpy only).
The encoder learns the **joint vector** of each photo (handlers/signals.py: the served embedding beside the heads'
probabilities), which both come from the served-outputs cache (kalas/served_outputs.py: computed once per photo and
checkpoint). Only `kalas.dataset.split`'s training side is learned from; scripts/evaluate_text_search.py scores
the validation side. The encoder records the embedder digest it was trained against: the API refuses to compare
its vectors with another embedder's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from handlers.archive import DEFAULT_CHECKPOINT, weights_digest
from handlers.models.fashion import WEIGHTS_FILE
from handlers.sentence_model import SentenceModel
from handlers.signals import JOINT_WEIGHT, joint, signal_terms, signals
from handlers.taxonomy import load_taxonomy
from kalas.dataset import read_records, split
from kalas.provenance import git_commit, portable_path
from kalas.served_outputs import served_outputs
from kalas.text_training import describe, train_text_encoder

DEFAULT_OUT = DEFAULT_CHECKPOINT.with_name("fashion-text")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", nargs="+", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="the image model whose embedding space to learn")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sentence-model", action="store_true",
                        help="the bag of words alone, without the packaged sentence model's projection")
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy()
    photos, vectors, data = [], [], []
    for data_dir in args.data_dirs:
        train, _ = split(read_records(data_dir))
        outputs = served_outputs(train, data_dir, args.checkpoint)
        embeddings = joint(outputs["embedding"], signals(outputs))
        photos += [describe(record, len(photos) + i, taxonomy) for i, record in enumerate(train)]  # rows of all dirs
        vectors.append(embeddings)
        data.append({"dir": portable_path(data_dir), "train": len(train)})
    started = time.perf_counter()
    encoder = train_text_encoder(photos, np.concatenate(vectors), weights_digest(args.checkpoint / WEIGHTS_FILE),
                                 epochs=args.epochs, seed=args.seed,
                                 sentence=None if args.no_sentence_model else SentenceModel.load())
    seconds = time.perf_counter() - started
    checkpoint_meta = json.loads((args.checkpoint / "meta.json").read_text(encoding="utf-8"))
    encoder.meta.update({"space": {"embedding_dim": int(checkpoint_meta["embedding_dim"]), "joint_weight": JOINT_WEIGHT,
                                   "signal_terms": signal_terms(checkpoint_meta)},
                         "data": data, "checkpoint": portable_path(args.checkpoint), "git_commit": git_commit(),
                         "train_seconds": round(seconds, 1),
                         "command": " ".join(["python -m scripts.train_text", *(sys.argv[1:] if argv is None else argv)])})
    files = encoder.save(args.out)
    print(json.dumps({"out": str(args.out), "tokens": len(encoder.vocabulary), "train_seconds": round(seconds, 1),
                      "bytes": sum(f.stat().st_size for f in files)}))


if __name__ == "__main__":
    main()
