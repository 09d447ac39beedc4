"""With the malloc settings, a block the size of a batch's activations comes from the heap on any thread, not mmap."""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: the settings are process-wide and stay once applied, so this process may have them.
PROBE = """
import ctypes, sys, threading
import numpy as np

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    from handlers.malloc_tuning import keep_activations_in_heap
    assert keep_activations_in_heap()
mmapped = []

def allocate():
    before = libc.mallinfo2().hblkhd  # bytes held in mmapped blocks
    block = np.ones(150 * 2**20, dtype=np.uint8)  # what one layer of a batch of 32 needs
    mmapped.append(libc.mallinfo2().hblkhd - before)
    del block

allocate()
worker = threading.Thread(target=allocate)
worker.start()
worker.join()
print(*mmapped)
"""

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")


def mmapped_bytes(mode: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [int(n) for n in done.stdout.split()]


def test_tuned_a_large_block_comes_from_the_heap_on_every_thread():
    assert mmapped_bytes("tuned") == [0, 0]
