"""torch's OpenMP runtime in a process that runs the models: one team, and workers that wait briefly, then sleep.

One team: torch runs the parallel part of every operator on an OpenMP team, and GNU OpenMP (the libgomp inside
the torch wheel) keeps a team of worker threads for each thread that ever started one. Once a process holds more
such workers than there are cores, libgomp stops letting an idle worker spin and puts it to sleep after every
parallel region, so each of the hundreds of operators in a forward pass waits for its workers to be woken.
Measured here (2 cores, the embedder on batches of 32, whole handler): 165–170 images/s with one team, 130–145 as
soon as a second thread had run the model too, on either thread; giving the first thread's team back restored it.
The models are built (traced, checked) on the thread that opens them, then run on the in-process client's thread:
the opener calls `release_openmp_workers` once it has handed them over.

Brief waits: with one team, idle workers spin up to ~3 ms by default before sleeping. Alone on the machine that is
fastest; beside any other busy process (the training at nice 10) a spinning worker holds a core while the thread
it waits for is descheduled. Measured with one nice-10 busy loop beside it, the forward pass of a batch of 32 fell
to 24–61 images/s with the default against 76–80 with GOMP_SPINCOUNT=10000 (about 0.1 ms) and 85 with TorchServe's
OMP_WAIT_POLICY=PASSIVE; alone, 10000 and the default both gave 174–179 images/s, while PASSIVE cost 12–20%
through the handler. libgomp reads it once, when torch is first loaded: a script calls `bound_openmp_spinning`
before it imports anything that imports torch.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: release threads, keep nothing else
SPIN_COUNT = "10000"


def bound_openmp_spinning() -> bool:
    """GOMP_SPINCOUNT for the OpenMP runtime torch will load, unless set already; False if it is too late."""
    if "GOMP_SPINCOUNT" in os.environ:
        return True  # set by the operator, or by this process before torch came in
    if "torch" in sys.modules:
        logger.info("torch is already imported: its OpenMP runtime keeps its default spin count")
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True


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
    import torch

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
