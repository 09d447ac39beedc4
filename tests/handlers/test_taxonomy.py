"""The taxonomy is consistent, and its mappings cover every label of both shared data sets."""
import re
from pathlib import Path

import pytest

from handlers.taxonomy import LabelError, load_taxonomy, parse_taxonomy
from kalas.dataset import read_records

REVIEW_COLUMNS = ["id", "category", "gender", "usage", "season", "colour"]


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.mark.parametrize("folder, kind", [("fashion-products", "fashion-products"), ("clothing", "clothing")])
def test_every_label_of_the_shared_data_maps_into_the_taxonomy(taxonomy, shared_data: Path, folder: str, kind: str) -> None:
    records = read_records(shared_data / folder)
    mapping = taxonomy.detect(["id", *records[0].labels])
    assert mapping.name == kind
    annotations = [mapping.annotate(r.labels) for r in records]  # raises LabelError on any unmapped value
    labelled = [a.category for a in annotations if a.category is not None]
    # Only deliberate nulls are unlabelled: clothing's "Other" and nothing in fashion-products.
    assert len(labelled) == len(records) - sum(r.labels.get("label") == "Other" for r in records)
    assert all(any(taxonomy.matches(leaf, c) for leaf in taxonomy.leaves) for c in set(labelled))


def test_fashion_products_row_maps_every_group(taxonomy) -> None:
    row = {"articleType": "Tshirts", "gender": "Boys", "usage": "Smart Casual", "season": "Fall", "baseColour": "Navy Blue"}
    annotation = taxonomy.datasets["fashion-products"].annotate(row)
    assert annotation.category == "tees"
    assert annotation.attributes == {"gender": "boys", "age": "kids", "usage": "smart-casual", "season": "fall"}
    assert annotation.colour == "navy"


def test_a_label_in_another_case_maps_alike(taxonomy) -> None:
    # Another export of the same data ("TSHIRTS", "navy blue") is the same labels, not labels the taxonomy lacks.
    row = {"articleType": "TSHIRTS", "gender": "boys", "usage": "SMART CASUAL", "season": "fall", "baseColour": "navy blue"}
    assert taxonomy.datasets["fashion-products"].annotate(row) == taxonomy.datasets["fashion-products"].annotate(
        {"articleType": "Tshirts", "gender": "Boys", "usage": "Smart Casual", "season": "Fall", "baseColour": "Navy Blue"})
    assert taxonomy.datasets["clothing"].annotate({"label": "t-shirt", "kids": "False"}).category == "tshirt"


def test_values_that_differ_only_in_case_are_refused() -> None:
    data = {
        "categories": [{"label": "shirt", "name": "Shirt"}, {"label": "blouse", "name": "Blouse"}],
        "attributes": {},
        "colours": [],
        "datasets": {"x": {"detect": ["label"], "category": {"column": "label",
                                                             "map": {"Shirt": "shirt", "SHIRT": "blouse"}}}},
    }
    with pytest.raises(ValueError, match=r"maps 'label' values that differ only in case"):
        parse_taxonomy(data)


@pytest.mark.parametrize("title, pattern", [
    ("Basics Men White Slim Fit Checked Shirt", "checked"),
    ("ADIDAS Men Sf Striped Hood Blue Sweatshirts", "striped"),
    ("W Women Floral Print Green Kurta", "floral"),            # floral refines printed
    ("Roxy Women Green Graphic Printed T-Shirt", "graphic"),   # graphic refines printed
    ("ADIDAS Men Stripes Solid Grey Sweaters", None),          # two patterns: unlabelled
    ("Guess Men Chase Steel Watch", None),                     # none named
    ("", None),
])
def test_the_pattern_is_read_from_the_title_by_the_rule_in_the_yaml(taxonomy, title: str, pattern: str | None) -> None:
    row = {"title": title, "articleType": "Tshirts", "gender": "Men", "usage": "Casual", "season": "Fall",
           "baseColour": "Blue"}
    assert taxonomy.datasets["fashion-products"].annotate(row).attributes.get("pattern") == pattern


def test_a_word_rule_naming_an_unknown_value_is_refused_at_load() -> None:
    data = {
        "categories": [], "colours": [], "attributes": {"pattern": [{"label": "solid", "name": "Solid"}]},
        "datasets": {"x": {"detect": ["title"], "attributes": {"pattern": {"column": "title", "words": {"plaid": "tartan"}}}}},
    }
    with pytest.raises(ValueError, match=r"'tartan' is not in the vocabulary"):
        parse_taxonomy(data)


def test_groups_stand_for_their_leaves(taxonomy) -> None:
    assert set(taxonomy.leaves_under("tees")) == {"tshirt", "polo"}
    assert taxonomy.matches("heels", "shoes") and taxonomy.matches("heels", "heels")
    assert not taxonomy.matches("shirt", "tees")
    assert "shoes" not in taxonomy.leaves and "heels" in taxonomy.leaves


def test_a_coarse_label_checks_the_group_of_the_leaf_it_names(taxonomy) -> None:
    """What a data set's labels can check of a predicted leaf: the nearest label it names above it."""
    clothing = taxonomy.datasets["clothing"].category_labels(taxonomy)
    products = taxonomy.datasets["fashion-products"].category_labels(taxonomy)
    assert {"shoes", "pants", "headwear", "tshirt", "polo"} <= clothing and "heels" not in clothing
    assert taxonomy.checked("heels", clothing) == "shoes" and taxonomy.checked("polo", clothing) == "polo"
    assert taxonomy.checked("polo", products) == "tees" and taxonomy.checked("heels", products) == "heels"
    assert taxonomy.checked("perfume", clothing) == "perfume"  # no clothing label accepts it: the leaf itself
    review = taxonomy.detect(REVIEW_COLUMNS).category_labels(taxonomy)
    assert taxonomy.checked("heels", review) == "heels"  # reviews name leaves


def test_colour_vocabulary_has_at_least_twelve_names_with_hex(taxonomy) -> None:
    assert len(taxonomy.colours) >= 12
    assert len({c.name for c in taxonomy.colours}) == len(taxonomy.colours)
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c.hex) for c in taxonomy.colours)


def test_review_export_is_detected_by_its_columns_and_validated(taxonomy) -> None:
    mapping = taxonomy.detect(REVIEW_COLUMNS)
    assert mapping.name == "review"
    row = {"category": "heels", "gender": "women", "usage": "", "season": "summer", "colour": "red"}
    assert mapping.annotate(row).attributes == {"gender": "women", "age": "adult", "season": "summer"}
    with pytest.raises(LabelError, match=r"column 'category' has 'stilettos'"):
        mapping.annotate({**row, "category": "stilettos"})


def test_unknown_values_and_columns_fail_with_what_was_wrong(taxonomy) -> None:
    with pytest.raises(LabelError, match=r"fashion-products: column 'articleType' has 'Capes'"):
        taxonomy.datasets["fashion-products"].annotate({"articleType": "Capes", "gender": "Men", "usage": "Casual", "season": "Fall", "baseColour": "Red"})
    with pytest.raises(ValueError, match=r"fit no kind"):
        taxonomy.detect(["id", "colour_name"])


def test_a_mapping_to_an_unknown_label_is_refused_at_load() -> None:
    data = {
        "categories": [{"label": "shirt", "name": "Shirt"}],
        "attributes": {},
        "colours": [],
        "datasets": {"x": {"detect": ["label"], "category": {"column": "label", "map": {"Shirt": "blouse"}}}},
    }
    with pytest.raises(ValueError, match=r"'Shirt' maps to 'blouse'"):
        parse_taxonomy(data)
