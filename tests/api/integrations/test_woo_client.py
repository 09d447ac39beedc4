"""The REST client against the emulated store: auth, pagination, term lookup, and how failures are classified."""
import asyncio

import httpx
import pytest

from api.integrations.store_data import MAX_RETRY_AFTER_S, retry_after_seconds
from api.integrations.store_errors import StoreError
from api.integrations.woo_client import WooClient
from api.integrations.store_auth import oauth_query
from api.intake.fetch import CheckedTransport
from kalas.emulators.woocommerce import WooCommerceStore
from kalas.emulators.woocommerce_rest import oauth_signature


def _client(store: WooCommerceStore, secret: str | None = None) -> WooClient:
    return WooClient(store.url, store.consumer_key, secret or store.consumer_secret, timeout=2)


def _run(coroutine):
    return asyncio.run(coroutine)


def test_products_are_read_and_updated_with_the_stores_keys(woo_store):
    product = woo_store.create_product("Blue shirt", tags=["Own tag"])

    async def go():
        client = _client(woo_store)
        try:
            tag = await client.term_id("tags", "Navy Blue")
            again = await client.term_id("tags", "navy blue")
            updated = await client.update_product(product["id"], {"tags": [{"id": tag}]})
            return tag, again, updated, await client.get_product(999999)
        finally:
            await client.aclose()

    tag, again, updated, missing = _run(go())
    assert tag == again  # found by name, not created twice
    assert [t["name"] for t in updated["tags"]] == ["Navy Blue"]
    assert missing is None


def test_every_request_is_checked_where_it_leaves_so_a_store_whose_address_turns_private_is_refused(woo_store):
    """DNS rebinding: a store's host answers a public address when it is connected, then a private one. The check
    is made for each request against the address connected to (a pooled connection included), not once."""
    product = woo_store.create_product("Blue shirt")
    transport = CheckedTransport(frozenset({f"127.0.0.1:{woo_store.port}"}))  # 127.0.0.1 let through, as if public

    async def go():
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2,
                           transport=transport)
        try:
            read = await client.get_product(product["id"])
            transport.allow_origins = frozenset()  # the host's next answer is a private address
            with pytest.raises(StoreError) as caught:
                await client.update_product(product["id"], {"name": "Changed"})
            return read, caught.value
        finally:
            await client.aclose()

    read, refused = _run(go())
    assert read["name"] == "Blue shirt"
    assert not refused.retryable and "127.0.0.1" in refused.message and "private" in refused.message
    assert woo_store.catalogue.get_product(product["id"])["name"] == "Blue shirt"  # nothing reached the store


def test_a_host_that_drops_the_authorization_header_or_refuses_put_is_worked_around_once(woo_store):
    """WooCommerce's documented host problems: PHP that never sees the Authorization header (the keys go as query
    parameters instead), a firewall that answers PUT and DELETE 501 (a POST with `_method` stands for them). Each
    is found from the store's answer, once, and kept for the store; the writes land all the same."""
    woo_store.strips_authorization = woo_store.refuses_put_delete = True
    woo_store.sees_https = True  # behind TLS: WooCommerce takes the keys themselves
    product = woo_store.create_product("Blue shirt", tags=["Own tag"])
    hook = woo_store.create_webhook({"name": "k", "topic": "product.created", "delivery_url": "https://example.com/x",
                                     "secret": "s"})

    async def go():
        first, second = _client(woo_store), _client(woo_store)  # a second client of the same store: a later job
        try:
            assert first.host_needs == frozenset()
            read = await first.get_product(product["id"])
            updated = await first.update_product(product["id"], {"name": "Navy shirt"})
            await second.update_webhook(hook.id, {"status": "paused"})
            await second.delete_webhook(hook.id)
            return read, updated, second.host_needs
        finally:
            await first.aclose()
            await second.aclose()

    read, updated, needs = _run(go())
    assert read["name"] == "Blue shirt" and updated["name"] == "Navy shirt"
    assert needs == {"query auth", "method override"} and hook.id not in woo_store.catalogue.webhooks
    # Refused reads taught the keys' place (the emulator's address is http://, so the client first signs as over
    # HTTP, which a store that sees HTTPS checks against https://; then Basic auth, its header stripped), one
    # refused write the override; the second client asked right away.
    statuses = [(m, s) for m, path, s in woo_store.api_requests if not path.endswith("/products/categories")]
    assert statuses == [("GET", 401), ("GET", 401), ("GET", 200), ("PUT", 200), ("PUT", 200), ("DELETE", 200)], statuses
    tree = [(m, s) for m, path, s in woo_store.api_requests if path.endswith("/products/categories")]
    assert tree == [("GET", 200)]  # the category tree, read once to name the product's category by its path
    assert woo_store.writes[product["id"]]


