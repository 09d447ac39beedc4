"""Catalogue and Similar items: add and import products, see the index follow, then find a product by its photo,
with and without a crop, and move through the gallery with the arrow keys."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import screenshot, shared_photo, sign_in
from tests.web.test_annotate import drag

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def product_titles(shared_data: Path, photos: list[Path]) -> list[str]:
    """The shop titles the data set gives these product photos."""
    with (shared_data / "fashion-products" / "labels.csv").open(newline="") as handle:
        titles = {row["id"]: row["title"] for row in csv.DictReader(handle)}
    return [titles[photo.stem].replace(",", " ") for photo in photos]


def test_build_a_catalogue_and_search_it(desktop, service, shared_data: Path) -> None:
    shop = sign_in(desktop, service, "cataloguer", "/catalogue")
    desktop.get_by_text("No products yet").wait_for()
    assert desktop.get_by_test_id("index-state").inner_text() == "up to date"

    # One product from photos on this device.
    first = shared_photo(shared_data, "fashion-products", 10)
    add = desktop.get_by_test_id("add-product")
    [first_title] = product_titles(shared_data, [first])
    add.get_by_label("Title").fill(first_title)
    add.get_by_label("SKU (optional)").fill("SHIRT-1")
    add.get_by_label("Your categories (optional, comma-separated)").fill("Herren > Hemden, Sale")
    add.get_by_label("Your tags (optional, comma-separated)").fill("Leinen")
    add.get_by_label("Photos (1 to 8)").set_input_files(first)
    add.get_by_role("button", name="Add product").click()
    add.get_by_text(f'Added "{first_title}" to the catalogue.').wait_for()

    # Three more imported from a CSV whose image URLs point at the shop's (test) image host.
    photos = [shared_photo(shared_data, "fashion-products", 20 + i) for i in range(3)]
    titles = product_titles(shared_data, photos)
    rows = [f"{title},SKU-{i},,{service.image_host.add(photo.name, photo.read_bytes())},Herren > Hemden|Neu {i},"
            + ("gestreift" if i else "") for i, (title, photo) in enumerate(zip(titles, photos))]
    desktop.get_by_label("Or paste the list").fill("title,sku,url,image_urls,categories,tags\n" + "\n".join(rows))
    desktop.get_by_role("button", name="Import", exact=True).click()
    desktop.get_by_text("Imported 3 products").wait_for()
    table = desktop.get_by_test_id("products")
    table.get_by_text(titles[2]).wait_for()
    assert table.locator("tbody tr").count() == 4
    status = desktop.get_by_test_id("index-status").inner_text()
    assert re.search(r"Products\s+4", status) and re.search(r"In the index\s+4", status)
    assert desktop.get_by_test_id("index-state").inner_text() == "up to date"
    # The shop's own terms came with the form and with the CSV's optional columns ("|" between several).
    listed = httpx.get(service.api("/products"), headers={"Authorization": f"Bearer {shop.token}"}).json()["items"]
    terms = {p["sku"]: (p["categories"], p["tags"]) for p in listed}
    assert terms == {"SHIRT-1": (["Herren > Hemden", "Sale"], ["Leinen"]),
                     **{f"SKU-{i}": (["Herren > Hemden", f"Neu {i}"], ["gestreift"] if i else []) for i in range(3)}}
    screenshot(desktop, "catalogue")

    # Words find a product: its own title's words put it first, with its photo beside it.
    search = desktop.get_by_role("search")
    search.get_by_label("Search by words").fill(titles[2])
    search.get_by_role("button", name="Search").click()
    desktop.get_by_role("heading", name=re.compile(r"best for")).wait_for()
    found = desktop.get_by_test_id("similar-item")
    # A words search says how much of the query the product's own text holds, not its photo's raw score.
    assert found.first.get_attribute("aria-label") == f"1. {titles[2]}, 100% of your words"
    screenshot(desktop, "catalogue-search")

    # A bad import row is refused with its row named, and nothing is sent.
    desktop.get_by_label("Or paste the list").fill("title,sku,url,image_urls\nNo photo,,,")
    desktop.get_by_role("button", name="Import", exact=True).click()
    assert "CSV row 2 needs a title and at least one image URL." in desktop.get_by_role("alert").inner_text()

    # Search with the photo of an imported product: that product comes first, at full similarity.
    desktop.get_by_role("link", name="Similar items").click()
    # (The page's words search offers the demo gallery too.)
    assert desktop.get_by_role("search").get_by_label("Search in", exact=True).input_value() == "shop"
    desktop.get_by_test_id("photo-input").set_input_files(photos[1])
    items = desktop.get_by_test_id("similar-item")
    items.first.wait_for()
    assert items.count() == 4
    best = items.first.get_attribute("aria-label")
    assert best.startswith(f"1. {titles[1]}, similarity") and best.endswith("100%"), best
    # Similarity is shown from 0 %: a photo unlike the query (a cosine below 0) is not "-1 %" similar.
    labels = [items.nth(i).get_attribute("aria-label") for i in range(items.count())]
    assert all(re.search(r", similarity (\d|[1-9]\d|100)%$", label) for label in labels), labels
    screenshot(desktop, "similar")

    # The arrow keys move through the gallery.
    items.first.focus()
    desktop.keyboard.press("ArrowRight")
    assert desktop.evaluate("document.activeElement.getAttribute('aria-label')").startswith("2. ")
    desktop.keyboard.press("End")
    assert desktop.evaluate("document.activeElement.getAttribute('aria-label')").startswith("4. ")
    desktop.keyboard.press("ArrowLeft")
    assert desktop.evaluate("document.activeElement.getAttribute('aria-label')").startswith("3. ")

    # Search again with only a part of the photo.
    drag(desktop, "[data-testid=crop-surface]", (0.2, 0.1), (0.8, 0.7))
    desktop.get_by_role("button", name="Search with the crop").click()
    desktop.get_by_role("heading", name=re.compile("most similar")).wait_for()
    items.first.wait_for()
    assert items.count() == 4
