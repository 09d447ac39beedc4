"""A shop's tagging policy: what of an annotation is sure enough to write into its store, in the shop's words.

The model answers calibrated scores and, per target precision, the scores at or above which a category, its
nearest group or an attribute value may be applied (handlers/attributes_handler.py, scripts/calibrate.py). The
policy picks the target, the attribute groups that become tags (no `age` by default: "Adult" says nothing to a
shopper), whether the main colours become tags, and a rename table for any term ("Men" → "Herren").

`decide` turns an annotation into what is written: the category (a leaf, or its group when only the group is sure
enough), the tags, or a hold when not even the group is sure: a held product gets nothing written and waits in the
review queue. `from_review` does the same for a person's correction, which is always applied: in the shop's own
terms when the review gave them (written by their existing ids, as the merchant's own), else in the taxonomy's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from api.clients.inference import InferenceClient, InferenceError
from api.domain.errors import model_refusal, near_names
from api.schemas import Request, ShopTerm
from handlers.category_groups import backed_off
from handlers.decoding import warm_up_photo
from handlers.taxonomy import load_taxonomy

TARGETS = ("0.90", "0.95", "0.97", "0.99")
DEFAULT_TARGET = "0.97"
MIN_COLOUR_SHARE = 0.15  # a colour covering less of the garment is a detail, not its colour
MAX_COLOURS = 2


class TaggingPolicy(Request):
    target: Literal["0.90", "0.95", "0.97", "0.99"] = Field(
        DEFAULT_TARGET, description="the precision that what is written must reach (measured on validation photos)")
    attribute_groups: list[Literal["gender", "age", "usage", "season", "pattern"]] = Field(
        default_factory=lambda: ["gender", "usage", "season", "pattern"], max_length=5,
        description="attribute groups whose value becomes a tag")
    colours: bool = Field(True, description="the garment's main colours (up to two) become tags")
    rename: dict[ShopTerm, ShopTerm] = Field(default_factory=dict, max_length=200,
                                             description="the shop's word for any term the service writes",
                                             examples=[{"Men": "Herren", "Fall": "Autumn"}])

    @field_validator("rename")
    @classmethod
    def _as_written(cls, rename: dict[str, str]) -> dict[str, str]:
        """Each term spelt as the service writes it ("women" → "Women"), so that its rename applies, in a policy
        sent or one stored before; a term the service never writes is kept as given (`unwritten` names it)."""
        written = _written_names()
        return {written.get(term.casefold(), term): word for term, word in rename.items()}


def _written_names() -> dict[str, str]:
    return {name.casefold(): name for name in load_taxonomy().written_names()}


def unwritten(rename: dict[str, str]) -> list[str]:
    """A problem for each term of a rename table that the service never writes (its rename would never apply),
    naming the terms it is near."""
    names = load_taxonomy().written_names()
    problems = []
    for term in rename:
        if term in names:
            continue
        near = near_names(term, names)
        problems.append(f"the service writes no term {term!r}: did you mean {', '.join(map(repr, near))}?" if near else
                        f"the service writes no term {term!r} (GET /api/v1/taxonomy lists its categories, attribute "
                        "values and colours by name)")
    return problems


def policy_of(integration: dict) -> TaggingPolicy:
    """The integration's policy; the default (97 %, no age tags, colours, no renames) until the shop sets one."""
    return TaggingPolicy.model_validate(integration.get("policy") or {})


@dataclass(frozen=True)
class Decision:
    """What the policy writes: a category name (None: held for review), tags, and why. `by_person`: a review's own
    terms for the shop, written as the merchant's (a later annotation never replaces them; the shop's model learns
    them)."""

    category: str | None
    tags: tuple[str, ...]
    level: Literal["leaf", "group", "review", "shop"] | None
    model: str
    by_person: bool = False

    @property
    def held(self) -> bool:
        return self.category is None

    def describe(self) -> dict:
        return {"state": "held" if self.held else "applied", "category": self.category, "tags": list(self.tags),
                "level": self.level}


