"""What the benchmarks share: for the database ones (`scripts/bench_changes.py`, `bench_idempotency.py`,
`bench_limits.py`, `bench_lists.py`, `bench_nx_reads.py`) their command line, a database to measure on and latency
figures; for the model ones their JSON report (`report_json`); for all, the machine's load around the run, which
every figure is reported with (docs/benchmarks.md)."""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kalas.stack import mongo


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A database benchmark's command line: its module docstring as the help, and `--mongo-uri`."""
    found = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--mongo-uri", help="a running server (default: a fresh nx-27017)")
    return found


@dataclass(frozen=True)
class Scratch:
    uri: str  # the database server to measure on
    home: Path  # a directory removed afterwards


@contextmanager
def database(uri: str | None, name: str) -> Iterator[Scratch]:
    """The server at `uri`, or a fresh nx-27017 in a scratch directory, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"kalas-bench-{name}-") as home:
        with mongo.given_or_fresh(uri, Path(home)) as found:
            yield Scratch(found, Path(home))


def latency_figures(times: dict[str, list[float]]) -> dict[str, dict]:
    """p50 and p95 in milliseconds, and how many, of each named list of seconds."""
    return {name: {"p50_ms": round(float(np.percentile(t, 50)) * 1e3, 4),
                   "p95_ms": round(float(np.percentile(t, 95)) * 1e3, 4), "requests": len(t)}
            for name, t in times.items()}


def report_json(figures: dict, path: Path | None) -> dict:
    """`figures` with the load average at the end (`load_after`), printed as JSON and written to `path` when given
    (the model benchmarks' way: `scripts/bench_backbones.py`, `bench_precision.py`)."""
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(figures, indent=1)
    print(text)
    if path is not None:
        path.write_text(text + "\n")
    return figures


@dataclass
class Load:
    """The one-minute load average when the run began, and (`figures`, `says`) when it ended."""
    start: float = field(default_factory=lambda: os.getloadavg()[0])

    def figures(self) -> dict[str, float | int | None]:
        return {"start": round(self.start, 2), "end": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}

    def says(self) -> str:
        found = self.figures()
        return f"load average {found['start']:.2f} at start, {found['end']:.2f} at end, {found['cores']} cores"
