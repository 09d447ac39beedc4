"""Merging predicted terms with the merchant's: never wipe theirs, replace only what the service added."""
import pytest

from api.integrations.merge import MARKER_KEY, images_fingerprint, is_annotated, marker_value, merge_terms
from api.integrations.policy import TaggingPolicy, decide

OURS, THEIRS = "our-integration", "another-integration"  # one store connected to two accounts

ANNOTATION = {
    "category": [{"label": "tshirt", "name": "T-Shirt", "score": 0.93}, {"label": "top", "name": "Top", "score": 0.04}],
    "attributes": {"gender": [{"label": "men", "name": "Men", "score": 0.81}],
                   "usage": [{"label": "casual", "name": "Casual", "score": 0.31}], "season": []},
    "colours": [{"name": "Navy Blue", "hex": "#1F2A44", "share": 0.62}, {"name": "White", "hex": "#FFFFFF", "share": 0.2},
                {"name": "Red", "hex": "#FF0000", "share": 0.05}],
    "model": {"name": "fashion-attributes", "version": "1.0"},
    "groups": [{"label": "tees", "name": "T-Shirts & Polos", "score": 0.97}],
    "policy": {"0.97": {"category": {"leaf": 0.9, "group": 0.8}, "attributes": {"gender": 0.8, "usage": 0.3}}},
}


def test_the_merchants_terms_are_kept_and_duplicates_not_added():
    current = [{"id": 1, "name": "Summer Sale", "slug": "summer-sale"}, {"id": 2, "name": "men", "slug": "men"}]
    merge = merge_terms(current, ["Men", "Navy Blue"], previously_added=[])
    assert merge.keep_ids == (1, 2)
    assert merge.add_names == ("Navy Blue",)
    assert merge.added == ("Navy Blue",)  # "Men" was the merchant's: a later annotation must not remove it


def test_a_new_annotation_replaces_only_what_the_service_added_before():
    current = [{"id": 1, "name": "Summer Sale", "slug": "s"}, {"id": 3, "name": "Red", "slug": "red"},
               {"id": 4, "name": "Men", "slug": "men"}]
    merge = merge_terms(current, ["Men", "Blue"], previously_added=["Red", "Men"])
    assert merge.keep_ids == (1, 4)
    assert merge.add_names == ("Blue",)
    assert set(merge.added) == {"Men", "Blue"}


@pytest.mark.parametrize("name, slug", [("Uncategorized", "uncategorized"), ("Unkategorisiert", "unkategorisiert"),
                                        ("Non classé", "non-classe"),
                                        ("Без категории", "%d0%b1%d0%b5%d0%b7-%d0%ba%d0%b0%d1%82%d0%b5%d0%b3%d0%be%d1%80%d0%b8%d0%b8")])
def test_woocommerces_default_category_in_any_of_its_languages_gives_way_to_a_real_category_only(name, slug):
    from api.integrations.merge import merchant_terms

    current = [{"id": 15, "name": name, "slug": slug}]
    assert merge_terms(current, ["T-Shirt"], [], drop_placeholder=True).keep_ids == ()
    assert merge_terms(current, [], [], drop_placeholder=True).keep_ids == (15,)
    assert merchant_terms({"categories": current, "tags": []}, OURS) == ([], [])  # nobody's choice: never learned
    own = [{"id": 16, "name": "Kategorisiert", "slug": "kategorisiert"}]
    assert merchant_terms({"categories": own, "tags": []}, OURS) == (["Kategorisiert"], [])


def test_the_marker_matches_only_the_photos_it_was_made_for():
    product = {"id": 5, "images": [{"id": 9, "src": "https://shop/a.jpg"}], "meta_data": []}
    assert not is_annotated(product, OURS)
    decision = decide(ANNOTATION, TaggingPolicy())
    merge = merge_terms([], ["T-Shirt"], [])
    value = marker_value(product, OURS, decision, merge, merge, "t")
    product["meta_data"] = [{"id": 1, "key": MARKER_KEY, "value": value}]
    assert is_annotated(product, OURS)
    changed = dict(product, images=[{"id": 10, "src": "https://shop/b.jpg"}])
    assert images_fingerprint(changed) != images_fingerprint(product)
    assert not is_annotated(changed, OURS)
    # Another integration of the same store annotated it: not this one's work, whose own record decides.
    assert not is_annotated(product, THEIRS)
    assert is_annotated(product, THEIRS, {"images": images_fingerprint(product)})
    # A marker written before markers named their integration is any integration's.
    legacy = {k: v for k, v in value.items() if k != "integration"}
    assert is_annotated(dict(product, meta_data=[{"key": MARKER_KEY, "value": legacy}]), THEIRS)


