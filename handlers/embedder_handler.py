"""TorchServe handler of `fashion-embedder`: one L2-normalised retrieval embedding per image.

Answers `{"embedding": [...], "dim": D, "model": {...}, "signals": [...]}` (docs/architecture.md, "Embedding");
D is the archive's `embedding_dim` setting and is checked against the model's output. `signals` (the heads'
probabilities, handlers/signals.py; none from an MMFashion model) is what a shop's own model reads beside the
embedding, stored with the catalogue's products.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from PIL import Image

from handlers.base_handler import ImageBatchHandler


class EmbedderHandler(ImageBatchHandler):
    def setup(self, model_dir: Path) -> None:
        self.dim = int(self.settings["embedding_dim"])

    def answer(self, outputs: dict, row: int, image: Image.Image) -> dict:
        embedding = F.normalize(outputs["embedding"][row].float(), dim=0)
        if embedding.numel() != self.dim:
            raise ValueError(f"the model gave a {embedding.numel()}-d embedding; the archive says {self.dim}")
        return {"embedding": embedding.tolist(), "dim": self.dim, "model": self.identity}
