"""Saving and loading a CatalogueIndex as ONE file, crash-safely.

Layout: MAGIC, an 8-byte little-endian length, the metadata as JSON (naming the arrays that follow, their dtype and
length), the slots' arrays' bytes (index/slots.py), then the FAISS index as `faiss.write_index` writes it (streamed
through a callback writer, so a 1 GB index is not copied in memory first). Files of the earlier formats still load:
the first kept the slots as JSON lists in the metadata, the second a count per product and an owner per slot.

A save writes a temporary file in the same directory, fsyncs it, `os.replace`s it over the target and fsyncs the
directory: a crash at any moment leaves either the previous file or the new one, never a torn one. Temporary
files are named `.<name>.<pid>.tmp`; one left by a killed process is ignored by `load` and removed by `save`.

A compressed index's exact vectors live in a second file beside it, `<name>.<token>.vectors`, which the metadata
names (index/exact_vectors.py): that file is made durable first, and the index file's replace commits the pair.
Once committed, the directory's other vector files of that index go (a rebuilt index leaves no old file behind).
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import faiss
import numpy as np

from index.catalogue import CatalogueIndex
from index.exact_vectors import SUFFIX, ExactVectors
from index.files import process_alive, written_whole

MAGIC = b"KALAS-IRIS-INDEX/3\n"
SECOND_FORMAT = b"KALAS-IRIS-INDEX/2\n"  # the slots' arrays with an owner per slot (index/slots.py `from_arrays`)
FIRST_FORMAT = b"KALAS-IRIS-INDEX/1\n"


def save(index: CatalogueIndex, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temporaries(path)
    with index.reading(), written_whole(path) as handle:
        meta, arrays, faiss_index = index.snapshot()
        exact = index.exact_vectors
        if exact is not None:
            meta["exact_vectors"] = f"{path.name}.{exact.token}{SUFFIX}"
            exact.keep_as(path.parent / meta["exact_vectors"])
        meta["arrays"] = [[name, array.dtype.str, len(array)] for name, array in arrays.items()]
        header = json.dumps(meta, separators=(",", ":")).encode("utf-8")
        handle.write(MAGIC + struct.pack("<Q", len(header)) + header)
        for array in arrays.values():
            handle.write(np.ascontiguousarray(array).tobytes())
        faiss.write_index(faiss_index, faiss.PyCallbackIOWriter(handle.write))
    _fsync_directory(path.parent)
    _remove_stale_vectors(path, keep=meta.get("exact_vectors"))
    return path


def load(path: str | Path) -> CatalogueIndex:
    """The index saved at `path`; ValueError saying what is wrong with a file that is not one."""
    path = Path(path)
    with open(path, "rb") as handle:
        magic = handle.read(len(MAGIC))
        if magic not in (MAGIC, SECOND_FORMAT, FIRST_FORMAT):
            raise ValueError(f"{path} is not a Kalas-Iris index file (wrong magic bytes)")
        (length,) = struct.unpack("<Q", handle.read(8))
        try:
            meta = json.loads(handle.read(length))
        except ValueError as error:
            raise ValueError(f"{path} has unreadable metadata: {error}") from None
        arrays = _read_arrays(handle, meta.get("arrays", []), path) if magic != FIRST_FORMAT else None
        try:
            faiss_index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
        except RuntimeError as error:
            raise ValueError(f"{path} has an unreadable FAISS index: {error}") from None
    exact = None
    if meta.get("exact_vectors"):
        exact = ExactVectors.open(path.parent / meta["exact_vectors"], meta["dim"], meta["next_slot"])
    return CatalogueIndex.restore(meta, arrays, faiss_index, exact)


def _read_arrays(handle, described: list, path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for name, dtype, length in described:
        kind = np.dtype(dtype)
        data = handle.read(kind.itemsize * length)
        if len(data) != kind.itemsize * length:
            raise ValueError(f"{path} ends inside its {name!r} array: the file is cut short")
        arrays[name] = np.frombuffer(data, dtype=kind).copy()
    return arrays


def _fsync_directory(directory: Path) -> None:
    # The rename itself lives in the directory: without this a power cut can forget it.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_vectors(path: Path, keep: str | None) -> None:
    """The directory's vector files of this index other than `keep`, and unsaved ones of dead processes. An index
    still running on a removed file keeps reading it (its map holds the file) and copies it back if saved again."""
    for stale in path.parent.glob(f"{path.name}.*{SUFFIX}"):
        if stale.name != keep:
            stale.unlink(missing_ok=True)
    for unsaved in path.parent.glob(f".unsaved.*{SUFFIX}"):
        pid = unsaved.name.split(".")[-2]
        if pid.isdigit() and not process_alive(int(pid)):
            unsaved.unlink(missing_ok=True)


def _remove_dead_temporaries(path: Path) -> None:
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        pid = temporary.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not process_alive(int(pid)):
            temporary.unlink(missing_ok=True)
