import os
import subprocess
import sys
from pathlib import Path

import pytest

from kalas.dataset import find_shared_data, is_validation, read_records, read_rows, shared_data, split

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_rows_without_an_image_are_read_apart(tmp_path: Path) -> None:
    write_layout(tmp_path, ["a", "b", "c"])
    found, missing = read_rows(tmp_path)
    assert [r.id for r in found] == ["a", "b"]
    assert [(r.id, r.labels, r.image) for r in missing] == [("c", {"label": "Shirt"}, tmp_path / "images" / "c.jpg")]
    assert not missing[0].image.exists()


def test_a_spreadsheets_csv_reads_alike(tmp_path: Path) -> None:
    write_layout(tmp_path, ["a", "b", "c"])
    text = (tmp_path / "labels.csv").read_text()
    # Excel's "CSV UTF-8": a byte-order mark first, rows ended by CR LF.
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert [(r.id, r.labels) for r in read_records(tmp_path)] == [("a", {"label": "Shirt"}), ("b", {"label": "Shirt"})]


def test_a_labels_file_without_ids_is_named(tmp_path: Path) -> None:
    write_layout(tmp_path, ["a"])
    (tmp_path / "labels.csv").write_text("ident,label\na,Shirt\n")
    with pytest.raises(ValueError, match=r"has no 'id' column .* its header is \['ident', 'label'\]"):
        read_records(tmp_path)


def test_a_webp_copy_of_the_layout_reads_alike(tmp_path: Path) -> None:
    write_layout(tmp_path, ["a", "b", "c"])
    (tmp_path / "images" / "b.jpg").rename(tmp_path / "images" / "b.webp")  # as scripts/device_kit.py writes them
    records = read_records(tmp_path)
    assert [r.id for r in records] == ["a", "b"]
    assert records[1].image == tmp_path / "images" / "b.webp"


def test_missing_layout_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        read_records(tmp_path)


def test_split_is_stable_and_near_the_fraction() -> None:
    ids = [str(i) for i in range(20000)]
    val = [i for i in ids if is_validation(i)]
    assert 0.13 < len(val) / len(ids) < 0.17
    assert val == [i for i in ids if is_validation(i)]


def test_split_partitions_the_shared_data() -> None:
    records = read_records(shared_data() / "clothing")
    train, val = split(records)
    assert len(train) + len(val) == len(records) > 4000
    assert not {r.id for r in train} & {r.id for r in val}


def test_the_shared_data_is_found_beside_the_checkout_or_beside_the_one_it_was_cloned_from(tmp_path: Path,
                                                                                         monkeypatch) -> None:
    monkeypatch.delenv("KALAS_SHARED_DATA", raising=False)
    origin = tmp_path / "work" / "main"
    (tmp_path / "work" / "shared" / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    assert find_shared_data(origin) == tmp_path / "work" / "shared" / "data"
    clone = tmp_path / "scratch" / "p"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True, capture_output=True)
    assert find_shared_data(clone) == tmp_path / "work" / "shared" / "data"  # nothing beside the clone itself
    stray = tmp_path / "stray"
    stray.mkdir()
    assert find_shared_data(stray) == tmp_path / "shared" / "data"  # none found: where it is expected, named
    monkeypatch.setenv("KALAS_SHARED_DATA", str(tmp_path / "elsewhere"))
    assert find_shared_data(clone) == tmp_path / "elsewhere"


def test_importing_the_module_starts_no_process_and_the_data_is_looked_up_once() -> None:
    probe = (
        "import subprocess\n"
        "started = []\n"
        "class Recording(subprocess.Popen):\n"
        "    def __init__(self, args, *rest, **kwargs):\n"
        "        started.append(args)\n"
        "        super().__init__(args, *rest, **kwargs)\n"
        "subprocess.Popen = Recording\n"
        "import kalas.dataset\n"
        "print(len(started))\n"
        "first, second = kalas.dataset.shared_data(), kalas.dataset.shared_data()\n"
        "print(first is second, kalas.dataset.shared_data.cache_info().misses)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KALAS_SHARED_DATA"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True", "1"]