def test_a_store_over_plain_http_takes_an_oauth_signature_and_one_behind_tls_basic_auth(woo_store):
    """WooCommerce reads the keys themselves only when WordPress sees HTTPS; otherwise it checks an OAuth 1.0a
    signature, and the secret never travels. The client signs first for an http:// store, falls back to Basic auth
    where the store takes it, and keeps for each store the way it took."""
    behind_tls = WooCommerceStore().start()
    behind_tls.sees_https = True
    product, other = woo_store.create_product("Blue shirt"), behind_tls.create_product("Red shirt")

    async def go():
        client, other_client = _client(woo_store), _client(behind_tls)
        try:
            read = await client.get_product(product["id"])
            updated = await client.update_product(product["id"], {"name": "Navy shirt"})
            other_read = await other_client.get_product(other["id"])
            return read, updated, client.host_needs, other_read, other_client.host_needs
        finally:
            await client.aclose()
            await other_client.aclose()

    try:
        basic = httpx.get(f"{woo_store.url}/wp-json/wc/v3/products/{product['id']}",
                          auth=(woo_store.consumer_key, woo_store.consumer_secret))
        assert basic.status_code == 401  # over plain HTTP the store does not take the keys themselves
        read, updated, needs_over_http, other_read, needs_behind_tls = _run(go())
    finally:
        behind_tls.stop()
    assert read["name"] == "Blue shirt" and updated["name"] == "Navy shirt" and other_read["name"] == "Red shirt"
    assert needs_over_http == {"oauth"} and needs_behind_tls == {"basic auth"}
    reads = [s for _, path, s in behind_tls.api_requests if path.endswith(f"/products/{other['id']}")]
    assert reads == [401, 200]  # signed as over HTTP, then Basic auth


def test_a_way_the_store_took_that_stops_working_gives_way_to_the_one_it_takes_now(woo_store):
    """A proxy in front of the store starts telling WordPress the requests are HTTPS: the signature over http://
    the store took until then is refused, and the keys themselves are taken from then on, with no restart."""
    product = woo_store.create_product("Blue shirt")

    async def go():
        client = _client(woo_store)
        try:
            before = await client.get_product(product["id"]), client.host_needs
            woo_store.sees_https = True
            after = await client.update_product(product["id"], {"name": "Navy shirt"}), client.host_needs
            return before, after
        finally:
            await client.aclose()

    (read, needs_before), (updated, needs_after) = _run(go())
    assert read["name"] == "Blue shirt" and updated["name"] == "Navy shirt"
    assert needs_before == {"oauth"} and needs_after == {"basic auth"}


def test_the_signature_is_made_over_http_as_a_store_that_does_not_see_https_checks_it():
    """A store behind a proxy that ends TLS (a CDN's "flexible" TLS) sees plain HTTP, so WooCommerce rebuilds the
    signed address with http:// whatever address the client used: the client signs it so."""
    address = "https://shop.example/wp-json/wc/v3/products/5"
    oauth = oauth_query("ck_key", "cs_secret", "POST", address, {"_method": "PUT", "per_page": 100})
    given = oauth.pop("oauth_signature")
    assert oauth["oauth_consumer_key"] == "ck_key" and "cs_secret" not in str(oauth.values())
    params = {"_method": "PUT", "per_page": "100", **oauth}
    assert given == oauth_signature("POST", "http://shop.example/wp-json/wc/v3/products/5", params, "cs_secret")
    assert given != oauth_signature("POST", address, params, "cs_secret")
    again = oauth_query("ck_key", "cs_secret", "POST", address, {"_method": "PUT", "per_page": 100})
    assert again["oauth_nonce"] != oauth["oauth_nonce"]  # a nonce is never sent twice


