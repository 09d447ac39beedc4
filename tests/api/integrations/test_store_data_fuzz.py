"""Whatever a store answers for a product (a broken plugin, a proxy, a hostile store: any JSON in any field), what
the service reads from it never raises: `store_product` is where the store's shapes become the service's, and every
rule that reads a product after it (on show, language, variation, the marker, the merchant's terms, the merge of
terms, the photos' fingerprint and address, the catalogue's fields) takes what it left. Hypothesis, over the same
product shapes as the signed-delivery fuzz (tests/support/fuzzing.py)."""
from __future__ import annotations

import datetime as dt

from hypothesis import example, given, strategies as st

from api.integrations.catalogue_import import created_since_connect, store_fields, terms_moved
from api.integrations.merge import (images_fingerprint, is_annotated, marker, marker_value, merchant_terms,
                                    merge_terms)
from api.integrations.policy import Decision
from api.integrations.store_data import named_by_path, not_on_show, photo_url, store_product
from api.integrations.sync import left_alone
from tests.support.fuzzing import fuzzing, products

INTEGRATION = "integ-1"
# The service's own record of its last write (api/data/integrations.py `record_write`): its shape is the service's.
written_records = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "images": st.text(max_size=32), "added_categories": st.lists(st.text(max_size=10), max_size=3),
    "added_tags": st.lists(st.text(max_size=10), max_size=3)}))


@fuzzing(150, scale=4)
@given(raw=products, written=written_records, language=st.sampled_from([None, "en", "de"]))
@example(raw={"id": 1, "status": ["publish"]}, written=None, language=None)
@example(raw={"id": 1, "meta_data": [{"key": "kalas_iris", "value": {"added_tags": 5}}], "tags": [{"name": "a"}]},
         written=None, language=None)
@example(raw={"id": 1, "categories": [{"id": "x", "name": "Hemden"}]}, written=None, language=None)
@example(raw={"id": 1, "name": True, "permalink": {"href": "x"}}, written=None, language=None)
@example(raw={"id": 1, "images": [{"src": "https://s.example/a.jpg", "srcset": "https://s.example/b.jpg " + "9" * 5000
                                   + "w"}]}, written=None, language=None)
def test_no_store_product_makes_the_rules_that_read_it_raise(raw, written, language):
    product = named_by_path(store_product(raw, 41), {1: "Herren > Hemden"})
    assert all(isinstance(t, dict) and isinstance(t["name"], str) for kind in ("categories", "tags")
               for t in product.get(kind, []))
    not_on_show(product)
    left_alone(product, language)
    fingerprint = images_fingerprint(product)
    assert isinstance(fingerprint, str) and len(fingerprint) == 32
    for image in product["images"]:
        assert isinstance(photo_url(image), str)
    found = marker(product, INTEGRATION)
    assert found is None or isinstance(found, dict)
    is_annotated(product, INTEGRATION, written)
    categories, tags = merchant_terms(product, INTEGRATION, written)
    assert all(isinstance(name, str) for name in categories + tags)
    merged = merge_terms(product.get("categories", []), ["Kleider"], categories, drop_placeholder=True)
    assert all(isinstance(term_id, int) for term_id in merged.keep_ids)
    marker_value(product, INTEGRATION, Decision("Kleider", ("Sommer",), "leaf", "m:1"), merged, merged, "now")
    created_since_connect(product, {"created": dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)})
    fields = store_fields(INTEGRATION, product, written)  # what the shop's product list then answers (ProductOut)
    assert isinstance(fields["title"], str) and 0 < len(fields["title"]) <= 300
    assert fields["url"] is None or fields["url"].startswith(("http://", "https://"))
    assert all(isinstance(name, str) for name in fields["categories"] + fields["tags"])
    terms_moved({"categories": ["A"], "tags": []}, product, INTEGRATION, written)