def test_the_merchants_own_terms_leave_out_the_services_and_the_placeholder():
    from api.integrations.merge import merchant_terms

    product = {"categories": [{"id": 1, "name": "Uncategorized", "slug": "uncategorized"},
                              {"id": 2, "name": "Herren > Hemden", "slug": "herren-hemden"},
                              {"id": 3, "name": "T-Shirt", "slug": "t-shirt"}],
               "tags": [{"id": 4, "name": "Leinen"}, {"id": 5, "name": "Navy"}],
               "meta_data": [{"key": "kalas_iris", "value": {"added_categories": ["t-shirt"], "added_tags": ["Navy"]}}]}
    assert merchant_terms(product, OURS) == (["Herren > Hemden"], ["Leinen"])
    # A store that dropped the marker: the service's own record of its write says the same.
    bare = {**product, "meta_data": []}
    assert merchant_terms(bare, OURS, {"added_categories": ["T-Shirt"], "added_tags": ["navy"]}) == \
        (["Herren > Hemden"], ["Leinen"])
    assert merchant_terms(bare, OURS) == (["Herren > Hemden", "T-Shirt"], ["Leinen", "Navy"])
    # What another integration of the store added is, to this one, the merchant's.
    theirs = {**product, "meta_data": [{"key": "kalas_iris", "value": {"integration": THEIRS, "added_categories":
                                                                       ["t-shirt"], "added_tags": ["Navy"]}}]}
    assert merchant_terms(theirs, OURS) == (["Herren > Hemden", "T-Shirt"], ["Leinen", "Navy"])


def test_a_persons_own_terms_for_the_shop_are_the_merchants_not_the_services():
    from api.integrations.merge import merchant_terms
    from api.integrations.policy import Decision

    product = {"id": 5, "images": [{"id": 9, "src": "https://shop/a.jpg"}],
               "categories": [{"id": 2, "name": "Herren-Oberteile"}, {"id": 7, "name": "Sale"}], "tags": []}
    categories = merge_terms([{"id": 7, "name": "Sale"}, {"id": 3, "name": "Damen-Oberteile"}], ["Herren-Oberteile"],
                             ["Damen-Oberteile"])  # the model's earlier, wrong, category is replaced
    assert (categories.keep_ids, categories.add_names) == ((7,), ("Herren-Oberteile",))
    tags = merge_terms([], [], [])
    by_model = marker_value(product, OURS, Decision("Herren-Oberteile", (), "shop", "shop-model:3"), categories, tags,
                            "t")
    by_person = marker_value(product, OURS, Decision("Herren-Oberteile", (), "shop", "review:r1", by_person=True),
                             categories, tags, "t")
    assert by_model["added_categories"] == ["Herren-Oberteile"] and by_person["added_categories"] == []
    assert by_person["level"] == "shop"
    product["meta_data"] = [{"key": MARKER_KEY, "value": by_person}]
    assert merchant_terms(product, OURS) == (["Herren-Oberteile", "Sale"], [])  # what the shop's model learns from


def test_the_same_terms_in_another_order_are_no_move():
    from api.integrations.catalogue_import import terms_moved

    product = {"categories": [{"id": 7, "name": "Sale"}, {"id": 2, "name": "Herren-Oberteile"}],
               "tags": [{"id": 4, "name": "Leinen"}], "meta_data": []}
    assert terms_moved({"categories": ["Herren-Oberteile", "Sale"], "tags": ["Leinen"]}, product, OURS, None) is None
    assert terms_moved({"categories": ["Herren-Oberteile"], "tags": ["Leinen"]}, product, OURS, None) == \
        (["Sale", "Herren-Oberteile"], ["Leinen"])