def test_a_store_with_plain_permalinks_is_asked_at_index_php_rest_route(woo_store):
    """No /wp-json/ path (the theme's "page not found" there): WordPress answers its REST API at
    index.php?rest_route=; the client finds it from that 404, keeps it for the store, and pages, writes and signs
    there (the signature over /index.php, as WooCommerce rebuilds it)."""
    woo_store.plain_permalinks = True
    for n in range(105):
        woo_store.catalogue.create_product({"name": f"p{n}"}, [])
    product = woo_store.create_product("Blue shirt")

    async def go():
        client = _client(woo_store)
        try:
            listed = [p["name"] async for p in client.products_modified_after(None)]
            updated = await client.update_product(product["id"], {"name": "Navy shirt"})
            tag = await client.term_id("tags", "Linen")
            return listed, updated, tag, client.host_needs
        finally:
            await client.aclose()

    listed, updated, tag, needs = _run(go())
    assert len(listed) == 106 and updated["name"] == "Navy shirt" and tag
    assert needs == {"rest route", "oauth"}
    page_not_found = httpx.get(f"{woo_store.url}/wp-json/wc/v3/products")
    assert page_not_found.status_code == 404 and "text/html" in page_not_found.headers["content-type"]


def test_a_first_request_that_is_a_write_finds_the_method_override_and_the_keys_place(woo_store):
    """A firewall answers the PUT 501 before WordPress sees the keys: the override is found first, then how the
    store takes the keys, and the write lands."""
    woo_store.strips_authorization = woo_store.refuses_put_delete = woo_store.sees_https = True
    product = woo_store.create_product("Blue shirt")

    async def go():
        client = _client(woo_store)
        try:
            return await client.update_product(product["id"], {"name": "Navy shirt"}), client.host_needs
        finally:
            await client.aclose()

    updated, needs = _run(go())
    assert updated["name"] == "Navy shirt" and needs == {"method override", "query auth"}


def test_wrong_keys_are_a_401_that_is_not_retried(woo_store):
    async def go():
        client = _client(woo_store, secret="cs_wrong")
        try:
            await client.get_product(1)
        finally:
            await client.aclose()

    with pytest.raises(StoreError) as raised:
        _run(go())
    assert raised.value.status == 401 and not raised.value.retryable


def test_listing_follows_the_pagination_headers(woo_store):
    for n in range(105):
        woo_store.catalogue.create_product({"name": f"p{n}"}, [])

    async def go():
        client = _client(woo_store)
        try:
            return [p["name"] async for p in client.products_modified_after(None)]
        finally:
            await client.aclose()

    names = _run(go())
    assert len(names) == 105 and len(set(names)) == 105
    assert [m for m, path, s in woo_store.api_requests if path.endswith("/products")] == ["GET", "GET"]


def test_an_answer_without_end_is_cut_off_by_size_or_by_the_deadline(woo_store):
    """A broken or hostile store (a shop names it) whose answer never ends, fast or a byte at a time under the read
    time-out: the request fails, saying why, instead of holding the worker or filling its memory."""
    async def attempt(every_s: float) -> StoreError:
        woo_store.endless_answer_s = every_s
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=0.5)
        try:
            with pytest.raises(StoreError) as caught:
                await client.products_page(1)
            return caught.value
        finally:
            await client.aclose()

    huge, dripping = _run(attempt(0.0)), _run(attempt(0.1))
    assert not huge.retryable and "the store's answer is larger than the limit of 32.0 MiB" in huge.message
    assert dripping.retryable and "no whole answer within 2 s" in dripping.message


def test_429_carries_retry_after_and_5xx_and_down_are_retryable(woo_store):
    async def attempt():
        client = _client(woo_store)
        try:
            await client.get_product(1)
        except StoreError as error:
            return error
        finally:
            await client.aclose()

    woo_store.fail_next(429, 1, retry_after=3)
    limited = _run(attempt())
    assert (limited.status, limited.retry_after, limited.retryable) == (429, 3.0, True)
    woo_store.fail_next(503, 1)
    assert _run(attempt()).retryable
    woo_store.go_down()
    unreachable = _run(attempt())
    assert unreachable.status is None and unreachable.retryable
    woo_store.come_up()
    assert _run(attempt()) is None  # back up: product 1 simply does not exist (None, no error)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    # What a misconfigured or hostile store sends: never a crash, never a job parked for ever.
    assert [retry_after_seconds(v) for v in ("soon", "nan", "-5", "1e309", "31536000", "Fri, 31 Dec 9999 23:59:59 GMT",
                                             "Mon, 99 Foo 2015 99:99:99 GMT")] == \
        [None, None, 0.0, MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S, None]


