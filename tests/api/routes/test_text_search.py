"""Text search: a shop's products ranked by words, by what their photos show and by their own titles and tags."""
from __future__ import annotations

from pathlib import Path


from handlers.taxonomy import load_taxonomy
from kalas.dataset import read_records, split
from tests.api.conftest import create_shop, make_settings, model_app

KINDS = [("Shirts", "striped"), ("Shirts", "checked"), ("Tshirts", "striped"), ("Tshirts", "printed"), ("Casual Shoes", None)]


def unseen_photos(shared_data: Path, per_kind: int = 3) -> dict[tuple[str, str | None], list[bytes]]:
    """The first photos (by id) of each kind in fashion-products' validation split: the encoder never saw them."""
    mapping = load_taxonomy().datasets["fashion-products"]
    found: dict[tuple[str, str | None], list[bytes]] = {kind: [] for kind in KINDS}
    for record in sorted(split(read_records(shared_data / "fashion-products"))[1], key=lambda r: int(r.id)):
        kind = (record.labels["articleType"], mapping.annotate(record.labels).attributes.get("pattern"))
        if kind in found and len(found[kind]) < per_kind:
            found[kind].append(record.image.read_bytes())
    return found


def upload(client, shop, photo: bytes, title: str) -> str:
    answer = client.post("/api/v1/products/upload", headers=shop.headers, data={"title": title},
                         files=[("images", ("p.jpg", photo))])
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def search(client, shop, q: str, k: int = 10) -> list[dict]:
    answer = client.get("/api/v1/products/search", params={"q": q, "k": k}, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_query_ranks_products_by_their_photos_and_by_their_own_words(model_client, shared_data):
    shop, other = create_shop(model_client, "shop-a"), create_shop(model_client, "shop-b")
    ids: dict[tuple[str, str | None], list[str]] = {}
    for n, (kind, photos) in enumerate(unseen_photos(shared_data).items()):
        # Titles that name nothing: the ranking below is the photos' alone.
        ids[kind] = [upload(model_client, shop, photo, f"item {n}-{i}") for i, photo in enumerate(photos)]

    best = search(model_client, shop, "striped shirt", k=3)
    assert {item["product"]["id"] for item in best} == set(ids[("Shirts", "striped")])
    assert all(item["words"] == 0 and item["photo"] > 0 for item in best)
    shoes = search(model_client, shop, "casual shoes", k=3)
    assert {item["product"]["id"] for item in shoes} == set(ids[("Casual Shoes", None)])

    # A word the encoder never learned is still found in the shop's own title, first.
    hemd = upload(model_client, shop, unseen_photos(shared_data, 1)[("Shirts", "checked")][0], "Herren Hemd kariert")
    found = search(model_client, shop, "hemd")
    assert found[0]["product"]["id"] == hemd and found[0]["words"] == 1.0

    # Another shop's striped shirt, titled with the very words, never reaches this shop's answers.
    theirs = upload(model_client, other, unseen_photos(shared_data, 1)[("Shirts", "striped")][0], "striped shirt")
    mine = {pid for kind_ids in ids.values() for pid in kind_ids} | {hemd}
    for q in ("striped shirt", "hemd", "shirt"):
        assert {item["product"]["id"] for item in search(model_client, shop, q, k=50)} <= mine
    assert search(model_client, other, "striped shirt")[0]["product"]["id"] == theirs


def test_a_query_without_words_or_a_server_without_an_encoder_says_what_is_wrong(model_client, served_models,
                                                                                    mongo_server, mongo_database, tmp_path):
    shop = create_shop(model_client)
    answer = model_client.get("/api/v1/products/search", params={"q": "?!"}, headers=shop.headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "empty_query"
    answer = model_client.get("/api/v1/products/search", params={"q": "x" * 201}, headers=shop.headers)
    assert answer.status_code == 422

    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "other",
                             text_encoder=tmp_path / "no-encoder")
    with model_app(settings, served_models) as client:
        shop = create_shop(client, "shop-c")
        answer = client.get("/api/v1/products/search", params={"q": "shirt"}, headers=shop.headers)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "text_search_unavailable"
        assert "KALAS_TEXT_ENCODER" in answer.json()["error"]["message"]
