"""Which of the taxonomy's terms a text query names: "navy blue kurtas" asks for colour:navy and category:kurtas.

    lexicon = Lexicon.of(load_taxonomy())
    lexicon.read("Men's striped shirts")     # QueryTerms(terms=("gender:men", "pattern:striped", "category:shirt"),
                                               #            whole=True)
    term_probabilities(terms, signals, layout) # [N]: per photo, the heads' probability of all those terms

A name is any of the taxonomy's own names of a category (leaf or group), a colour, a gender, a pattern, a usage or
a season, and every data set's own word for one (its labels.csv values and title words: "Tshirts", "Navy Blue",
"stripes"), matched on case-folded words with a plural's final "s" dropped, longest first. A name two terms share
is not used. A query made of such names alone (`whole`) asks for those terms and nothing else: text search then
adds the photos' own probabilities of them (handlers/signals.py, what the heads say of each photo) to the text
encoder's score, which is what answers "Kurtas" best (measured in docs/benchmarks.md, "Text search": the encoder
alone put a tunic first). A query with other words (a title, a description) is the encoder's alone: adding the
terms' probabilities there cost title-to-image recall.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from handlers.taxonomy import ColumnMap, Taxonomy, WordMap
from handlers.text_encoder import words

MAX_NAME_WORDS = 3
# Attribute groups whose names a shopper types. Age is left out: the data sets write it as "Men"/"Boys", which
# are gender's words.
NAMED_GROUPS = ("gender", "pattern", "usage", "season")


def _word(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _key(text: str) -> tuple[str, ...]:
    return tuple(_word(w) for w in words(text) if w != "s")  # "men's" is "men"


@dataclass(frozen=True)
class QueryTerms:
    terms: tuple[str, ...]  # "category:<label>", "colour:<label>", "<group>:<value>", in the query's order
    whole: bool  # every word of the query is part of a name


@dataclass(frozen=True)
class Lexicon:
    names: dict[tuple[str, ...], str]  # a name's words -> the term it names

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> "Lexicon":
        found: dict[tuple[str, ...], set[str]] = {}

        def add(name: str, term: str) -> None:
            if key := _key(name):
                found.setdefault(key, set()).add(term)

        for category in taxonomy.categories:
            add(category.name, f"category:{category.label}")
        for colour in taxonomy.colours:
            add(colour.name, f"colour:{colour.label}")
        for group in NAMED_GROUPS:
            for value in taxonomy.attributes.get(group, ()):
                add(value.name, f"{group}:{value.label}")
        for mapping in taxonomy.datasets.values():
            for kind, column_map in (("category", mapping.category), ("colour", mapping.colour),
                                     *((g, m) for g, m in mapping.attributes.items() if g in NAMED_GROUPS)):
                if isinstance(column_map, WordMap):
                    for word, label in column_map.words.items():
                        add(word, f"{kind}:{label}")
                elif isinstance(column_map, ColumnMap) and column_map.values:
                    for raw, label in column_map.values.items():
                        if label is not None:
                            add(raw, f"{kind}:{label}")
        return cls({key: next(iter(terms)) for key, terms in found.items() if len(terms) == 1})

    def read(self, query: str) -> QueryTerms:
        """The terms `query` names, longest name first at each word, and whether it names nothing else."""
        key, terms, at, whole = _key(query), [], 0, True
        while at < len(key):
            for n in range(min(MAX_NAME_WORDS, len(key) - at), 0, -1):
                if (term := self.names.get(key[at:at + n])) is not None:
                    terms.append(term)
                    at += n
                    break
            else:
                whole = False
                at += 1
        return QueryTerms(tuple(dict.fromkeys(terms)), whole and bool(terms))


def term_columns(term: str, layout: Sequence[str], taxonomy: Taxonomy) -> list[int]:
    """The columns of the signals (`layout`: handlers/signals.py `signal_terms`) whose probabilities make up `term`:
    a category group is the sum of its leaves."""
    column = {name: i for i, name in enumerate(layout)}
    kind, _, label = term.partition(":")
    if kind == "category" and label in {c.label for c in taxonomy.categories}:
        leaves = [column[f"category:{leaf}"] for leaf in taxonomy.leaves_under(label) if f"category:{leaf}" in column]
        if leaves:
            return leaves
    return [column[term]] if term in column else []


def term_probabilities(terms: Sequence[str], signals: np.ndarray, layout: Sequence[str], taxonomy: Taxonomy
                       ) -> np.ndarray | None:
    """[N]: per photo (rows of `signals`), the heads' probability that it has every one of `terms` (the product of
    each term's, as if the heads were independent: a striped T-shirt is not half an answer to "striped shirt");
    None when the model has no head for any of them."""
    columns = [c for term in terms if (c := term_columns(term, layout, taxonomy))]
    if not columns:
        return None
    signals = np.asarray(signals, dtype=np.float32)
    return np.prod([signals[:, c].sum(axis=1) for c in columns], axis=0)