def test_term_ids_are_remembered_until_forgotten(woo_store):
    async def go():
        client = _client(woo_store)
        try:
            first = await client.term_id("categories", "Dresses")
            requests = len(woo_store.api_requests)
            again = await client.term_id("categories", "dresses")
            cached_requests = len(woo_store.api_requests) - requests
            client.forget_terms()
            await client.term_id("categories", "Dresses")
            return first, again, cached_requests, len(woo_store.api_requests) - requests
        finally:
            await client.aclose()

    first, again, cached_requests, after_forget = _run(go())
    assert first == again and cached_requests == 0 and after_forget == 1


def test_a_category_deleted_in_the_store_is_forgotten_when_the_tree_is_read_again(woo_store):
    async def go():
        client = _client(woo_store)
        try:
            deleted = await client.term_id("categories", "Dresses")
            kept = await client.term_id("categories", "Skirts")
            with woo_store.catalogue.lock:  # the merchant deletes it in wp-admin
                del woo_store.catalogue.terms["categories"][deleted]
            await client.category_paths(refresh=True)
            requests = len(woo_store.api_requests)
            again = await client.term_id("categories", "Dresses")
            return deleted, again, kept, await client.term_id("categories", "Skirts"), len(woo_store.api_requests) - requests
        finally:
            await client.aclose()

    deleted, again, kept, kept_again, asked = _run(go())
    assert again != deleted and again in woo_store.catalogue.terms["categories"]  # looked up, made again
    assert kept_again == kept and asked >= 1


def _listed(store: WooCommerceStore) -> tuple[list[int], list[dict]]:
    async def go():
        client = _client(store)
        try:
            return [p["id"] async for p in client.products_modified_after(None)], await client.webhooks()
        finally:
            await client.aclose()

    return _run(go())


def test_listings_page_on_without_wordpress_paging_headers_and_stop_where_a_cache_repeats_page_one(woo_store):
    """A proxy or cache in front of the store that drops `X-WP-TotalPages`: pages are read while they come back full.
    One that also answers every page with the first: the listing ends after it instead of looping."""
    made = [woo_store.create_product(f"Product {n}")["id"] for n in range(250)]
    woo_store.create_webhook({"name": "k", "topic": "product.created", "delivery_url": "https://example.com/x",
                              "secret": "s"})
    woo_store.strips_paging_headers = True
    products, webhooks = _listed(woo_store)
    assert products == made and len(webhooks) == 1  # 100 + 100 + 50: the short page is the last
    gets = [path for method, path, _ in woo_store.api_requests if method == "GET" and path.endswith("/products")]
    assert len(gets) == 3

    woo_store.ignores_page = True
    products, _ = _listed(woo_store)
    assert products == made[:100]  # page 2 was page 1 again: not listed twice, and not forever


def test_a_listing_that_never_ends_is_stopped_saying_so(woo_store, monkeypatch):
    """A broken store (or a plugin) that answers every page with other, full pages and says more follow: the
    listing stops past MAX_LISTED items (2,000,000 in service; 250 here) instead of holding its job for ever."""
    from api.integrations import woo_client

    monkeypatch.setattr(woo_client, "MAX_LISTED", 250)
    served = iter(range(1, 10**6))
    woo_store.answer_with = lambda method, path: ([{"id": next(served), "images": []} for _ in range(100)],
                                                   {"X-WP-TotalPages": "999999"})

    async def go():
        client = _client(woo_store)
        listed = []
        try:
            async for product in client.products_modified_after(None):
                listed.append(product["id"])
        except StoreError as error:
            return listed, error
        finally:
            await client.aclose()

    listed, error = _run(go())
    assert len(listed) == 300 and not error.retryable  # pages 1-3; page 4 would start past 250
    assert "still listing past 250 items (page 4)" in error.message, error.message


