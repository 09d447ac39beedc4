"""One OpenMP team per process: a thread that hands its models to another thread gives its own workers back.

Why: torch runs the parallel part of every operator on an OpenMP team, and GNU OpenMP (the libgomp inside the
torch wheel) keeps a team of worker threads for each thread that ever started one. Once a process holds more
such workers than there are cores, libgomp stops letting an idle worker spin and puts it to sleep after every
parallel region, so each of the hundreds of operators in a forward pass waits for its workers to be woken.
Measured here (2 cores, the embedder on batches of 32, whole handler): 165–170 images/s with one team, 130–145 as
soon as a second thread had run the model too, on either thread; giving the first thread's team back restored it.
The models are built (traced, checked) on the thread that opens them, then run on the in-process client's thread:
the opener calls this once it has handed them over. Its team comes back by itself if it runs torch again.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: release threads, keep nothing else


def release_openmp_workers() -> bool:
    """Let this thread's OpenMP workers exit (OpenMP 5.0 omp_pause_resource_all); False where that is not possible."""
    pause = _pause_function()
    if pause is None:
        return False
    if pause(OMP_PAUSE_SOFT) != 0:
        logger.warning("OpenMP refused to release this thread's workers: two teams may share the cores")
        return False
    return True


def _pause_function():
    """torch's own OpenMP runtime, only if it is already loaded (RTLD_NOLOAD): never a second copy of it."""
    candidates = [Path(torch.__file__).parent / "lib" / "libgomp.so.1", ctypes.util.find_library("gomp")]
    for candidate in filter(None, candidates):
        try:
            library = ctypes.CDLL(str(candidate), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
            pause = library.omp_pause_resource_all
        except (OSError, AttributeError):
            continue
        pause.argtypes, pause.restype = (ctypes.c_int,), ctypes.c_int
        return pause
    logger.info("no OpenMP runtime with omp_pause_resource_all loaded: threads keep their OpenMP teams")
    return None
