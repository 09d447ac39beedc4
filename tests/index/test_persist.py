"""Saving and loading, and what a crash in the middle of a save leaves behind (a real child process, SIGKILLed)."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from index import CatalogueIndex, load, save
from kalas.synthetic_vectors import ClusteredVectors

ROOT = Path(__file__).resolve().parents[2]


def sample_index(kind: str, n: int = 3000, dim: int = 32) -> tuple[CatalogueIndex, np.ndarray]:
    vectors, clusters = ClusteredVectors(dim, 10, seed=1).sample(n)
    products = [f"p{i // 2}" for i in range(n)]
    index = CatalogueIndex.build(dim, products, vectors, images=[f"img{i}" for i in range(n)],
                                 categories=[f"c{clusters[i - i % 2]}" for i in range(n)], kind=kind)
    queries, _ = ClusteredVectors(dim, 10, seed=1).sample(10, stream=1)
    return index, queries


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_a_saved_index_loads_with_the_same_answers_and_stays_mutable(tmp_path: Path, kind: str) -> None:
    index, queries = sample_index(kind)
    index.remove("p3")
    index.upsert("p4", queries[:1], images=["new"], category="c0")
    save(index, tmp_path / "index.kidx")
    loaded = load(tmp_path / "index.kidx")
    assert (loaded.kind, loaded.dim, len(loaded), loaded.n_vectors) == (kind, 32, len(index), index.n_vectors)
    assert loaded.search_many(queries, k=10) == index.search_many(queries, k=10)
    assert loaded.search_many(queries, k=10, category="c0") == index.search_many(queries, k=10, category="c0")
    # Slot numbering continues where it stopped: a new image cannot collide with a stored one.
    loaded.upsert("p5", queries[1:2])
    loaded.upsert("p6", queries[2:3])
    assert [h.product_id for h in loaded.search(queries[1], k=1)] == ["p5"]
    assert loaded.vectors_of("p4").keys() == {"new"}
    assert list(tmp_path.iterdir()) == [tmp_path / "index.kidx"]


def test_files_that_are_not_indexes_are_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"not an index at all")
    with pytest.raises(ValueError, match="not a Kalas-Iris index file"):
        load(tmp_path / "junk")
    index, _ = sample_index("flat", n=100)
    save(index, tmp_path / "cut.kidx")
    data = (tmp_path / "cut.kidx").read_bytes()
    (tmp_path / "cut.kidx").write_bytes(data[: len(data) - 1000])
    with pytest.raises(ValueError, match="unreadable FAISS index"):
        load(tmp_path / "cut.kidx")


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from index import CatalogueIndex, save
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((150_000, 128), dtype=np.float32)
    index = CatalogueIndex.build(128, [f"new-{i}" for i in range(len(vectors))], vectors, kind="flat")
    print("saving", flush=True)
    for _ in range(20):  # keeps saving until killed
        save(index, sys.argv[1])
    print("saved", flush=True)
""")


@pytest.mark.slow
def test_a_process_killed_during_a_save_leaves_the_previous_index_loadable(tmp_path: Path) -> None:
    path = tmp_path / "index.kidx"
    previous, queries = sample_index("flat", n=500)
    save(previous, path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in tmp_path.glob(".index.kidx.*.tmp") if p.exists()):
            assert time.monotonic() < deadline, "the child never started writing its temporary file"
            time.sleep(0.001)
        # If the first save already finished, the target is the new index; the kill still lands mid-write.
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(".index.kidx.*.tmp")), "the kill should have left a torn temporary file behind"
    survivor = load(path)  # whole, whichever save it is
    assert len(survivor) in (len(previous), 150_000)
    if len(survivor) == len(previous):
        assert survivor.search_many(queries, k=5) == previous.search_many(queries, k=5)
    # The next save clears the dead process's temporary file.
    save(previous, path)
    assert not list(tmp_path.glob(".index.kidx.*.tmp"))
    assert load(path).search_many(queries, k=5) == previous.search_many(queries, k=5)
