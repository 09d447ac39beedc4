from pathlib import Path

import pytest

from scripts.dataset import is_validation, read_records, split

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write_layout(root: Path, ids: list[str]) -> None:
    (root / "images").mkdir(parents=True)
    lines = ["id,label"] + [f"{i},Shirt" for i in ids]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    for i in ids[:-1]:  # the last row has no image and must be skipped
        (root / "images" / f"{i}.jpg").write_bytes(b"x")


def test_reads_rows_with_images_only(tmp_path: Path) -> None:
    write_layout(tmp_path, ["a", "b", "c"])
    records = read_records(tmp_path)
    assert [r.id for r in records] == ["a", "b"]
    assert records[0].labels == {"label": "Shirt"}
    assert records[0].image == tmp_path / "images" / "a.jpg"


def test_missing_layout_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        read_records(tmp_path)


def test_split_is_stable_and_near_the_fraction() -> None:
    ids = [str(i) for i in range(20000)]
    val = [i for i in ids if is_validation(i)]
    assert 0.13 < len(val) / len(ids) < 0.17
    assert val == [i for i in ids if is_validation(i)]


def test_split_partitions_the_shared_data() -> None:
    records = read_records(SHARED / "clothing")
    train, val = split(records)
    assert len(train) + len(val) == len(records) > 4000
    assert not {r.id for r in train} & {r.id for r in val}