def decide(annotation: dict, policy: TaggingPolicy) -> Decision:
    model = annotation.get("model", {})
    identity = f"{model.get('name')}:{model.get('version')}"
    shop = annotation.get("shop")
    if shop and shop["categories"]:
        return _decide_shop(shop, policy, identity)
    thresholds = (annotation.get("policy") or {}).get(policy.target)
    if thresholds is None:  # an uncalibrated model: its scores say nothing about precision, so nothing is applied
        return Decision(None, (), None, identity)
    best = (annotation.get("category") or [None])[0]
    groups = annotation.get("groups") or []
    chosen = None if best is None else backed_off(best["score"], [g["score"] for g in groups],
                                                  thresholds["category"])
    if chosen is None:
        return Decision(None, (), None, identity)
    category, level = (best["name"], "leaf") if chosen < 0 else (groups[chosen]["name"], "group")
    tags = [values[0]["name"] for group, values in annotation.get("attributes", {}).items()
            if group in policy.attribute_groups and values
            and values[0]["score"] >= thresholds["attributes"].get(group, 1.01)]
    if policy.colours:
        tags += [c["name"] for c in annotation.get("colours", []) if c["share"] >= MIN_COLOUR_SHARE][:MAX_COLOURS]
    return Decision(_renamed(category, policy), tuple(dict.fromkeys(_renamed(t, policy) for t in tags)), level, identity)


def _decide_shop(shop: dict, policy: TaggingPolicy, identity: str) -> Decision:
    """The shop's own terms (its model's scores are calibrated on its held-out products): its best category, else
    the nearest of its parents in the shop's tree scored at or above the target precision ("Herren" when it is
    unclear which of "Herren > Hemden" and "Herren > T-Shirts"), and its tags scored at or above it, in its own
    words (no renames); held when neither the category nor a parent is."""
    target = float(policy.target)
    chosen = next((term for term in (shop["categories"][0], *shop.get("parents", ())) if term["score"] >= target),
                  None)
    if chosen is None:
        return Decision(None, (), None, identity)
    return Decision(chosen["name"], tuple(t["name"] for t in shop["tags"] if t["score"] >= target), "shop", identity)


def from_review(review: dict, policy: TaggingPolicy) -> Decision:
    """A person's correction, applied whatever the scores said: the shop's own terms when it gave them (level
    "shop", as they are: the policy's renames are for the taxonomy's words), else its taxonomy labels in the shop's
    words (level "review")."""
    shop = review.get("shop")
    if shop and (shop.get("category") or shop.get("tags")):
        return Decision(shop.get("category"), tuple(shop.get("tags") or ()), "shop", f"review:{review['_id']}",
                        by_person=True)
    taxonomy = load_taxonomy()
    attributes = {group: {t.label: t.name for t in terms} for group, terms in taxonomy.attributes.items()}
    colours = {c.label: c.name for c in taxonomy.colours}
    tags = [attributes[group][value] for group, value in review.get("attributes", {}).items()
            if group in policy.attribute_groups]
    if policy.colours:
        tags += [colours[label] for label in review.get("colours", [])][:MAX_COLOURS]
    return Decision(_renamed(taxonomy.name(review["category"]), policy),
                    tuple(dict.fromkeys(_renamed(t, policy) for t in tags)), "review", f"review:{review['_id']}")


def _renamed(term: str, policy: TaggingPolicy) -> str:
    return policy.rename.get(term, term)


async def served_policy(models: InferenceClient) -> dict:
    """The served model's policy table (per target: its thresholds and what they bought on held-out photos), read
    off its answer for a small made-up photo: the table travels with every answer, whatever runtime serves it."""
    [answer] = await models.annotate([warm_up_photo()])
    if isinstance(answer, InferenceError):
        raise model_refusal(answer.status, answer.message)
    return answer.get("policy") or {}
