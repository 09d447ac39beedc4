"""The reindex journal survives a crash that cut its last line short."""
from pathlib import Path

import numpy as np

from kalas.journal import Journal


def test_a_torn_last_line_is_dropped_and_the_journal_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "shop" / "reindex.journal"
    journal = Journal(path)
    journal.record(("p1", "a.jpg"), "tshirt", np.arange(4, dtype=np.float32))
    journal.skip(("p2", "b.jpg"), None, "could not read the image")
    journal.sync()
    journal.close()
    with open(path, "ab") as handle:  # what a kill in the middle of a write leaves
        handle.write(b'{"product":"p3","image":"c.jpg","vec')
    reopened = Journal(path)
    assert set(reopened.entries) == {("p1", "a.jpg"), ("p2", "b.jpg")}
    assert reopened.entries[("p1", "a.jpg")].vector.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert reopened.entries[("p2", "b.jpg")].skipped == "could not read the image"
    reopened.record(("p3", "c.jpg"), "jeans", np.ones(4, dtype=np.float32))
    reopened.close()
    assert set(Journal(path).entries) == {("p1", "a.jpg"), ("p2", "b.jpg"), ("p3", "c.jpg")}
    reopened.remove()
    assert not path.exists()
