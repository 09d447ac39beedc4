"""What a store's answers hold, read as the service keeps it: which size of a product photo to fetch, which of a
product's `images` are photos at all, whether a product is on show, what an error answer says, and names kept
without the characters the API refuses."""
import httpx
import pytest

from api.integrations.catalogue_import import store_name
from api.integrations.store_data import (answer_reason, error_data, not_on_show, photo_url, plain_name, store_product,
                                         term_name)

UPLOADS = "https://shop.example/wp-content/uploads/2026/03"
# As WooCommerce 10.2+ answers a 2,400 × 1,800 upload: WordPress's sizes of its shape, in WordPress's order.
SRCSET = (f"{UPLOADS}/tee-300x225.jpg 300w, {UPLOADS}/tee-1024x768.jpg 1024w, {UPLOADS}/tee-768x576.jpg 768w, "
          f"{UPLOADS}/tee-1536x1152.jpg 1536w, {UPLOADS}/tee-2048x1536.jpg 2048w")


@pytest.mark.parametrize("image, fetched", [
    ({"src": f"{UPLOADS}/tee.jpg", "srcset": SRCSET}, f"{UPLOADS}/tee-1024x768.jpg"),  # the smallest ≥ 1,024 wide
    ({"src": f"{UPLOADS}/tee.jpg"}, f"{UPLOADS}/tee.jpg"),  # a store before WooCommerce 10.2: the upload
    ({"src": f"{UPLOADS}/tee.jpg", "srcset": ""}, f"{UPLOADS}/tee.jpg"),  # an upload WordPress made no sizes of
    ({"src": f"{UPLOADS}/small.jpg", "srcset": f"{UPLOADS}/small-225x300.jpg 225w, {UPLOADS}/small.jpg 400w"},
     f"{UPLOADS}/small.jpg"),  # every size smaller than 1,024: the upload itself
    ({"src": f"{UPLOADS}/tee.jpg", "srcset": f"{UPLOADS}/a.jpg 1200w,{UPLOADS}/b.jpg 300w"}, f"{UPLOADS}/a.jpg"),
    ({"src": f"{UPLOADS}/tee.jpg", "srcset": "not a srcset"}, f"{UPLOADS}/tee.jpg"),
    ({"src": f"{UPLOADS}/tee.jpg", "srcset": ["a", "list"]}, f"{UPLOADS}/tee.jpg"),
])
def test_a_photo_is_fetched_at_the_smallest_size_that_is_wide_enough(image, fetched):
    assert photo_url(image) == fetched


def test_only_images_with_an_address_are_a_products_photos_and_only_objects_its_meta_data():
    product = store_product({"id": 7, "images": [{"id": 1, "src": f"{UPLOADS}/tee.jpg"}, {"id": 2}, "tee.jpg",
                                                 {"id": 3, "src": None}]}, 7)
    assert product["images"] == [{"id": 1, "src": f"{UPLOADS}/tee.jpg"}]
    assert store_product({"id": 7, "images": "tee.jpg"}, 7)["images"] == []
    assert store_product({"id": 7}, 7)["images"] == []  # a deleted product's delivery is its id alone
    odd_meta = store_product({"id": 7, "meta_data": ["kalas_iris", {"key": "kalas_iris", "value": "{}"}, 5]}, 7)
    assert odd_meta["meta_data"] == [{"key": "kalas_iris", "value": "{}"}]
    assert store_product({"id": 7, "meta_data": "kalas_iris"}, 7)["meta_data"] == []


def test_a_hostile_srcset_gives_the_upload():
    """An "address" of 3.5 MB with a width (read by splitting, in linear time: a store's answer is no place for a
    backtracking pattern), and sizes with widths that are no numbers: none is an address to fetch."""
    hostile = {"src": f"{UPLOADS}/tee.jpg", "srcset": "http://" * 500_000 + " 2000w"}
    assert photo_url(hostile) == f"{UPLOADS}/tee.jpg"
    odd = {"src": f"{UPLOADS}/tee.jpg", "srcset": f"{UPLOADS}/a.jpg ２０００w, {UPLOADS}/b.jpg 2x, {UPLOADS}/c.jpg -5w"}
    assert photo_url(odd) == f"{UPLOADS}/tee.jpg"


@pytest.mark.parametrize("fields, shown", [
    ({"status": "publish", "catalog_visibility": "visible"}, None),
    ({"status": "publish", "catalog_visibility": "search"}, None),  # found by search only: still on show
    ({}, None),  # a body without them (a store that leaves fields out) is taken as on show
    ({"status": "draft"}, "a draft"),
    ({"status": "pending"}, "pending review"),
    ({"status": "private"}, "private"),
    ({"status": "future"}, "scheduled"),
    ({"status": "publish", "catalog_visibility": "hidden"}, "hidden from the shop"),
    ({"status": "x" * 100}, "x" * 40),  # a plugin's own status, said briefly
])
def test_a_product_is_on_show_when_published_and_not_hidden(fields, shown):
    assert not_on_show({"id": 7, **fields}) == shown


def test_a_firewalls_page_is_named_by_its_title_and_a_rest_error_by_its_message():
    page = httpx.Response(403, headers={"Content-Type": "text/html; charset=UTF-8"},
                          content=b"<html><head><title>Attention Required! | Cloudflare</title></head></html>")
    assert answer_reason(page) == "a text/html page, not WooCommerce's JSON: Attention Required! | Cloudflare"
    rest_error = httpx.Response(401, json={"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot."})
    assert answer_reason(rest_error) == "Sorry, you cannot."


@pytest.mark.parametrize("page, shown", [
    # Hostile answers of 5 MB, read in linear time within their first 64 KiB: titles and tags that never close.
    (b"<title>x" * 700_000, "x x x"),
    (b"<" * 5_000_000, "<<<"),
    (b"<TITLE lang='de'>Zugriff verweigert</TITLE><body>403</body>", "Zugriff verweigert"),
    (b"<html><body><h1>Forbidden</h1></body></html>", "Forbidden"),  # no title: the page's text
])
def test_what_a_page_in_the_stores_place_shows(page, shown):
    answer = httpx.Response(403, headers={"Content-Type": "text/html"}, content=page)
    assert answer_reason(answer).startswith(f"a text/html page, not WooCommerce's JSON: {shown}")


def test_an_answer_nested_too_deeply_is_read_as_no_json():
    deep = httpx.Response(500, headers={"Content-Type": "application/json"}, content=b"[" * 100_000)
    assert error_data(deep) == {}
    assert answer_reason(deep).startswith("a application/json page, not WooCommerce's JSON: [[[")


def test_a_name_is_kept_without_the_characters_the_api_refuses_in_a_shops_text():
    # A plugin's or an attacker's controls and bidirectional overrides read as spaces: nothing kept or shown holds one.
    assert plain_name("Hemd\u202e blau&amp;wei\u00df\n") == "Hemd  blau&wei\u00df"
    assert term_name({"name": "\x1b[31mSale"}) == "[31mSale"
    assert store_name({"name": "Leinenhemd\r\n\u2066Herren"}) == "Leinenhemd   Herren"
    assert store_name({"name": "\x00\n\u202e"}) is None and store_name({"name": "  "}) is None
