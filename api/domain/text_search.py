"""Words to products: a text query ranked against a catalogue's photos, merged with the shop's own words.

A query is encoded into the image embedding's space by the inference client (`encode_text`, the text encoder of
handlers/text_encoder.py) and searched in the catalogue's own vector index, like a photo: that finds products by
what their photos show, with or without a title. The shop's own words (title, tags, categories: the products'
`words`, api/data/products.py) then re-rank them: a product scores its best photo's cosine plus `WORD_WEIGHT` times
the share of the query's words it carries. Words the encoder does not know are also looked up among all the
shop's products' own words, so a product whose title says "Hemd" comes first for "hemd" although the encoder never
learned that word. (Looking every word up that way would be simpler; on nx-27017, which scans a collection for a
match inside an array, it cost 240 ms at 20,000 products, against well under a millisecond of work for the words
of a few dozen candidates: docs/benchmarks.md, "Text search".) scripts/evaluate_text_search.py scores the photo side alone with
`rank_photos`, the same inner-product ranking the index does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymongo.asynchronous.database import AsyncDatabase

from api.clients.inference import InferenceClient
from api.data import products
from api.domain.catalogue import Catalogues
from api.domain.errors import DomainError
from handlers.text_encoder import words

# A query's words found in a product's own text weigh this much beside its photo's cosine (cosines of a right
# photo lie near 0.3-0.6 for this encoder; a product that names every word of the query goes first).
WORD_WEIGHT = 0.5
# Products fetched from the index per result asked: room for their own words to reorder them.
CANDIDATES_PER_RESULT = 2
MAX_QUERY_WORDS = 16


@dataclass(frozen=True)
class TextHit:
    product_id: str
    score: float
    photo: float  # the best photo's cosine to the query (0 when only its words matched)
    words: float  # the share of the query's words in its own text


def rank_photos(query: np.ndarray, photos: np.ndarray, k: int) -> np.ndarray:
    """Rows of `photos` ([N, D], L2-normalised) best first by inner product with `query`: the first `k`."""
    scores = photos @ query
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


async def search_shop(db: AsyncDatabase, catalogues: Catalogues, inference: InferenceClient, account_id: str, q: str,
                      k: int) -> list[tuple[TextHit, dict]]:
    """The `k` best products for `q`, each with its document. The photo side finds candidates in the vector index;
    their own words re-rank them. Words the encoder does not know ("hemd") are looked up in the products' own words
    as well, so a product is found by a word only its title has."""
    asked = query_words(q)
    vector, unknown_to_encoder = await inference.encode_text(q)
    candidates = k * CANDIDATES_PER_RESULT
    hits = await catalogues.search(db, account_id, vector, candidates) if vector.any() else []
    docs = await catalogues.products(db, account_id, [h.product_id for h in hits])
    if unknown := [w for w in asked if w in unknown_to_encoder]:
        docs.update({doc["_id"]: doc for doc in await products.with_words(db, account_id, unknown, candidates)})
    ranked = merge([(h.product_id, h.score) for h in hits if h.product_id in docs], docs, asked, k)
    return [(hit, docs[hit.product_id]) for hit in ranked]


async def search_gallery(catalogues: Catalogues, inference: InferenceClient, catalogue: str, q: str,
                         k: int) -> list[TextHit] | None:
    """The demo gallery has photos and no shop words: its ranking is the photos' alone (None: not built)."""
    query_words(q)
    vector, _ = await inference.encode_text(q)
    hits = await catalogues.search_catalogue(catalogue, vector, k)
    if hits is None:
        return None
    return [TextHit(h.product_id, h.score, h.score, 0.0) for h in hits] if vector.any() else []
