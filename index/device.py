"""Where FAISS searches run: OpenMP threads per query, and a GPU replica when FAISS sees a GPU.

OpenMP's thread count is per calling thread (libgomp keeps it in the thread's own state), so it must be set
on the thread that searches, not once at start-up: a web server searches from its worker threads. On 2 cores
OpenMP made a single 100k flat query about 6x slower than one thread (docs, "FAISS").
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

import faiss

logger = logging.getLogger(__name__)


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """Run the block with `n` OpenMP threads on this thread, then put this thread's setting back.

    Putting it back matters: torch shares the same OpenMP runtime, and a thread left at one OpenMP thread after a
    search would run its next forward pass on one core (seen in bench_retrieval before this restored it).
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def batch_threads() -> int:
    """Threads for a batch of queries: every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def gpu_count() -> int:
    # faiss-cpu has get_num_gpus too (it answers 0); guard for builds without it.
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def search_replica(index: faiss.Index) -> faiss.Index | None:
    """A GPU copy of `index` for searching, or None on CPU-only machines or when the copy fails.

    The CPU index stays the master (mutations and persistence); the caller drops the replica on every change.
    """
    if gpu_count() == 0:
        return None
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except RuntimeError as error:  # an index type without a GPU version: search on the CPU instead
        logger.warning("FAISS sees %d GPU(s) but could not copy the index there (%s); searching on CPU",
                       gpu_count(), error)
        return None
