"""One index per catalogue under a directory: `<root>/<catalogue id>/index.kidx`.

Readers ask `get(catalogue_id)` for the catalogue's current index and search it. `reload` and `replace` load or
build the new index completely first and then swap the reference in one assignment: searches already running
finish on the old index, the next `get` sees the new one, and nobody waits for a load (no downtime).
A catalogue's directory also holds what works on it, such as a reindex's progress journal.
"""
from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from index import persist
from index.catalogue import CatalogueIndex

INDEX_FILE = "index.kidx"
_CATALOGUE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_catalogue_id(catalogue_id: str) -> str:
    """The id if it is safe as a directory name, else ValueError saying what is allowed."""
    if not isinstance(catalogue_id, str) or not _CATALOGUE_ID.fullmatch(catalogue_id) or ".." in catalogue_id:
        raise ValueError(f"catalogue id {catalogue_id!r} is not allowed: use 1-128 letters, digits, '_', '-' or '.', "
                         "starting with a letter or digit")
    return catalogue_id


class CatalogueStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._indexes: dict[str, CatalogueIndex] = {}
        self._lock = threading.Lock()  # guards the dict and the one-at-a-time loading/saving per store
        self._save_locks: dict[str, threading.Lock] = {}

    def directory(self, catalogue_id: str) -> Path:
        return self.root / check_catalogue_id(catalogue_id)

    def path(self, catalogue_id: str) -> Path:
        return self.directory(catalogue_id) / INDEX_FILE

    def exists(self, catalogue_id: str) -> bool:
        return catalogue_id in self._indexes or self.path(catalogue_id).is_file()

    def catalogues(self) -> list[str]:
        on_disk = {p.parent.name for p in self.root.glob(f"*/{INDEX_FILE}")} if self.root.is_dir() else set()
        return sorted(on_disk | set(self._indexes))

    def get(self, catalogue_id: str) -> CatalogueIndex | None:
        """The catalogue's current index (loaded from disk on first use), or None if it has none."""
        index = self._indexes.get(catalogue_id)
        if index is not None:
            return index
        path = self.path(catalogue_id)
        with self._lock:
            if catalogue_id not in self._indexes and path.is_file():
                self._indexes[catalogue_id] = persist.load(path)
            return self._indexes.get(catalogue_id)

    def get_or_create(self, catalogue_id: str, dim: int) -> CatalogueIndex:
        index = self.get(catalogue_id)
        if index is None:
            with self._lock:
                index = self._indexes.setdefault(catalogue_id, CatalogueIndex(dim))
        if index.dim != dim:
            raise ValueError(f"catalogue {catalogue_id!r} holds {index.dim}-d vectors, not {dim}-d: reindex it")
        return index

    def save(self, catalogue_id: str) -> Path:
        """Write the catalogue's in-memory index to disk (crash-safe; searches go on meanwhile)."""
        index = self._indexes.get(catalogue_id)
        if index is None:
            raise KeyError(f"catalogue {catalogue_id!r} has no index in memory to save")
        with self._save_lock(catalogue_id):
            return persist.save(index, self.path(catalogue_id))

    def replace(self, catalogue_id: str, index: CatalogueIndex) -> Path:
        """Persist `index` as the catalogue's index, then swap it in for readers."""
        with self._save_lock(catalogue_id):
            path = persist.save(index, self.path(catalogue_id))
            self._indexes[catalogue_id] = index
        return path

    def reload(self, catalogue_id: str) -> CatalogueIndex:
        """Load the catalogue's file again (written by another process) and swap it in once fully loaded."""
        index = persist.load(self.path(catalogue_id))
        self._indexes[catalogue_id] = index
        return index

    def drop(self, catalogue_id: str) -> bool:
        """Forget a catalogue and delete its directory; False if it had none."""
        directory = self.directory(catalogue_id)
        with self._save_lock(catalogue_id):
            had = self._indexes.pop(catalogue_id, None) is not None or directory.exists()
            shutil.rmtree(directory, ignore_errors=True)
        return had

    def _save_lock(self, catalogue_id: str) -> threading.Lock:
        with self._lock:
            return self._save_locks.setdefault(catalogue_id, threading.Lock())
