"""Reviews: corrections checked against the taxonomy, history listed, and the export read by the training code."""
from __future__ import annotations

import csv
import io
import zipfile

from handlers.taxonomy import load_taxonomy
from kalas.dataset import read_records
from kalas.training_data import read_examples
from tests.api.conftest import create_shop

CORRECTION = {"category": "tees", "attributes": {"gender": "women", "usage": "casual", "season": "summer"},
              "colours": ["navy", "white"]}


def _annotate(client, shop, photo: bytes, crop: str | None = None) -> dict:
    answer = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photo)},
                         data={"crop": crop} if crop else {})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_review_records_who_and_when_and_keeps_history(model_client, photos):
    shop = create_shop(model_client)
    annotation = _annotate(model_client, shop, photos[0])
    first = model_client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.session, json=CORRECTION)
    assert first.status_code == 201, first.text
    assert first.json()["reviewer"] == shop.email and first.json()["category"] == "tees"
    second = model_client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers,
                               json=CORRECTION | {"category": "shirt"})
    assert second.json()["reviewer"].startswith("ki_")

    current = model_client.get(f"/api/v1/annotations/{annotation['id']}", headers=shop.headers).json()
    assert current["review"]["id"] == second.json()["id"]
    history = model_client.get(f"/api/v1/reviews?annotation_id={annotation['id']}", headers=shop.headers).json()
    assert [r["id"] for r in history["items"]] == [second.json()["id"], first.json()["id"]]
    assert model_client.get(f"/api/v1/reviews/{first.json()['id']}", headers=shop.headers).json()["category"] == "tees"
    reviewed = model_client.get("/api/v1/annotations?reviewed=true", headers=shop.headers).json()
    unreviewed = model_client.get("/api/v1/annotations?reviewed=false", headers=shop.headers).json()
    assert reviewed["total"] == 1 and unreviewed["total"] == 0


def test_the_names_an_annotation_shows_are_taken_as_their_labels(model_client, photos):
    shop = create_shop(model_client)
    annotation = _annotate(model_client, shop, photos[0])
    # What a shop's script has at hand: the annotation's own names ("T-Shirt", "Men", "Navy Blue"), in any case.
    shown = {"category": annotation["category"][0]["name"].upper(),
             "attributes": {group: values[0]["name"] for group, values in annotation["attributes"].items() if values},
             "colours": [colour["name"] for colour in annotation["colours"]] + ["Navy Blue", "WHITE"]}
    review = model_client.post(f"/api/v1/annotations/{annotation['id']}/review", headers=shop.headers, json=shown)
    assert review.status_code == 201, review.text
    taxonomy = load_taxonomy()
    colour_labels = {c.name: c.label for c in taxonomy.colours}
    assert review.json()["category"] == annotation["category"][0]["label"]
    assert review.json()["attributes"] == {group: values[0]["label"]
                                           for group, values in annotation["attributes"].items() if values}
    assert review.json()["colours"] == [colour_labels[c["name"]] for c in annotation["colours"]] + ["navy", "white"]


def test_labels_outside_the_taxonomy_are_refused_with_the_valid_ones(model_client, photos):
    shop = create_shop(model_client)
    annotation = _annotate(model_client, shop, photos[0])
    url = f"/api/v1/annotations/{annotation['id']}/review"
    bad_category = model_client.post(url, headers=shop.headers, json=CORRECTION | {"category": "spaceship"})
    assert bad_category.status_code == 422 and "spaceship" in bad_category.json()["error"]["message"]
    bad_value = model_client.post(url, headers=shop.headers, json=CORRECTION | {"attributes": {"gender": "robot"}})
    assert bad_value.status_code == 422 and "men" in bad_value.json()["error"]["message"]
    bad_colour = model_client.post(url, headers=shop.headers, json=CORRECTION | {"colours": ["octarine"]})
    assert bad_colour.status_code == 422
    # Every unknown value of one correction is named at once, not the first alone.
    several = model_client.post(url, headers=shop.headers, json={
        "category": "waistcoat", "attributes": {"gender": "robot", "sleeve": "long"}, "colours": ["navy", "octarine"]})
    error = several.json()["error"]
    assert several.status_code == 422 and error["code"] == "unknown_label"
    for named in ("group 'sleeve'", "category 'waistcoat'", "gender 'robot'", "colour 'octarine'"):
        assert named in error["message"], (named, error["message"])
    assert "'navy'" not in error["message"]
    # A near miss (a plural, a data set's spelling) is answered with the terms it is near.
    plural = model_client.post(url, headers=shop.headers, json=CORRECTION | {"category": "T-Shirts"})
    assert plural.status_code == 422
    assert "did you mean 'tshirt' (T-Shirt)" in plural.json()["error"]["message"], plural.json()
    assert model_client.get("/api/v1/reviews", headers=shop.headers).json()["total"] == 0


def test_export_is_a_training_directory_the_training_code_reads(model_client, photos, tmp_path):
    shop = create_shop(model_client)
    whole = _annotate(model_client, shop, photos[0])
    cropped = _annotate(model_client, shop, photos[1], crop='{"x": 0, "y": 0, "width": 100, "height": 120}')
    _annotate(model_client, shop, photos[2])  # never reviewed: not exported
    model_client.post(f"/api/v1/annotations/{whole['id']}/review", headers=shop.headers, json=CORRECTION)
    model_client.post(f"/api/v1/annotations/{cropped['id']}/review", headers=shop.headers,
                      json={"category": "jeans", "attributes": {"gender": "men"}, "colours": []})

    export = model_client.get("/api/v1/reviews/export", headers=shop.headers)
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(export.content)).extractall(tmp_path)
    directory = tmp_path / "reviewed"
    rows = list(csv.DictReader((directory / "labels.csv").open()))
    assert list(rows[0]) == ["id", "category", "gender", "usage", "season", "pattern", "colour"]
    assert {r["id"]: r["category"] for r in rows} == {whole["id"]: "tees", cropped["id"]: "jeans"}
    assert next(r for r in rows if r["id"] == cropped["id"])["colour"] == ""

    from PIL import Image

    assert Image.open(directory / "images" / f"{cropped['id']}.jpg").size == (100, 120)
    records = read_records(directory)
    assert len(records) == 2
    taxonomy = load_taxonomy()
    examples, _ = read_examples([directory], taxonomy)
    assert len(examples.records) == 2
    leaves = taxonomy.leaves
    tees = examples.records.index(next(r for r in examples.records if r.id == whole["id"]))
    marked = {leaves[i] for i in examples.category_mask[tees].nonzero().flatten().tolist()}
    assert marked == set(taxonomy.leaves_under("tees"))


def test_no_label_or_name_stands_for_two_terms():
    # Reviews take either (api/routes/reviews.py): a taxonomy edit that made one ambiguous would store a guess.
    taxonomy = load_taxonomy()
    for terms in (taxonomy.categories, taxonomy.colours, *taxonomy.attributes.values()):
        meaning: dict[str, str] = {}
        for term in terms:
            for key in {term.label.casefold(), term.name.casefold()}:
                assert meaning.setdefault(key, term.label) == term.label, (key, meaning[key], term.label)