def test_a_key_check_is_one_request_however_many_categories_the_store_has(woo_store):
    """A connect's product read need not name the product's categories (the category tree is another request): a
    store answering in 13 s a request fits the connect's 25 s only so (an independent store check)."""
    woo_store.create_product("Blue shirt", categories=["Herren > Hemden"])

    async def go():
        client = _client(woo_store)
        try:
            return await client.products_page(1, 1, named=False)
        finally:
            await client.aclose()

    listed = _run(go())
    assert [p["name"] for p in listed.items] == ["Blue shirt"]
    assert [path for _, path, _ in woo_store.api_requests] == ["/wp-json/wc/v3/products"]


def test_a_store_that_displays_php_notices_before_its_json_is_read(woo_store):
    """A live site with PHP's display_errors on: a plugin's deprecation notice comes before every REST answer,
    errors included. The JSON after it is WooCommerce's, read as such (an independent store check saw every job of
    such a store dead at once, told the store had no REST API)."""
    product = woo_store.create_product("Blue shirt", categories=["Hemden"])
    woo_store.prints_php_notices = True

    async def go():
        client = _client(woo_store)
        try:
            read = await client.get_product(product["id"])
            written = await client.update_product(product["id"], {"tags": [{"id": await client.term_id("tags", "Leinen")}]})
            return read, written, await client.get_product(10**6)
        finally:
            await client.aclose()

    read, written, missing = _run(go())
    assert read["name"] == "Blue shirt" and [c["name"] for c in read["categories"]] == ["Hemden"]
    assert [t["name"] for t in written["tags"]] == ["Leinen"] and missing is None  # a 404's JSON read too


def test_a_store_answering_html_instead_of_json_is_a_clear_error(woo_store):
    """A security plugin's browser challenge, or a site whose REST API is off: 200 with an HTML page."""
    product = woo_store.create_product("Blue shirt")
    woo_store.answers_html = True

    async def go():
        client = _client(woo_store)
        try:
            await client.get_product(product["id"])
        finally:
            await client.aclose()

    with pytest.raises(StoreError) as raised:
        _run(go())
    assert "answered 200 with a text/html page, not WooCommerce's JSON: Checking your browser" in raised.value.message
    assert "a WooCommerce store with its REST API on" in raised.value.message
    assert not raised.value.retryable


def test_a_product_whose_id_the_service_cannot_keep_is_a_clear_store_error(woo_store):
    """A store (or a plugin rewriting its answers) that sends an id over 8 bytes: the sync or job fails saying so,
    instead of crashing in the database driver."""
    product = woo_store.create_product("Odd id")
    with woo_store.catalogue.lock:
        woo_store.catalogue.products[product["id"]]["id"] = 10**20

    async def go(read):
        client = _client(woo_store)
        try:
            return await read(client)
        finally:
            await client.aclose()

    for read in (lambda c: c.get_product(product["id"]), lambda c: c.products_page(1)):
        with pytest.raises(StoreError) as raised:
            _run(go(read))
        assert raised.value.message == ("the store sent a product without a usable id (100000000000000000000): a "
                                        "WooCommerce product id is a whole number from 1 to 9223372036854775807")
        assert not raised.value.retryable


def test_term_names_are_read_as_written_though_wordpress_answers_them_escaped(woo_store):
    """WordPress keeps and answers "Tops &amp; Tees" for a term named "Tops & Tees", in its listings and in each
    product's terms, and searches the names as stored: the client reads the names unescaped, finds the store's own
    term by either form, and a term it created is found again by a later client (an empty cache, after a worker
    restart) instead of failing on `term_exists`."""
    made = woo_store.create_product("Tee", categories=["Tops & Tees"], tags=["Black & White"])
    assert woo_store.catalogue.view(made["id"])["categories"][0]["name"] == "Tops &amp; Tees"  # as WordPress answers

    async def go():
        first, later = _client(woo_store), _client(woo_store)
        try:
            product = await first.get_product(made["id"])
            own = await first.existing_term_id("categories", "tops & tees")
            created = await first.term_id("categories", "Hats & Caps")
            found_again = await later.term_id("categories", "Hats & Caps")
            unknown = await later.existing_term_id("tags", "Red & Blue")
            return product, own, created, found_again, unknown
        finally:
            await first.aclose()
            await later.aclose()

    product, own, created, found_again, unknown = _run(go())
    assert [t["name"] for t in product["categories"]] == ["Tops & Tees"]
    assert [t["name"] for t in product["tags"]] == ["Black & White"]
    assert own == woo_store.catalogue.find_term("categories", "Tops & Tees")["id"]
    assert found_again == created and unknown is None
    names = sorted(t["name"] for t in woo_store.catalogue.terms["categories"].values())
    assert names == ["Hats &amp; Caps", "Tops &amp; Tees", "Uncategorized"]  # one each: nothing created twice


