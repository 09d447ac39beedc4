"""A thread that releases its OpenMP workers leaves one team fewer in the process; torch then runs as before."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: this process's threads and teams depend on whatever ran before in the session.
PROBE = """
import os, time
import torch
from handlers.openmp_pool import release_openmp_workers

def threads():
    return len(os.listdir("/proc/self/task"))

def parallel_sum():
    x = torch.ones(4_000_000)
    return float((x + x).sum())  # large enough for torch to run it on its OpenMP team

torch.set_num_threads(2)
alone = threads()
parallel_sum()
with_team = threads()
released = release_openmp_workers()
deadline = time.monotonic() + 5
while threads() > alone and time.monotonic() < deadline:
    time.sleep(0.01)
after_release = threads()
total = parallel_sum()
print(alone, with_team, released, after_release, threads(), total)
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through /proc")
def test_release_lets_this_threads_openmp_workers_exit_and_torch_starts_a_team_again():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    alone, with_team, released, after_release, again, total = done.stdout.split()
    assert int(with_team) == int(alone) + 1  # two threads: this one and one worker
    assert released == "True"
    assert int(after_release) == int(alone)
    assert int(again) == int(with_team) and float(total) == 8_000_000.0


def run_clean(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_spin_bound_is_set_before_torch_comes_in_and_refused_after():
    before = run_clean("from handlers.openmp_pool import bound_openmp_spinning as b; bound = b(); import os, torch;"
                       "print(bound, os.environ['GOMP_SPINCOUNT'])")
    assert before == "True 10000"
    after = run_clean("import os, torch; from handlers.openmp_pool import bound_openmp_spinning as b;"
                      "print(b(), 'GOMP_SPINCOUNT' in os.environ)")
    assert after == "False False"


def test_the_reindex_script_and_its_benchmark_bound_spinning_before_importing_torch():
    # Importing them sets nothing and loads no torch; running them bounds the spinning before torch comes in: the
    # reindex where it opens its inference client (an in-process one loads torch), the benchmark first in main().
    for module in ("scripts.reindex", "scripts.bench_retrieval"):
        assert run_clean(f"import os, sys, {module}; print('GOMP_SPINCOUNT' in os.environ, 'torch' in sys.modules)") \
            == "False False"
    opened = run_clean("import argparse, os, sys; from scripts.reindex import open_client;"
                       "open_client(argparse.Namespace(torchserve='http://127.0.0.1:9', model_store=None, checkpoint=None));"
                       "print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)")
    assert opened == "10000 False"
    benchmark = run_clean("import os, sys; from scripts.bench_retrieval import main\n"
                          "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                          "print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)")
    assert benchmark.splitlines()[-1] == "10000 False"
