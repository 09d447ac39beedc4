"""The product taxonomy (handlers/taxonomy.yaml) and the mappings of each data set's labels into it.

    tax = load_taxonomy()
    tax.leaves                       # category labels the model predicts, in a fixed order
    tax.leaves_under("shoes")        # a group stands for any of its leaves
    tax.matches("heels", "shoes")    # a prediction is right when the truth is itself or an ancestor
    tax.colours                      # [Colour(label, name, hex)]: the colour vocabulary
    mapping = tax.detect(columns)    # which kind of labels.csv this is, from its columns
    mapping.annotate(row)            # -> Annotation(category, attributes, colour) in taxonomy labels

A value the mapping does not know raises LabelError naming the data set, column and value: new labels are a
decision for the YAML, never a silent skip. A value mapped to null, or an empty cell, is "unlabelled".
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import yaml

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")


class LabelError(ValueError):
    """A labels.csv value the taxonomy's mapping does not know."""


@dataclass(frozen=True)
class Term:
    label: str
    name: str


@dataclass(frozen=True)
class Category(Term):
    parent: str | None = None


@dataclass(frozen=True)
class Colour(Term):
    hex: str = ""


@dataclass(frozen=True)
class Annotation:
    """One row's labels in taxonomy terms; None (or a missing group) means unlabelled."""

    category: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    colour: str | None = None


@dataclass(frozen=True)
class ColumnMap:
    column: str
    values: Mapping[str, str | None] | None  # None: identity (values are taxonomy labels already)
    vocabulary: frozenset[str]

    def __post_init__(self) -> None:
        self.folded  # noqa: B018 (values that differ only in case are refused at load)

    def apply(self, dataset: str, row: Mapping[str, str]) -> str | None:
        """The label of the row's value, read in any case ("TSHIRTS", "t-shirt": another export of the same data)."""
        raw = (row.get(self.column) or "").strip()
        if not raw:
            return None
        if raw.casefold() not in self.folded:
            what = "is not a taxonomy label" if self.values is None else "taxonomy.yaml does not map"
            raise LabelError(f"{dataset}: column {self.column!r} has {raw!r}, which {what}")
        return self.folded[raw.casefold()]

    @cached_property
    def folded(self) -> dict[str, str | None]:
        values = self.values if self.values is not None else {label: label for label in self.vocabulary}
        folded = {value.casefold(): label for value, label in values.items()}
        if len(folded) != len(values):
            raise ValueError(f"taxonomy.yaml maps {self.column!r} values that differ only in case")
        return folded


@dataclass(frozen=True)
class WordMap:
    """A value read from the words of a free-text column (a product title): `words` maps a lower-case word to a
    value, `refines` a finer value to the coarser one it wins over; a text naming no value, or two values neither
    of which refines the other, is unlabelled (None)."""

    column: str
    words: Mapping[str, str]
    refines: Mapping[str, str]

    def apply(self, dataset: str, row: Mapping[str, str]) -> str | None:
        named = {self.words[w] for w in re.findall(r"[a-z]+", (row.get(self.column) or "").lower()) if w in self.words}
        named -= {self.refines[v] for v in named if v in self.refines}
        return named.pop() if len(named) == 1 else None


