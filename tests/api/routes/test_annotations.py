"""Annotating uploads and URLs, single and batch, with crops; stored with the image and listed back."""
from __future__ import annotations

import io
import json

from PIL import Image

from tests.api.conftest import create_shop, image_files
from tests.support import images as make


def _check_annotation(body: dict) -> None:
    assert body["category"] and body["category"][0]["score"] >= body["category"][-1]["score"]
    assert set(body["attributes"]) >= {"gender", "usage", "season"}
    assert body["colours"] and body["model"]["name"] == "fashion-attributes"


def test_upload_is_annotated_stored_and_listed(model_client, model_settings, photos):
    shop = create_shop(model_client)
    answer = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("tee.jpg", photos[0], "image/jpeg")})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    _check_annotation(body)
    assert body["source"] == {"kind": "upload", "filename": "tee.jpg"} and body["crop"] is None

    # The signed image URL works without any header, as an <img> tag would load it.
    image = model_client.get(body["image"]["url"])
    assert image.status_code == 200 and image.content == photos[0] and image.headers["content-type"] == "image/jpeg"
    # Its bytes are one file beside the database, named by the image's id.
    [stored] = image_files(model_settings)
    assert stored.name == body["image"]["id"] and stored.read_bytes() == photos[0]

    again = model_client.get(f"/api/v1/annotations/{body['id']}", headers=shop.headers).json()
    assert again["category"] == body["category"] and again["image"]["id"] == body["image"]["id"]
    listed = model_client.get("/api/v1/annotations", headers=shop.session).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]


def test_crop_box_is_applied_and_stored(model_client, photos):
    shop = create_shop(model_client)
    width, height = Image.open(io.BytesIO(photos[1])).size
    crop = {"x": 10, "y": 20, "width": width // 2, "height": height // 2}
    whole = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[1])}).json()
    cropped = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[1])},
                                data={"crop": json.dumps(crop)})
    assert cropped.status_code == 201, cropped.text
    assert cropped.json()["crop"] == crop
    # The model saw a different picture: some score differs.
    assert cropped.json()["category"] != whole["category"] or cropped.json()["colours"] != whole["colours"]
    # The stored image is the original upload; the crop travels beside it.
    assert model_client.get(cropped.json()["image"]["url"]).content == photos[1]


def test_url_is_fetched_and_annotated(model_client, photos, image_host):
    shop = create_shop(model_client)
    url = image_host.add("url-photo.jpg", photos[2])
    answer = model_client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": url})
    assert answer.status_code == 201, answer.text
    _check_annotation(answer.json())
    assert answer.json()["source"] == {"kind": "url", "url": url}
    # The scheme in any case, as a phone's keyboard may capitalise it.
    shouted = model_client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": "HTTP" + url[4:]})
    assert shouted.status_code == 201, shouted.text


def test_batch_answers_each_image_alone(model_client, photos):
    shop = create_shop(model_client)
    files = [("files", ("a.jpg", photos[0])), ("files", ("bad.txt", b"not an image")), ("files", ("c.jpg", photos[3]))]
    answer = model_client.post("/api/v1/annotations/batch", headers=shop.headers, files=files)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["index"] for i in items] == [0, 1, 2]
    assert items[0]["annotation"] and items[2]["annotation"] and items[1]["annotation"] is None
    assert items[1]["error"]["code"] == "not_an_image"
    # Exactly the two good photos are stored.
    assert model_client.get("/api/v1/annotations", headers=shop.headers).json()["total"] == 2


def test_batch_of_urls_with_crops(model_client, photos, image_host):
    shop = create_shop(model_client)
    items = [{"url": image_host.add("b1.jpg", photos[4])},
             {"url": image_host.add("b2.jpg", photos[5]), "crop": {"x": 0, "y": 0, "width": 50, "height": 50}},
             {"url": "http://10.0.0.1/private.jpg"}]
    answer = model_client.post("/api/v1/annotations/batch/url", headers=shop.headers, json={"items": items})
    assert answer.status_code == 200, answer.text
    got = answer.json()["items"]
    assert got[0]["annotation"] and got[1]["annotation"]["crop"]["width"] == 50
    assert got[2]["error"]["code"] == "url_not_allowed"


def test_delete_removes_annotation_and_image(model_client, model_settings, photos):
    shop = create_shop(model_client)
    body = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])}).json()
    assert len(image_files(model_settings)) == 1
    assert model_client.delete(f"/api/v1/annotations/{body['id']}", headers=shop.headers).status_code == 204
    assert model_client.get(f"/api/v1/annotations/{body['id']}", headers=shop.headers).status_code == 404
    assert model_client.get(body["image"]["url"]).status_code == 404
    assert image_files(model_settings) == []


