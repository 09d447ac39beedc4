"""The store's home page from what a merchant pastes."""
import pytest

from api.integrations.store import store_home


@pytest.mark.parametrize("pasted, home", [
    ("https://shop.example/", "https://shop.example"),
    ("https://shop.example/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys", "https://shop.example"),
    ("https://shop.example/wp-login.php?redirect_to=%2Fwp-admin%2F", "https://shop.example"),
    ("https://shop.example/WP-ADMIN/", "https://shop.example"),
    ("https://example.com/boutique/wp-json/wc/v3/products", "https://example.com/boutique"),  # a site in a folder
    ("https://example.com/boutique/?lang=fr#top", "https://example.com/boutique"),
    ("https://example.com/index.php/wp-json/", "https://example.com/index.php"),  # index.php permalinks keep it
    ("HTTP://shop.example:8080/wp-admin", "http://shop.example:8080"),
    ("  https://shop.example/shop/  ", "https://shop.example/shop"),  # a page of the site is left to the key check
])
def test_an_address_of_the_admin_login_or_rest_api_is_cut_back_to_the_sites_home(pasted, home):
    assert store_home(pasted) == home
