"""Seeded embeddings with real neighbour structure, for index tests and the retrieval benchmark.

Uniformly random vectors in 256 dimensions have no neighbours to speak of (every pair is nearly orthogonal), so an
approximate index looks either perfect or hopeless on them. These are drawn the way product embeddings fall:
`n_clusters` directions (article types), clusters of unequal size, and each vector its cluster's direction plus
isotropic noise of norm about `noise`, L2-normalised. Generated in chunks: 1M×256 float32 is 1 GB, no more.
"""
from __future__ import annotations

import numpy as np


class ClusteredVectors:
    def __init__(self, dim: int, n_clusters: int, *, noise: float = 0.8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.noise = noise
        self.centres = _normalised(rng.standard_normal((n_clusters, dim), dtype=np.float32))
        # Unequal cluster sizes, as article types are (a few large ones, a long tail).
        self.weights = rng.dirichlet(np.full(n_clusters, 0.7))
        self._seed = seed

    def sample(self, n: int, *, stream: int = 0, chunk: int = 131_072) -> tuple[np.ndarray, np.ndarray]:
        """(vectors [n, dim] float32, cluster of each); `stream` picks an independent draw (gallery 0, queries 1)."""
        rng = np.random.default_rng([self._seed, stream])
        clusters = rng.choice(len(self.centres), size=n, p=self.weights)
        out = np.empty((n, self.dim), dtype=np.float32)
        scale = np.float32(self.noise / np.sqrt(self.dim))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = rng.standard_normal((stop - start, self.dim), dtype=np.float32)
            block *= scale
            block += self.centres[clusters[start:stop]]
            out[start:stop] = _normalised(block)
        return out, clusters


def _normalised(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x
