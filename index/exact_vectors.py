"""The exact vectors of a compressed index, on disk: float32 rows in one append-only file, read through a memory map.

Row r holds the vector of FAISS id (slot) r. Slots are never reused, so a row is written once and never changed:
removing a product only takes its ids out of the FAISS index (its rows stay, unreferenced), and rebuilding the
index writes a new file of the live vectors alone (compaction). No per-vector structure lives in RAM: re-ranking
reads the candidates' rows through the map, from the page cache or the disk.

The file of a saved index is `<index file>.<token>.vectors` beside it, named in the index file's metadata, so the
index file's atomic replace (index/persist.py) commits the pair: a new build never writes into the file a running
index reads. A file built before its index is first saved is `.unsaved.<token>.<pid>.vectors` in the directory it
was built for (an anonymous temporary file without one) and takes its saved name by a hard link, not a copy.
"""
from __future__ import annotations

import mmap
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import numpy as np

from index.files import written_whole

SUFFIX = ".vectors"
_WRITE_ROWS = 16_384  # rows per write when a whole index is written (16 MiB at 256-d), not one 1 GB copy


class ExactVectors:
    def __init__(self, handle, dim: int, path: Path | None, token: str) -> None:
        self.dim = dim
        self.path = path  # a name of the open file; None for an anonymous temporary one
        self.token = token
        self._handle = handle
        self._row_bytes = 4 * dim
        self._rows = os.fstat(handle.fileno()).st_size // self._row_bytes
        self._mapped: mmap.mmap | None = None
        self._map: np.ndarray | None = None
        self._remap()

    @classmethod
    def create(cls, dim: int, directory: str | Path | None = None) -> "ExactVectors":
        """An empty file in `directory` (where the index will be saved: saving then links it, no copy), or an
        anonymous temporary file that a save copies."""
        token = secrets.token_hex(8)
        if directory is None:
            return cls(tempfile.TemporaryFile(), dim, None, token)
        path = Path(directory) / f".unsaved.{token}.{os.getpid()}{SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(open(path, "x+b"), dim, path, token)

    @classmethod
    def open(cls, path: Path, dim: int, rows: int) -> "ExactVectors":
        """The saved file at `path`; ValueError if it is missing or holds fewer than `rows` rows."""
        try:
            handle = open(path, "r+b")
        except FileNotFoundError:
            raise ValueError(f"{path} is missing: the compressed index re-ranks from it; rebuild the index from the "
                             "database") from None
        vectors = cls(handle, dim, path, path.name.split(".")[-2])
        if vectors.rows < rows:
            vectors.close()
            raise ValueError(f"{path} holds {vectors.rows} vectors, the index needs {rows}: rebuild the index")
        return vectors

    @property
    def rows(self) -> int:
        return self._rows

    def disk_bytes(self) -> int:
        return self._rows * self._row_bytes

    # -- writing (under the index's write lock) -------------------------------------------------------------

    def write(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors[i] as row rows[i]; the rows must be new and consecutive once sorted (fresh slots)."""
        assert vectors.shape == (len(rows), self.dim) and vectors.dtype == np.float32
        if not len(rows):
            return
        order = np.argsort(rows, kind="stable")
        first = int(rows[order[0]])
        assert int(rows[order[-1]]) - first + 1 == len(rows), "rows of the exact vectors must be consecutive"
        fd = self._handle.fileno()
        for start in range(0, len(rows), _WRITE_ROWS):
            chunk = vectors[order[start:start + _WRITE_ROWS]]
            os.pwrite(fd, chunk.tobytes(), (first + start) * self._row_bytes)
        self._rows = max(self._rows, first + len(rows))
        self._remap()

    def _remap(self) -> None:
        # A new map over the grown file; searches still holding the old one finish on it (both see the same pages).
        if self._rows == 0:
            self._mapped = self._map = None
            return
        mapped = mmap.mmap(self._handle.fileno(), self._rows * self._row_bytes, access=mmap.ACCESS_READ)
        mapped.madvise(mmap.MADV_RANDOM)  # a candidate is one row: reading ahead around it only evicts other pages
        self._mapped, self._map = mapped, np.frombuffer(mapped, dtype=np.float32).reshape(self._rows, self.dim)

    # -- reading (under the index's read lock) -----------------------------------------------------------------

    def read(self, rows: np.ndarray) -> np.ndarray:
        assert self._map is not None and (rows < self._rows).all()
        # Ask for every row first, so that the kernel reads those not in the page cache in parallel rather than
        # one page fault at a time: 100 rows from the disk took 0.8 ms so and 5-11 ms without (0.07 ms more
        # when they are cached; 200,000 rows, a throwaway script).
        fd = self._handle.fileno()
        for row in np.unique(rows).tolist():
            os.posix_fadvise(fd, row * self._row_bytes, self._row_bytes, os.POSIX_FADV_WILLNEED)
        return self._map[rows]

    def rerank(self, queries: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, slots) of each query's candidates, best first by exact inner product; -1 padding stays last."""
        valid = slots >= 0
        if self._map is None or not valid.any():
            return np.full(slots.shape, -np.inf, dtype=np.float32), slots
        rows = np.where(valid, slots, 0)
        scores = np.einsum("qcd,qd->qc", self.read(rows.ravel()).reshape(*rows.shape, self.dim), queries)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(slots, order, axis=1)

    def evict(self) -> None:
        """Drop the file's pages from the page cache (what a query reads then comes from the disk): for benchmarks.
        The kernel keeps pages that are dirty or mapped, so write them back and unmap them from this process first."""
        os.fsync(self._handle.fileno())
        if self._mapped is not None:
            self._mapped.madvise(mmap.MADV_DONTNEED)
        os.posix_fadvise(self._handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    # -- saving (index/persist.py, under the index's read lock) --------------------------------------------------

    def keep_as(self, target: Path) -> None:
        """Make `target` a durable name of this file: already it, a hard link to it, or else (an anonymous or
        deleted file, another file system) a copy that this object then reads and writes instead."""
        mine = os.fstat(self._handle.fileno())
        if not _same_file(target, mine):
            linked = False
            if self.path is not None and _same_file(self.path, mine):
                try:
                    os.link(self.path, target)
                    linked = True
                except OSError:  # another file system, or links not allowed: copy below
                    pass
            if linked:
                if self.path.name.startswith(".unsaved."):
                    self.path.unlink(missing_ok=True)
            else:
                self._adopt(self._copy_to(target))
            self.path = target
        os.fsync(self._handle.fileno())

    def _copy_to(self, target: Path) -> Path:
        with written_whole(target) as out:
            self._handle.seek(0)
            shutil.copyfileobj(self._handle, out, 16 << 20)
        return target

    def _adopt(self, path: Path) -> None:
        previous = self._handle
        self._handle = open(path, "r+b")
        self._remap()
        previous.close()

    def close(self) -> None:
        self._mapped = self._map = None
        self._handle.close()


def _same_file(path: Path, stat: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.stat(path), stat)
    except FileNotFoundError:
        return False
