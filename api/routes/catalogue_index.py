"""The state of a shop's similar-items index, for the console's Catalogue page: how many products the database
holds, how many the FAISS index serves, and the index's kind. Reading it first brings the index in step with the
database (Catalogues.index rebuilds it from stored embeddings when the two disagree), and how many products still have
vectors of another embedder than the one serving (api/domain/reembedder.py)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from api.domain.embedding import digest
from api.data import products
from api.deps import CurrentAccount, Db, Indexes, services_of
from api.schemas import Response

router = APIRouter(tags=["products"])


class IndexStatusOut(Response):
    products: int = Field(description="products in the catalogue")
    indexed: int = Field(description="products the similar-items index serves")
    vectors: int = Field(description="image vectors in the index (a product may have several images)")
    kind: str | None = Field(None, description="flat (exact), ivf (approximate) or pq (approximate, compressed); null while the catalogue is empty")
    dim: int | None = None
    stale: int | None = Field(None, description="products whose vectors another embedder made than the one now "
                              "serving: embedded again in the background after a similar-items query; null until "
                              "this server has embedded a photo")


@router.get("/catalogue/index", response_model=IndexStatusOut)
async def index_status(request: Request, account: CurrentAccount, db: Db, catalogues: Indexes) -> IndexStatusOut:
    index = await catalogues.index(db, account.id)
    count = len(await products.ids(db, account.id))
    serving = digest(getattr(services_of(request).inference, "embedder", None))
    stale = None if serving is None else await products.count_made_by_others(db, account.id, serving)
    if index is None:
        return IndexStatusOut(products=count, indexed=0, vectors=0, stale=stale)
    return IndexStatusOut(products=count, indexed=len(index), vectors=index.n_vectors, kind=index.kind, dim=index.dim,
                          stale=stale)
