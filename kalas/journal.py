"""The progress journal of a reindex: what has been embedded (or skipped) so far, so a rerun does not redo it.

One JSON line per image, appended and fsynced after every batch:
    {"product": "...", "image": "...", "category": "...", "vector": "<base64 float32>"}
    {"product": "...", "image": "...", "skipped": "<why>"}
A crash can cut the last line short; opening the journal drops that torn tail and carries on after it.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Entry:
    category: str | None
    vector: np.ndarray | None  # None when skipped
    skipped: str | None = None


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[tuple[str, str], Entry] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._read()
        self._handle = open(path, "ab")

    def _read(self) -> None:
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1  # bytes after the last newline are a torn line
        for line in data[:good].splitlines():
            record = json.loads(line)
            key = (record["product"], record["image"])
            if "skipped" in record:
                self.entries[key] = Entry(record.get("category"), None, record["skipped"])
            else:
                vector = np.frombuffer(base64.b64decode(record["vector"]), dtype=np.float32)
                self.entries[key] = Entry(record.get("category"), vector)
        if good < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(good)

    def record(self, key: tuple[str, str], category: str | None, vector: np.ndarray) -> None:
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        self._write({"product": key[0], "image": key[1], "category": category,
                     "vector": base64.b64encode(vector.tobytes()).decode("ascii")})
        self.entries[key] = Entry(category, vector)

    def skip(self, key: tuple[str, str], category: str | None, reason: str) -> None:
        self._write({"product": key[0], "image": key[1], "category": category, "skipped": reason})
        self.entries[key] = Entry(category, None, reason)

    def _write(self, record: dict) -> None:
        self._handle.write(json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n")

    def sync(self) -> None:
        """Make what was written so far survive a crash (called once per batch)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
