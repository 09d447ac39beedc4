"""Whatever a store answers its REST requests with (any JSON, any paging headers, status 200: a broken plugin, a
proxy, a hostile store the shop named), the client either reads it into the service's shapes or raises a
`StoreError` that says what was wrong: never another exception, which would fail a job without saying why. Every
call the worker makes is tried: a product, a page of products, the category tree, a term by name (found or made),
the webhooks (listed, and kept as the sync keeps them: registered, or the manual way with the reason), and a
product's update. Hypothesis, over the emulated store answering with generated JSON."""
from __future__ import annotations

import asyncio

from hypothesis import example, given, strategies as st

from api.integrations.hooks import ensure_webhooks
from api.integrations.store_errors import StoreError
from api.integrations.woo_client import StorePage, WooClient
from tests.support.fuzzing import anything, fuzzing, ids, products

terms = st.lists(st.one_of(st.fixed_dictionaries({"id": ids}, optional={
    "name": st.one_of(st.text(max_size=20), anything), "parent": st.one_of(ids, anything),
    "slug": st.one_of(st.text(max_size=20), anything)}), anything), max_size=6)
answers = st.one_of(anything, st.lists(st.one_of(products, anything), max_size=4), terms, products)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=8)
headers = st.fixed_dictionaries({}, optional={  # any bytes a header may carry (the emulator sends them as Latin-1)
    "X-WP-TotalPages": st.one_of(st.sampled_from(["0", "1", "2", "-1", "x", "99999999999999999999"]), header_text),
    "X-WP-Total": st.one_of(st.sampled_from(["0", "5", "nan"]), header_text), "Link": header_text})


def calls(client: WooClient):
    return [lambda: client.get_product(5), lambda: client.products_page(1, 3),
            lambda: client.category_paths(refresh=True), lambda: client.term_id("tags", "Sommer"),
            lambda: client.term_id("categories", "Herren > Hemden"), lambda: client.webhooks(),
            lambda: client.update_product(5, {"tags": [{"id": 3}]}),
            lambda: ensure_webhooks(client, "https://kalas.example/api/v1/webhooks/woocommerce/i1", "secret")]


@fuzzing(150)
@given(answer=answers, paging=headers, call=st.integers(min_value=0, max_value=7))
@example(answer=[{"id": 1, "name": 5, "parent": "x"}], paging={}, call=2)
@example(answer={"id": 5, "images": []}, paging={"Link": "<https://b\xfccher.example/wp-json/>"}, call=0)
@example(answer=[{"id": 5}], paging={"X-WP-TotalPages": "\xb2", "X-WP-Total": "9" * 5000}, call=1)  # int() refuses
def test_any_answer_is_read_or_refused_saying_so(woo_store, answer, paging, call):
    pages_served = []

    def answer_with(method: str, path: str):
        pages_served.append(path)
        # A listing of more pages than this is a store that never ends a listing: it is answered empty then.
        return (answer, paging) if len(pages_served) <= 5 else ([], {})

    woo_store.answer_with = answer_with

    async def go():
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2)
        try:
            return await calls(client)[call]()
        except StoreError as error:
            assert error.message
            return error
        finally:
            await client.aclose()

    try:
        found = asyncio.run(go())
    finally:
        woo_store.answer_with = None
    if isinstance(found, StorePage):
        assert all(isinstance(p, dict) and isinstance(p["id"], int) for p in found.items)
    elif isinstance(found, dict) and call in (0, 6):
        assert isinstance(found["id"], int) and isinstance(found["images"], list)
    elif call in (3, 4) and not isinstance(found, StoreError):
        assert isinstance(found, int)
    elif call == 7:  # the webhooks kept, or the manual way with the reason
        assert found["state"] in ("registered", "manual") and (found["state"] == "registered" or found["error"])
