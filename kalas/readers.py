"""Where a reindex gets a catalogue's images: the reader interface, and the reader of a shared-data directory.

A reader is any iterable of `CatalogueItem`s. An item knows its product, its image key and its category, and
reads its own bytes when asked (`read()`), so a reader over MongoDB/GridFS or a shop's image URLs fits the same
job without the job knowing where bytes come from. `read()` runs on a worker thread; it raises OSError (or any
exception) when the image cannot be had, and the job then skips that image and reports it.
"""
from __future__ import annotations

from collections import Counter

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kalas.dataset import Record, read_records, split


@dataclass(frozen=True)
class CatalogueItem:
    product_id: str
    image: str  # the image's key within its product (a file name, a GridFS id, a position)
    category: str | None
    read: Callable[[], bytes]

    @property
    def key(self) -> tuple[str, str]:
        return self.product_id, self.image


CatalogueReader = Iterable[CatalogueItem]


class DirectoryReader:
    """A directory in the shared-data layout; every row is one product with one image (its id).

    Categories are the product taxonomy's labels (handlers/taxonomy.yaml maps the data set's own column), so a
    similar-item search can be filtered by the category the attributes model predicts.
    `part` is "all", "train" or "validation" (kalas/dataset.py's one split).
    """

    def __init__(self, data_dir: str | Path, part: str = "all") -> None:
        if part not in ("all", "train", "validation"):
            raise ValueError(f"part must be 'all', 'train' or 'validation', not {part!r}")
        records = read_records(data_dir)
        if part != "all":
            records = split(records)[0 if part == "train" else 1]
        self.records = records
        self._category = _category_reader(records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[CatalogueItem]:
        for record in self.records:
            yield CatalogueItem(record.id, record.image.name, self._category(record), record.image.read_bytes)


def _category_reader(records: list[Record]) -> Callable[[Record], str | None]:
    """Taxonomy category of a record, or None for a layout or value taxonomy.yaml does not map."""
    from handlers.taxonomy import load_taxonomy

    if not records:
        return lambda record: None
    try:
        mapping = load_taxonomy().detect(records[0].labels)
    except ValueError:
        return lambda record: None

    def category(record: Record) -> str | None:
        return mapping.annotate(record.labels, Counter()).category  # a value the taxonomy lacks: no category

    return category
