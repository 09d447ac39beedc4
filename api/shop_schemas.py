"""What the API answers about a shop's own model (api/domain/shop_models.py): its terms in an annotation, and the
model page (its terms, examples per term, held-out precision and recall, versions, the last training)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ShopScored(_Out):
    name: str = Field(examples=["Herren-Oberteile"])
    score: float = Field(examples=[0.96], description="calibrated on the shop's held-out products")


class ShopTermsOut(_Out):
    """The shop's own terms for the photo, from its own model (trained on its catalogue)."""

    version: int = Field(description="the shop model's version that answered")
    named: bool = Field(False, description="whether the product's name (`title`) was read beside the photo: given, "
                                           "and the model learned the shop's names")
    categories: list[ShopScored] = Field(description="the shop's categories, best first (at most 3)")
    parents: list[ShopScored] = Field(default_factory=list, description=(
        "the best category's parents in the shop's tree (its name a path, \"Herren > Hemden\"), nearest first, each "
        "scored with all the shop's categories under it: what an unsure category backs off to"))
    tags: list[ShopScored] = Field(description="the shop's tags scored at least 0.5, best first")


class TermOut(_Out):
    name: str
    examples: int = Field(description="the shop's products carrying it")
    needs: int = Field(description="how many more products it needs before the model learns it (0: learned)")
    precision: float | None = Field(None, description="on the held-out products of the last training")
    recall: float | None = None
    support: int = Field(0, description="held-out products carrying it")


class HeldOutOut(_Out):
    products: int
    category_top1: float | None = None
    category_ece: float | None = None
    tag_micro_f1: float | None = None


class VersionOut(_Out):
    version: int
    created: datetime
    products: int
    train_seconds: float
    held_out: HeldOutOut | None = Field(description="the held-out products' figures, from their photos alone")
    held_out_named: HeldOutOut | None = Field(None, description=(
        "the held-out products that have a name, read with it (what a store product gets); none when the model "
        "learned no names"))


class TrainingOut(_Out):
    id: str
    state: str
    reason: str
    outcome: str | None
    last_error: str | None
    created: float
    updated: float


class ShopModelOut(_Out):
    state: str = Field(description="'trained' (a model answers the shop's terms) or 'none' (the generic taxonomy alone)",
                       examples=["trained"])
    min_examples: int = Field(description="products a term needs before the model learns it")
    min_named: int = Field(description="products with a name (`title`) among those a training learns from before it "
                                       "learns the shop's names and reads them beside a photo (a fifth of the "
                                       "products are held out to score it)")
    categories: list[TermOut] = Field(description="every category the shop's products carry, learned or not")
    tags: list[TermOut]
    current: VersionOut | None = Field(description="the version that answers, with its held-out figures")
    versions: list[VersionOut] = Field(description="the kept versions, newest first")
    training: TrainingOut | None = Field(description="the latest training job (queued, running, done or dead)")