@dataclass(frozen=True)
class DatasetMapping:
    name: str
    detect_columns: tuple[str, ...]
    category: ColumnMap | None
    attributes: dict[str, ColumnMap | WordMap]
    colour: ColumnMap | None

    def category_labels(self, taxonomy: "Taxonomy") -> frozenset[str]:
        """The taxonomy's categories this data set's labels can name (every one for an `identity` column)."""
        if self.category is None:
            return frozenset()
        if self.category.values is None:
            return frozenset(c.label for c in taxonomy.categories)
        return frozenset(label for label in self.category.values.values() if label)

    def annotate(self, row: Mapping[str, str], unknown: Counter | None = None) -> Annotation:
        """The row's labels in the taxonomy. A value taxonomy.yaml does not map raises LabelError, or, given an
        `unknown` counter, is left unlabelled and counted there as "column: value" (the rest of the row is kept)."""

        def read(column_map: ColumnMap | WordMap | None) -> str | None:
            if column_map is None:
                return None
            try:
                return column_map.apply(self.name, row)
            except LabelError:
                if unknown is None:
                    raise
                unknown[f"{column_map.column}: {(row.get(column_map.column) or '').strip()}"] += 1
                return None

        attributes = {group: value for group, column_map in self.attributes.items()
                      if (value := read(column_map)) is not None}
        return Annotation(category=read(self.category), attributes=attributes, colour=read(self.colour))


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    attributes: dict[str, tuple[Term, ...]]
    colours: tuple[Colour, ...]
    datasets: dict[str, DatasetMapping]

    @property
    def leaves(self) -> list[str]:
        parents = {c.parent for c in self.categories}
        return [c.label for c in self.categories if c.label not in parents]

    def groups(self) -> list[str]:
        """Categories that stand for others (every node some category names as its parent), in file order."""
        parents = {c.parent for c in self.categories}
        return [c.label for c in self.categories if c.label in parents]

    def category(self, label: str) -> Category:
        for c in self.categories:
            if c.label == label:
                return c
        raise KeyError(f"{label!r} is not a taxonomy category")

    def ancestors(self, label: str) -> list[str]:
        """`label` and its parents, nearest first."""
        chain = [label]
        while (parent := self.category(chain[-1]).parent) is not None:
            chain.append(parent)
        return chain

    def leaves_under(self, label: str) -> list[str]:
        return [leaf for leaf in self.leaves if label in self.ancestors(leaf)]

    def matches(self, predicted: str, truth: str) -> bool:
        return truth in self.ancestors(predicted)

    def checked(self, leaf: str, labels: frozenset[str]) -> str:
        """What a data set whose labels name `labels` can check of a prediction of `leaf`: the nearest of its
        ancestors (itself first) among them ("shoes" for "heels" when the labels say only "Shoes"); `leaf`
        itself when none is (no truth of that data set accepts it)."""
        return next((label for label in self.ancestors(leaf) if label in labels), leaf)

    def name(self, label: str) -> str:
        return self.category(label).name

    def written_names(self) -> list[str]:
        """Every name the service may write into a store: categories at every level, attribute values, colours."""
        terms = [*self.categories, *(value for values in self.attributes.values() for value in values), *self.colours]
        return list(dict.fromkeys(term.name for term in terms))

    def detect(self, columns: Iterable[str]) -> DatasetMapping:
        """The mapping whose `detect` columns all appear in `columns`; ValueError when none or several fit."""
        present = set(columns)
        fits = [m for m in self.datasets.values() if set(m.detect_columns) <= present]
        if len(fits) != 1:
            kinds = {m.name: list(m.detect_columns) for m in self.datasets.values()}
            found = "no kind" if not fits else f"several kinds ({[m.name for m in fits]})"
            raise ValueError(f"labels.csv columns {sorted(present)} fit {found}; the known kinds need columns {kinds}")
        return fits[0]


def _terms(entries: list[dict], kind: type[Term] = Term) -> tuple:
    return tuple(kind(**entry) for entry in entries)


def _column_map(spec: dict, vocabulary: frozenset[str], where: str) -> ColumnMap | WordMap:
    if "words" in spec:
        refines = dict(spec.get("refines", {}))
        for label in [*spec["words"].values(), *refines, *refines.values()]:
            if label not in vocabulary:
                raise ValueError(f"taxonomy.yaml {where}: {label!r} is not in the vocabulary")
        return WordMap(spec["column"], dict(spec["words"]), refines)
    values = None if spec["map"] == "identity" else dict(spec["map"])
    for raw, label in (values or {}).items():
        if label is not None and label not in vocabulary:
            raise ValueError(f"taxonomy.yaml {where}: {raw!r} maps to {label!r}, which is not in the vocabulary")
    return ColumnMap(spec["column"], values, vocabulary)


def parse_taxonomy(data: dict) -> Taxonomy:
    """Build and check a Taxonomy from the YAML's data (every mapped label and parent must exist)."""
    categories = _terms(data["categories"], Category)
    attributes = {group: _terms(values) for group, values in data["attributes"].items()}
    colours = _terms(data["colours"], Colour)
    category_labels = frozenset(c.label for c in categories)
    for c in categories:
        if c.parent is not None and c.parent not in category_labels:
            raise ValueError(f"taxonomy.yaml: category {c.label!r} has unknown parent {c.parent!r}")
    colour_labels = frozenset(c.label for c in colours)
    datasets = {}
    for name, spec in data["datasets"].items():
        group_maps = {}
        for group, group_spec in spec.get("attributes", {}).items():
            if group not in attributes:
                raise ValueError(f"taxonomy.yaml {name}: attribute group {group!r} is not defined")
            vocabulary = frozenset(t.label for t in attributes[group])
            group_maps[group] = _column_map(group_spec, vocabulary, f"{name}.attributes.{group}")
        datasets[name] = DatasetMapping(
            name=name,
            detect_columns=tuple(spec["detect"]),
            category=_column_map(spec["category"], category_labels, f"{name}.category") if "category" in spec else None,
            attributes=group_maps,
            colour=_column_map(spec["colour"], colour_labels, f"{name}.colour") if "colour" in spec else None,
        )
    return Taxonomy(categories, attributes, colours, datasets)


@lru_cache(maxsize=4)
def load_taxonomy(path: str | Path = TAXONOMY_PATH) -> Taxonomy:
    with Path(path).open(encoding="utf-8") as handle:
        return parse_taxonomy(yaml.safe_load(handle))