def test_a_term_the_search_does_not_reach_is_taken_from_the_stores_term_exists_answer(woo_store):
    """A search answers at most a page of 100: in a shop with many names containing the word, the term itself can
    lie beyond it. Creating it then answers 400 `term_exists` with its `resource_id`, which is the term's id."""
    for n in range(101):
        woo_store.catalogue.create_term("tags", f"A zebra print {n:03}")
    zebra = woo_store.catalogue.create_term("tags", "Zebra")["id"]

    async def go():
        client = _client(woo_store)
        try:
            return await client.term_id("tags", "zebra")
        finally:
            await client.aclose()

    assert _run(go()) == zebra
    assert len(woo_store.catalogue.terms["tags"]) == 102


def test_categories_are_named_by_their_path_in_the_stores_tree(woo_store):
    """A clothing shop's tree has "Hemden" under "Herren" and under "Damen": two categories of one name. The client
    names each by its path, finds each by its path, and reads the tree again for a category made since."""
    men = woo_store.create_product("Oxford", categories=["Herren > Hemden"])
    women = woo_store.create_product("Bluse", categories=["Damen > Hemden"])
    assert [c["name"] for c in woo_store.catalogue.view(men["id"])["categories"]] == ["Hemden"]  # as the store answers

    async def go():
        client = _client(woo_store)
        try:
            read = [await client.get_product(p["id"]) for p in (men, women)]
            ids = [await client.existing_term_id("categories", path) for path in ("herren > hemden", "Damen > Hemden")]
            missing = await client.existing_term_id("categories", "Hemden")  # no such category at the root
            made = woo_store.create_product("Cap", categories=["Herren > Hüte & Mützen"])
            later = await client.get_product(made["id"])
            return read, ids, missing, later
        finally:
            await client.aclose()

    read, ids, missing, later = _run(go())
    assert [[c["name"] for c in p["categories"]] for p in read] == [["Herren > Hemden"], ["Damen > Hemden"]]
    assert ids == [woo_store.catalogue.find_term("categories", "Herren > Hemden")["id"],
                   woo_store.catalogue.find_term("categories", "Damen > Hemden")["id"]] and ids[0] != ids[1]
    assert missing is None
    assert [c["name"] for c in later["categories"]] == ["Herren > Hüte & Mützen"]


def test_a_category_the_listing_lacks_reads_the_tree_again_once(woo_store):
    """A product naming a category id that the store's listing does not hold (a plugin hiding it from the REST
    API): the tree is read again once for it, not at every product; the category keeps the name the product gave."""
    hidden = woo_store.create_product("Hidden", categories=["Outlet"])
    outlet = woo_store.catalogue.find_term("categories", "Outlet")

    async def go():
        client = _client(woo_store)
        try:
            del woo_store.catalogue.terms["categories"][outlet["id"]]  # gone from the listing, still on the product
            await client.category_paths()
            before = len(woo_store.api_requests)
            read = [await client.get_product(hidden["id"]) for _ in range(3)]
            return read, [path for _, path, _ in woo_store.api_requests[before:]]
        finally:
            await client.aclose()

    read, paths = _run(go())
    assert [c["name"] for c in read[-1]["categories"]] == ["Outlet"]
    assert sum(path.endswith("/products/categories") for path in paths) == 1, paths


def test_a_term_made_without_an_id_in_the_answer_is_a_clear_store_error(woo_store, monkeypatch):
    """A store (or a plugin rewriting its answers) that answers a new term without its id: the job fails saying so,
    for good, instead of crashing on the answer."""
    monkeypatch.setattr(woo_store.catalogue, "create_term", lambda kind, name, parent=0, lang=None: {"name": name})

    async def go():
        client = _client(woo_store)
        try:
            await client.term_id("tags", "Brand new")
        finally:
            await client.aclose()

    with pytest.raises(StoreError) as raised:
        _run(go())
    assert raised.value.message == "POST /products/tags: the store answered 201 without the new term's id"
    assert not raised.value.retryable