def test_routes_needing_models_say_what_to_configure(client, photos):
    shop = create_shop(client)
    answer = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
    assert answer.status_code == 503 and "KALAS_INFERENCE_URL" in answer.json()["error"]["message"]


def test_a_heic_photo_from_an_iphone_is_annotated_as_its_jpeg_would_be_and_stored_as_jpeg(model_client, photos):
    shop = create_shop(model_client)

    def annotate(name: str, data: bytes) -> dict:
        answer = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": (name, data, "image/heic")})
        assert answer.status_code == 201, answer.text
        return answer.json()

    heic, original = annotate("IMG_0001.HEIC", make.heic(photos[1])), annotate("p.jpg", photos[1])
    assert heic["category"][0]["label"] == original["category"][0]["label"]
    assert (heic["image"]["width"], heic["image"]["height"]) == (original["image"]["width"], original["image"]["height"])
    stored = model_client.get(heic["image"]["url"])
    assert stored.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(stored.content)).format == "JPEG"


def test_an_exif_rotated_upload_is_stored_with_its_upright_size(model_client):
    # Without a crop box the API reads the size from the header (the handler decodes the pixels): it must be
    # the upright size, the frame crop boxes are given in, as a full decode would give it.
    shop = create_shop(model_client)
    answer = model_client.post("/api/v1/annotations", headers=shop.headers,
                               files={"file": ("turned.jpg", make.exif_rotated_jpeg(), "image/jpeg")})
    assert answer.status_code == 201, answer.text
    assert (answer.json()["image"]["width"], answer.json()["image"]["height"]) == (40, 80)


def test_a_products_name_is_taken_beside_the_photo_and_a_bad_one_refused_with_what_is_wrong(model_client, photos,
                                                                                          image_host):
    shop = create_shop(model_client)
    named = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])},
                              data={"title": "Herren Laufschuh Nova, schwarz"})
    assert named.status_code == 201 and named.json()["shop"] is None, named.text  # no shop model: nothing to read it
    # The annotation keeps the name it was given, as its source says where the photo came from.
    assert named.json()["source"] == {"kind": "upload", "filename": "a.jpg", "title": "Herren Laufschuh Nova, schwarz"}
    kept = model_client.get(f"/api/v1/annotations/{named.json()['id']}", headers=shop.headers).json()
    assert kept["source"]["title"] == "Herren Laufschuh Nova, schwarz"
    url = image_host.add("named.jpg", photos[0])
    for title, problem in (("Hemd\x00", "control character U+0000"), ("x" * 301, "at most 300 characters")):
        upload = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])},
                                   data={"title": title})
        by_url = model_client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": url, "title": title})
        for answer in (upload, by_url):
            assert answer.status_code == 422 and problem in answer.text and "title" in answer.text, answer.text
    # An empty form field is no name (as a browser's form sends one left blank); in JSON, null is.
    blank = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])},
                              data={"title": ""})
    empty = model_client.post("/api/v1/annotations/url", headers=shop.headers, json={"url": url, "title": ""})
    assert blank.status_code == 201 and empty.status_code == 422 and "at least 1 character" in empty.text, empty.text
    assert "title" not in blank.json()["source"]


def test_a_batch_takes_a_name_per_photo_and_a_bad_list_is_refused_with_what_is_wrong(model_client, photos):
    shop = create_shop(model_client)
    files = [("files", ("a.jpg", photos[0])), ("files", ("b.jpg", photos[1]))]
    named = model_client.post("/api/v1/annotations/batch", headers=shop.headers, files=files,
                              data={"titles": json.dumps(["Herren Hemd Nova", None])})
    assert named.status_code == 200 and all(item["annotation"] for item in named.json()["items"]), named.text
    assert [item["annotation"]["source"].get("title") for item in named.json()["items"]] == ["Herren Hemd Nova", None]
    for titles, problem in ((["only one"], "1 names for 2 images"), ("Herren Hemd", "not JSON"),
                            ({"a": 1}, "it is an object, not a list"), ("7", "it is a number, not a list"), (["ok", "Hemd\u202e"], "titles[1]"),
                            (["ok", "x" * 301], "at most 300 characters")):
        raw = titles if isinstance(titles, str) else json.dumps(titles)
        answer = model_client.post("/api/v1/annotations/batch", headers=shop.headers, files=files, data={"titles": raw})
        assert answer.status_code == 422 and problem in answer.text, (titles, answer.text)
