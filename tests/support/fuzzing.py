"""Hypothesis as the fuzz tests use it, and the shapes a WooCommerce store's products may take (any JSON in any field).

Each fuzz test runs the same examples every run by default (repeatable in CI); `FUZZ_EXAMPLES=N FUZZ_SEED=S` runs N
(times the test's own scale) new ones from seed S: a deeper search now and then. The names are outside the service's
`KALAS_` settings, which refuse a name they do not know."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, seed, settings, strategies as st

SEED = os.environ.get("FUZZ_SEED")


def examples(default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES", default))


def fuzzing(default: int, scale: int = 1):
    """Put above `@given`: `default` examples (FUZZ_EXAMPLES instead, when set) times `scale`, the same ones every
    run unless FUZZ_SEED is set."""
    def apply(test):
        test = settings(max_examples=examples(default) * scale, deadline=None, derandomize=SEED is None,
                        database=None, suppress_health_check=list(HealthCheck))(test)
        return seed(int(SEED))(test) if SEED is not None else test
    return apply


scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=30))
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
ids = st.one_of(st.integers(min_value=-5, max_value=2**64 + 5), st.text(max_size=12), scalars,
                st.text("0123456789", min_size=18, max_size=5000))  # past 4,300 digits Python refuses to read them
terms = st.lists(st.one_of(st.fixed_dictionaries({"id": ids, "name": st.one_of(st.text(max_size=40), scalars)}),
                           anything), max_size=4)
images = st.lists(st.one_of(st.fixed_dictionaries({"id": ids, "src": st.one_of(
    st.just("https://shop.example/wp-content/uploads/a.jpg"), st.text(max_size=60), scalars)},
    optional={"srcset": st.one_of(st.text(max_size=200), scalars)}), anything), max_size=3)
products = st.fixed_dictionaries({"id": ids}, optional={
    "images": st.one_of(images, anything), "categories": st.one_of(terms, anything), "tags": st.one_of(terms, anything),
    "meta_data": st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"key": st.sampled_from(["kalas_iris", "x"]),
                                                                     "value": anything}), anything), max_size=3),
                           anything),
    "type": st.one_of(st.sampled_from(["simple", "variable", "variation", "grouped"]), anything),
    "parent_id": st.one_of(ids, anything),
    "status": st.one_of(st.sampled_from(["publish", "draft", "private", "future", "trash"]), anything),
    "catalog_visibility": st.one_of(st.sampled_from(["visible", "hidden", "search", "catalog"]), anything),
    "lang": st.one_of(st.sampled_from(["en", "de"]), anything),
    "translations": st.one_of(st.dictionaries(st.sampled_from(["en", "de"]), ids, max_size=2), anything),
    "date_created_gmt": st.one_of(st.just("2026-12-01T10:00:00"), anything),
    "date_modified_gmt": st.one_of(st.just("2026-12-01T10:00:00"), anything),
    "name": st.one_of(st.text(max_size=40), anything)})
bodies = st.one_of(products.map(lambda product: json.dumps(product).encode()),
                   anything.map(lambda value: json.dumps(value).encode()), st.binary(max_size=64))
