"""Past reviews: pages, the jump to a review by its number, the shop's own terms a review gave, and the export for
training."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import screenshot, shared_photo, sign_in
from tests.web.stores import connect_store, others_paused, wait_for_job

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REVIEWED = 7  # more than one page of five


def review_photos(service, token: str, photos: list[Path]) -> list[str]:
    """Annotate each photo through the API and save a correction; returns the categories, oldest first."""
    session = {"Authorization": f"Bearer {token}"}
    categories = []
    for number, photo in enumerate(photos):
        created = httpx.post(service.api("/annotations"), headers=session, timeout=60,
                             files={"file": (photo.name, photo.read_bytes(), "image/jpeg")})
        assert created.status_code == 201, created.text
        category = ["tshirt", "shirt", "dress"][number % 3]
        reviewed = httpx.post(service.api(f"/annotations/{created.json()['id']}/review"), headers=session,
                              json={"category": category, "attributes": {}, "colours": []})
        assert reviewed.status_code == 201, reviewed.text
        categories.append(category)
    return categories


def test_pages_jump_and_export(desktop, service, shared_data: Path, tmp_path: Path) -> None:
    shop = sign_in(desktop, service, "reviewer")
    categories = review_photos(service, shop.token, [shared_photo(shared_data, "clothing", i) for i in range(REVIEWED)])
    newest_first = categories[::-1]

    desktop.get_by_role("link", name="Past reviews").click()
    cards = desktop.get_by_test_id("review")
    cards.first.wait_for()
    assert cards.count() == 5
    assert desktop.get_by_text(f"Page 1 of 2 · {REVIEWED} reviews").is_visible()
    labels = [cards.nth(i).get_by_test_id("review-category").get_attribute("data-label") for i in range(5)]
    assert labels == newest_first[:5]

    desktop.get_by_role("button", name="Next").click()
    desktop.get_by_role("heading", name="#6 ·").wait_for()
    assert cards.count() == REVIEWED - 5

    desktop.get_by_role("button", name="Previous").click()
    desktop.get_by_role("heading", name="#1 ·").wait_for()
    desktop.get_by_label("Go to #").fill("7")
    desktop.get_by_role("button", name="Go", exact=True).click()
    seventh = desktop.get_by_role("heading", name="#7 ·")
    seventh.wait_for()
    assert cards.filter(has=seventh).get_by_test_id("review-category").get_attribute("data-label") == newest_first[6]

    desktop.get_by_label("Go to #").fill("99")
    desktop.get_by_role("button", name="Go", exact=True).click()
    assert f"Enter a number from 1 to {REVIEWED}." in desktop.get_by_role("alert").inner_text()

    with desktop.expect_download() as event:
        desktop.get_by_role("button", name="Download for training (.zip)").click()
    saved = tmp_path / "reviewed.zip"
    event.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        rows = archive.read("reviewed/labels.csv").decode().strip().splitlines()
        assert len(rows) == REVIEWED + 1  # header + one row per reviewed photo
        assert sum(name.startswith("reviewed/images/") for name in archive.namelist()) == REVIEWED


def test_a_review_in_the_shops_own_terms_shows_them(desktop, service, store, worker, shared_data: Path) -> None:
    """A store product's review that gave the shop's own category and tags shows them beside the taxonomy
    correction, under the queue's labels; a review without them shows none."""
    shop = sign_in(desktop, service, "reviewer-own-terms")
    session = {"Authorization": f"Bearer {shop.token}"}
    # The shop's own terms are those its products carry.
    carried = httpx.post(service.api("/products/upload"), headers=session, timeout=60,
                         files=[("images", ("p.jpg", shared_photo(shared_data, "clothing", 0).read_bytes()))],
                         data={"title": "Altes Hemd", "categories": json.dumps(["Herren > Hemden"]),
                               "tags": json.dumps(["neu"])})
    assert carried.status_code == 201, carried.text
    with others_paused(store):
        integration = connect_store(service, session, store)
        product = store.create_product("Neues Hemd", [shared_photo(shared_data, "clothing", 1).read_bytes()])
        wait_for_job(service, session, integration, product["id"])
    annotated = next(a for a in httpx.get(service.api("/annotations"), headers=session).json()["items"]
                     if a["source"].get("product_id") == str(product["id"]))
    reviewed = httpx.post(service.api(f"/annotations/{annotated['id']}/review"), headers=session, json={
        "category": "shirt", "attributes": {}, "colours": [], "shop": {"category": "Herren > Hemden", "tags": ["neu"]}})
    assert reviewed.status_code == 201, reviewed.text
    review_photos(service, shop.token, [shared_photo(shared_data, "clothing", 2)])  # the newest: no shop terms

    desktop.get_by_role("link", name="Past reviews").click()
    plain = desktop.get_by_test_id("review").filter(has=desktop.get_by_role("heading", name="#1 ·"))
    own = desktop.get_by_test_id("review").filter(has=desktop.get_by_role("heading", name="#2 ·"))
    terms = own.get_by_role("table", name="Your shop's own terms")
    terms.wait_for()
    assert own.get_by_test_id("review-category").get_attribute("data-label") == "shirt"
    assert terms.get_by_role("row", name="Your category").get_by_role("cell").inner_text() == "Herren > Hemden"
    assert terms.get_by_role("row", name="Your tags").get_by_role("cell").inner_text() == "neu"
    assert own.get_by_test_id("review-byline").inner_text().startswith("Neues Hemd · reviewed by ")  # its store name
    assert plain.get_by_test_id("review-byline").inner_text().startswith("reviewed by ")  # an upload without a name
    assert plain.get_by_test_id("review-category").is_visible()
    assert plain.get_by_role("table", name="Your shop's own terms").count() == 0
    assert "Your category" not in plain.inner_text()
    screenshot(desktop, "reviews-own-terms")
