"""The taxonomy's labels, for clients that build corrections: a review names taxonomy labels (category, one value
per attribute group, colour labels), while annotations show names. The console fills its pickers from this."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from api.deps import CurrentAccount
from api.schemas import Response
from handlers.taxonomy import load_taxonomy

router = APIRouter(tags=["taxonomy"])


class TermOut(Response):
    label: str = Field(examples=["tshirt"])
    name: str = Field(examples=["T-Shirt"])


class CategoryOut(TermOut):
    parent: str | None = None
    leaf: bool = Field(description="the model predicts leaves; a parent stands for any of its leaves")


class ColourOut(TermOut):
    hex: str = Field(examples=["#1F2A44"])


class TaxonomyOut(Response):
    categories: list[CategoryOut]
    attributes: dict[str, list[TermOut]]
    colours: list[ColourOut]


@router.get("/taxonomy", response_model=TaxonomyOut)
async def taxonomy(account: CurrentAccount) -> TaxonomyOut:
    found = load_taxonomy()
    leaves = set(found.leaves)
    return TaxonomyOut(
        categories=[CategoryOut(label=c.label, name=c.name, parent=c.parent, leaf=c.label in leaves) for c in found.categories],
        attributes={group: [TermOut(label=t.label, name=t.name) for t in terms] for group, terms in found.attributes.items()},
        colours=[ColourOut(label=c.label, name=c.name, hex=c.hex) for c in found.colours],
    )
