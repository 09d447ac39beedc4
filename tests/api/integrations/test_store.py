"""A store a shop gave: its home page from what a merchant pastes, and how its client may send the keys."""
import asyncio

import pytest

from api.integrations.store import moved_home, store_client, store_home
from api.intake.fetch import SafeHttp


@pytest.mark.parametrize("pasted, home", [
    ("https://shop.example/", "https://shop.example"),
    ("https://shop.example/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys", "https://shop.example"),
    ("https://shop.example/wp-login.php?redirect_to=%2Fwp-admin%2F", "https://shop.example"),
    ("https://shop.example/WP-ADMIN/", "https://shop.example"),
    ("https://example.com/boutique/wp-json/wc/v3/products", "https://example.com/boutique"),  # a site in a folder
    ("https://example.com/boutique/?lang=fr#top", "https://example.com/boutique"),
    ("https://example.com/index.php/wp-json/", "https://example.com/index.php"),  # index.php permalinks keep it
    ("HTTP://Shop.Example:8080/wp-admin", "http://shop.example:8080"),
    ("https://Shop.example/Boutique", "https://shop.example/Boutique"),  # a path keeps its case
    ("  https://shop.example/shop/  ", "https://shop.example/shop"),  # a page of the site is left to the key check
])
def test_an_address_of_the_admin_login_or_rest_api_is_cut_back_to_the_sites_home(pasted, home):
    assert store_home(pasted) == home


@pytest.mark.parametrize("location, home", [
    ("https://shop.example/wp-json/wc/v3/products?per_page=1", "https://shop.example"),  # moved to HTTPS
    ("https://www.shop.example/boutique/wp-json/wc/v3/products", "https://www.shop.example/boutique"),
    ("https://www.shop.example/index.php?rest_route=/wc/v3/products", "https://www.shop.example"),  # Plain permalinks
    ("https://shop.example/", None),  # the home page: no REST API there
    ("https://shop.example/wp-login.php?redirect_to=%2Fwp-json%2F", None),  # a login wall
    ("https://shop.example/index.php", None),
    (None, None),
])
def test_a_redirect_of_the_rest_api_names_the_stores_new_home_or_none(location, home):
    assert moved_home(location) == home


def test_over_plain_http_the_keys_themselves_go_only_to_a_store_the_operator_let_through():
    """On the internet anyone on the path could read keys sent over plain HTTP: such a store gets the signature
    alone (WooCommerce over HTTP takes it); an intranet store the operator let through may take the keys too."""
    async def ways(url: str, allowed: frozenset[str]) -> tuple[str, ...]:
        http = SafeHttp(allow_origins=allowed)
        client = store_client(http, url, "ck_" + "a" * 40, "cs_" + "b" * 40)
        await client.aclose()
        await http.aclose()
        return client.ways

    assert asyncio.run(ways("http://shop.example", frozenset())) == ("oauth",)
    assert asyncio.run(ways("http://shop.intra:8080", frozenset({"shop.intra:8080"}))) == (
        "oauth", "basic auth", "query auth")
    assert asyncio.run(ways("https://shop.example", frozenset())) == ("basic auth", "query auth", "oauth")
