"""A shop's tagging policy on hand-made calibrated answers: a leaf, a group or a hold; tags; the shop's words."""
import pytest
from pydantic import ValidationError

from api.integrations.policy import TaggingPolicy, decide, from_review, unwritten
from tests.api.integrations.test_merge import ANNOTATION


def test_a_sure_leaf_is_applied_with_the_sure_attribute_values_and_main_colours():
    decision = decide(ANNOTATION, TaggingPolicy())
    assert (decision.category, decision.level, decision.held) == ("T-Shirt", "leaf", False)
    # Casual (0.31) passes its 0.3 threshold; Red at 5 % of the garment is a detail; age is never a tag by default
    assert decision.tags == ("Men", "Casual", "Navy Blue", "White")
    assert decision.model == "fashion-attributes:1.0"


def test_an_unsure_leaf_backs_off_to_a_sure_group_and_an_unsure_group_is_held():
    unsure = dict(ANNOTATION, category=[{"label": "tshirt", "name": "T-Shirt", "score": 0.6}])
    decision = decide(unsure, TaggingPolicy())
    assert (decision.category, decision.level) == ("T-Shirts & Polos", "group")
    # The nearest group is unsure, the department above it sure: the department is applied.
    farther = dict(unsure, groups=[{"label": "tees", "name": "T-Shirts & Polos", "score": 0.7},
                                   {"label": "topwear", "name": "Topwear", "score": 0.99}])
    assert (decide(farther, TaggingPolicy()).category, decide(farther, TaggingPolicy()).level) == ("Topwear", "group")
    held = dict(unsure, groups=[{"label": "tees", "name": "T-Shirts & Polos", "score": 0.7},
                                {"label": "topwear", "name": "Topwear", "score": 0.75}])
    decision = decide(held, TaggingPolicy())
    assert decision.held and decision.category is None and decision.tags == ()
    assert decision.describe() == {"state": "held", "category": None, "tags": [], "level": None}


def test_departments_have_a_threshold_of_their_own_where_the_calibration_fitted_one():
    """A calibration since 2026-12-07 fits a threshold per level: the nearest group at `group`, the department (the
    last of the groups) at `department`; one fitted before has `group` alone, for both."""
    levels = {"leaf": 0.9, "group": 0.8, "department": 0.85}
    unsure = dict(ANNOTATION, category=[{"label": "tshirt", "name": "T-Shirt", "score": 0.6}],
                  policy={"0.97": {"category": levels, "attributes": {}}})

    def applied(tees: float, topwear: float, **thresholds: float) -> str | None:
        policy = {"0.97": {"category": {**levels, **thresholds}, "attributes": {}}}
        groups = [{"label": "tees", "name": "T-Shirts & Polos", "score": tees},
                  {"label": "topwear", "name": "Topwear", "score": topwear}]
        return decide(dict(unsure, groups=groups, policy=policy), TaggingPolicy()).category

    assert applied(0.81, 0.9) == "T-Shirts & Polos"  # the group at its own threshold, whatever the department's
    assert applied(0.81, 0.9, group=0.82) == "Topwear"  # the group unsure: its department, sure at 0.85
    assert applied(0.7, 0.84) is None  # the department under its threshold although above the group's: held
    assert applied(0.7, 0.84, department=0.8) == "Topwear"
    before = {"leaf": 0.9, "group": 0.8}  # a calibration without a department threshold: `group` for both
    assert applied(0.7, 0.84, **before, department=None) == "Topwear"


def test_a_stricter_target_an_uncalibrated_model_and_the_shops_words():
    assert decide(ANNOTATION, TaggingPolicy(target="0.99")).held  # the model has no thresholds for 99 %: held
    assert decide(dict(ANNOTATION, policy={}), TaggingPolicy()).held  # uncalibrated scores: nothing applied
    policy = TaggingPolicy(attribute_groups=["gender"], colours=False, rename={"Men": "Herren", "T-Shirt": "T-Shirts"})
    decision = decide(ANNOTATION, policy)
    assert (decision.category, decision.tags) == ("T-Shirts", ("Herren",))
    # A rename is a name the store can show: trimmed, never blank, never longer than a term.
    assert TaggingPolicy(rename={" Men ": "Herren "}).rename == {"Men": "Herren"}
    with pytest.raises(ValidationError, match="is blank"):
        TaggingPolicy(rename={"Men": "  "})
    with pytest.raises(ValidationError, match="at most 100 characters"):
        TaggingPolicy(rename={"Men": "H" * 101})


