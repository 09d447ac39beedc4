"""Words to products: a text query ranked against a catalogue's photos, merged with the shop's own words.

A query is encoded into the photos' joint space (handlers/signals.py: the image embedding beside what the model's
heads say of the photo) by the inference client (`encode_text`, the text encoder of handlers/text_encoder.py). Its
embedding part is searched in the catalogue's own vector index, like a photo: that finds products by what their
photos show, with or without a title. Each candidate photo is then scored in the joint space with its stored
signals (`photo_scores`); a query made only of the taxonomy's names ("Kurtas", "navy blue") also gains the photos'
own probability of those terms (handlers/query_terms.py). The shop's own words (title, tags, categories: the
products' `words`, api/data/products.py) then re-rank them: a product scores its best photo's score plus
`WORD_WEIGHT` times the share of the query's words it carries. Words the encoder does not know are also looked up
among all the shop's products' own words, so a product whose title says "Hemd" comes first for "hemd" although
the encoder never learned that word. (Looking every word up that way would be simpler; on nx-27017, which scans a
collection for a match inside an array, it cost 240 ms at 20,000 products, against well under a millisecond of work for the words
of a few dozen candidates: docs/benchmarks.md, "Text search".) scripts/evaluate_text_search.py scores the photo side
alone with the same `photo_scores`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient
from api.data import products
from api.domain.catalogue import Catalogues
from api.domain.errors import DomainError
from handlers.query_terms import Lexicon, QueryTerms, term_probabilities
from handlers.taxonomy import load_taxonomy
from handlers.text_encoder import TextQuery, words

# A query's words found in a product's own text weigh this much beside its photo's cosine (cosines of a right
# photo lie near 0.3-0.6 for this encoder; a product that names every word of the query goes first).
WORD_WEIGHT = 0.5
# Products fetched from the index per result asked, and at least MIN_CANDIDATES: room for their signals and their
# own words to reorder them (on fashion-products' validation photos, re-ranking the index's top 20 by the joint
# score gave the figures of ranking every photo by it: docs/benchmarks.md, "Text search").
CANDIDATES_PER_RESULT = 2
MIN_CANDIDATES = 20
# The weight of a photo's probability of the terms a query of names alone asks for, beside its joint score (which
# lies near 0.3-0.6 for right photos). On fashion-products' validation photos, category-to-product P@1 was 0.926 at
# 0, 0.926 at 1, 0.963 at 2, 1.0 at 3 and 5 (colour P@1 0.867, 0.867, 0.867, 0.800, 0.867): 2 is the least that
# lets the heads' probability order what the encoder confuses ("Flats" against casual shoes), and it keeps a
# shop's own words (WORD_WEIGHT) able to reorder photos the heads find about as likely.
TERM_WEIGHT = 2.0
MAX_QUERY_WORDS = 16


@dataclass(frozen=True)
class TextHit:
    product_id: str
    score: float
    photo: float  # the best photo's cosine to the query (0 when only its words matched)
    words: float  # the share of the query's words in its own text


@functools.cache
def _lexicon() -> Lexicon:
    return Lexicon.of(load_taxonomy())


def query_terms(q: str) -> QueryTerms:
    """The taxonomy terms `q` names (handlers/query_terms.py)."""
    return _lexicon().read(q)


def photo_scores(query: TextQuery, asked: QueryTerms, cosines: np.ndarray, signal_rows: np.ndarray | None) -> np.ndarray:
    """[N] how well N photos answer the query: their joint score (from their embeddings' cosines with
    `query.photo_vector` and their signals), plus TERM_WEIGHT × their probability of the terms the query names
    when it names nothing else."""
    scores = query.scores(cosines, signal_rows)
    if asked.whole and signal_rows is not None and query.signal_terms:
        probabilities = term_probabilities(asked.terms, signal_rows, query.signal_terms, load_taxonomy())
        if probabilities is not None:
            scores = scores + TERM_WEIGHT * probabilities
    return scores


def rank_photos(scores: np.ndarray, k: int) -> np.ndarray:
    """The rows of the `k` best `scores`, best first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def query_words(q: str) -> list[str]:
    """The distinct words of a query (what its own-text match counts), refusing a query that has none."""
    found = list(dict.fromkeys(words(q)))
    if not found:
        raise DomainError(f"the query {q!r} has no words to search for: send letters or digits", "empty_query")
    return found[:MAX_QUERY_WORDS]


def merge(photo_hits: list[tuple[str, float]], docs: dict[str, dict], asked: list[str], k: int) -> list[TextHit]:
    """The candidates (`photo_hits` and any product of `docs`) scored by photo cosine plus own words, best first."""
    photo = dict(photo_hits)
    wanted = set(asked)
    ranked = []
    for pid in {*photo, *docs}:
        share = len(wanted.intersection(docs[pid].get("words", ()))) / len(asked) if pid in docs else 0.0
        ranked.append(TextHit(pid, photo.get(pid, 0.0) + WORD_WEIGHT * share, photo.get(pid, 0.0), share))
    ranked.sort(key=lambda hit: (-hit.score, hit.product_id))
    return ranked[:k]


def _rescored(query: TextQuery, asked: QueryTerms, hits: list, signal_rows: np.ndarray | None) -> list[tuple[str, float]]:
    """(product id, score) of the index's hits, each scored in the joint space by its matching photo's signals."""
    if not hits:
        return []
    scores = photo_scores(query, asked, np.array([h.score for h in hits], dtype=np.float32), signal_rows)
    return [(h.product_id, float(score)) for h, score in zip(hits, scores)]


async def search_shop(db: AsyncDatabase, catalogues: Catalogues, inference: InferenceClient, account_id: str, q: str,
                      k: int) -> list[tuple[TextHit, dict]]:
    """The `k` best products for `q`, each with its document. The photo side finds candidates in the vector index;
    their signals and own words re-rank them. Words the encoder does not know ("hemd") are looked up in the
    products' own words as well, so a product is found by a word only its title has."""
    asked = query_words(q)
    query = await inference.encode_text(q)
    candidates = max(k * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    hits = await catalogues.search(db, account_id, query.photo_vector, candidates) if query.vector.any() else []
    docs = await catalogues.products(db, account_id, [h.product_id for h in hits], refresh_ahead=False)
    hits = [h for h in hits if h.product_id in docs]
    if unknown := [w for w in asked if w in query.unknown_words]:
        docs.update({doc["_id"]: doc for doc in await products.with_words(db, account_id, unknown, candidates)})
    photo_hits = _rescored(query, query_terms(q), hits, await catalogues.hit_signals(db, account_id, hits))
    ranked = merge(photo_hits, docs, asked, k)
    return [(hit, docs[hit.product_id]) for hit in ranked]


async def search_gallery(catalogues: Catalogues, inference: InferenceClient, catalogue: str, q: str,
                         k: int) -> list[TextHit] | None:
    """The demo gallery has photos and no shop words: its ranking is the photos' alone (None: not built). Its
    index keeps no signals, so its photos are scored by their embeddings."""
    query_words(q)
    query = await inference.encode_text(q)
    hits = await catalogues.search_catalogue(catalogue, query.photo_vector, k)
    if hits is None:
        return None
    if not query.vector.any():
        return []
    return [TextHit(pid, score, score, 0.0) for pid, score in _rescored(query, query_terms(q), hits, None)]
