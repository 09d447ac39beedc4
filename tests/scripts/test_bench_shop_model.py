"""The simulated shops of scripts/bench_shop_model.py: which products each holds and by what name, in both layouts."""
from __future__ import annotations

from pathlib import Path

from kalas.dataset import Record
from scripts.bench_shop_model import MIN_TERM_PRODUCTS, german_category, simulated_shops


def products_row(title: str, sub: str = "Topwear", gender: str = "Men") -> dict:
    return {"title": title, "gender": gender, "masterCategory": "Apparel", "subCategory": sub,
            "articleType": "Tshirts", "baseColour": "Blue", "season": "Summer", "year": "2012", "usage": "Casual"}


def test_a_product_is_named_by_its_kind_and_whom_it_is_for_in_either_layout() -> None:
    assert german_category(products_row("x")) == "Herren-Oberteile"
    assert german_category(products_row("x", sub="Flip Flops", gender="Unisex")) == "Unisex-Zehentrenner"
    assert german_category(products_row("x", sub="Free Gifts")) is None  # a kind the shop does not sort
    assert german_category({"label": "Pants", "kids": "True", "sender_id": "1"}) == "Kinder-Hosen"
    assert german_category({"label": "Outwear", "kids": "False", "sender_id": "1"}) == "Jacken & Mäntel"
    assert german_category({"label": "Other", "kids": "False", "sender_id": "1"}) is None


def test_consumer_photos_make_a_category_shop_and_no_tag_shop() -> None:
    rows = ([{"label": "Pants", "kids": "True", "sender_id": "1"}] * MIN_TERM_PRODUCTS
            + [{"label": "Dress", "kids": "False", "sender_id": "1"}] * (MIN_TERM_PRODUCTS - 1)  # too few to learn
            + [{"label": "Other", "kids": "False", "sender_id": "1"}] * 30)
    records = [Record(str(i), Path(f"{i}.jpg"), dict(row)) for i, row in enumerate(rows)]
    shops = simulated_shops(records)
    assert list(shops) == ["de-categories"]  # no titles: no pattern words to tag by
    assert {category for _, category, _ in shops["de-categories"]} == {"Kinder-Hosen"}
    assert [row for row, _, _ in shops["de-categories"]] == list(range(MIN_TERM_PRODUCTS))


def test_product_photos_make_both_shops() -> None:
    rows = ([products_row("Men Striped Shirt")] * MIN_TERM_PRODUCTS
            + [products_row("Women Floral Top", gender="Women")] * MIN_TERM_PRODUCTS)
    records = [Record(str(i), Path(f"{i}.jpg"), dict(row)) for i, row in enumerate(rows)]
    shops = simulated_shops(records)
    assert {c for _, c, _ in shops["de-categories"]} == {"Herren-Oberteile", "Damen-Oberteile"}
    assert {tuple(tags) for _, _, tags in shops["pattern-tags"]} == {("striped",), ("floral",)}