def test_an_unsure_shop_category_backs_off_to_its_nearest_sure_parent_in_the_shops_tree():
    """A shop with its own model: its category at or above the target, else the nearest parent that is (the
    shop's tree, "Herren > Hemden"), else held; annotations made before parents were answered have none."""
    shop = {"version": 3, "categories": [{"name": "Herren > Oberteile > Hemden", "score": 0.6},
                                         {"name": "Herren > Oberteile > T-Shirts", "score": 0.37}],
            "parents": [{"name": "Herren > Oberteile", "score": 0.975}, {"name": "Herren", "score": 0.99}],
            "tags": [{"name": "gestreift", "score": 0.98}, {"name": "Leinen", "score": 0.6}]}
    decision = decide(dict(ANNOTATION, shop=shop), TaggingPolicy())
    assert (decision.category, decision.tags, decision.level) == ("Herren > Oberteile", ("gestreift",), "shop")
    assert decide(dict(ANNOTATION, shop=shop), TaggingPolicy(target="0.99")).category == "Herren"
    sure = dict(shop, categories=[{"name": "Herren > Oberteile > Hemden", "score": 0.98}])
    assert decide(dict(ANNOTATION, shop=sure), TaggingPolicy()).category == "Herren > Oberteile > Hemden"
    unsure = dict(shop, parents=[{"name": "Herren > Oberteile", "score": 0.9}, {"name": "Herren", "score": 0.96}])
    assert decide(dict(ANNOTATION, shop=unsure), TaggingPolicy()).held
    before = {key: value for key, value in shop.items() if key != "parents"}
    assert decide(dict(ANNOTATION, shop=before), TaggingPolicy()).held


def test_a_correction_is_applied_in_the_shops_words():
    review = {"_id": "r1", "category": "polo", "attributes": {"gender": "women", "age": "adult"},
              "colours": ["navy", "white", "red"]}
    decision = from_review(review, TaggingPolicy(rename={"Women": "Damen"}))
    assert (decision.category, decision.level) == ("Polo Shirt", "review")
    assert decision.tags == ("Damen", "Navy Blue", "White")  # no age tag, two colours at most


def test_a_correction_with_the_shops_own_terms_writes_them_as_they_are():
    review = {"_id": "r2", "category": "polo", "attributes": {"gender": "women"}, "colours": ["navy"],
              "shop": {"category": "Herren-Oberteile", "tags": ["gestreift"]}}
    decision = from_review(review, TaggingPolicy(rename={"Herren-Oberteile": "x", "Women": "Damen"}))
    assert (decision.category, decision.tags, decision.level) == ("Herren-Oberteile", ("gestreift",), "shop")
    assert decision.by_person and decision.model == "review:r2"
    # Tags alone (a shop without categories of its own); no shop terms at all is the taxonomy's correction.
    assert from_review({**review, "shop": {"category": None, "tags": ["gestreift"]}}, TaggingPolicy()).tags == ("gestreift",)
    assert from_review({**review, "shop": None}, TaggingPolicy()).level == "review"


def test_a_rename_is_spelt_as_the_service_writes_its_term_and_one_it_never_writes_is_named():
    # Any case names the term; a category at any level, an attribute value and a colour are all written terms. A
    # policy stored before the spelling applies too, read as the service writes its terms.
    policy = TaggingPolicy.model_validate({"rename": {"women": "Damen", "NAVY BLUE": "Marine", "topwear": "Oberteile",
                                                      "fall": "Herbst"}})
    assert policy.rename == {"Women": "Damen", "Navy Blue": "Marine", "Topwear": "Oberteile", "Fall": "Herbst"}
    assert unwritten(policy.rename) == []
    assert decide(ANNOTATION, TaggingPolicy(attribute_groups=["gender"], colours=False,
                                            rename={"men": "Herren"})).tags == ("Herren",)
    # A term the service never writes is kept as given, and named with what it is near.
    kept = TaggingPolicy(rename={"Men": "Herren", "Woman": "Dame", "Autumn": "Herbst", "Herren-Oberteile": "x"}).rename
    assert kept == {"Men": "Herren", "Woman": "Dame", "Autumn": "Herbst", "Herren-Oberteile": "x"}
    problems = unwritten(kept)
    assert problems[0] == "the service writes no term 'Woman': did you mean 'Women'?"
    assert [p.split(" (")[0] for p in problems[1:]] == [
        "the service writes no term 'Autumn'", "the service writes no term 'Herren-Oberteile'"]
