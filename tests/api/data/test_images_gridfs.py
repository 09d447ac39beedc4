"""Images' bytes in GridFS (KALAS_IMAGE_STORE=gridfs, api/data/images_gridfs.py), on the real nx-27017 server through
the real app: stored with their document, served, replaced and deleted with their product, exported and deleted with
the account, a missing one reported; nothing is written to the image directory.

nx-27017 keeps GridFS natively: `<bucket>.files` answers find (which the store uses), while count_documents and
delete_many on it fail or do nothing, so the store and this test stay with the GridFS API and find."""
from __future__ import annotations

import io
import zipfile

from gridfs import GridFSBucket
from pymongo import MongoClient

from api.data.images_gridfs import BUCKET
from tests.api.conftest import PASSWORD, create_shop, make_settings, model_app
from tests.support.data_dirs import files_under


def _bytes_in_gridfs(settings) -> dict[str, int]:
    with MongoClient(settings.mongo_uri) as mongo:
        db = mongo[settings.database]
        return {f["_id"]: f["length"] for f in db[f"{BUCKET}.files"].find({}, {"length": 1})}


def test_images_live_in_gridfs_from_upload_to_deletion(mongo_server, mongo_database, tmp_path, image_host,
                                                       served_models, photos):
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes", image_store="gridfs",
                             image_dir=tmp_path / "images", fetch_allow_origins=frozenset({image_host.origin}))
    with model_app(settings, served_models) as client:
        shop = create_shop(client)
        annotated = client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
        assert annotated.status_code == 201, annotated.text
        served = client.get(annotated.json()["image"]["url"])
        assert served.status_code == 200 and served.content == photos[0]

        product = client.post("/api/v1/products/upload", headers=shop.headers, data={"title": "shirt"},
                              files=[("images", ("b.jpg", photos[1])), ("images", ("c.jpg", photos[2]))])
        assert product.status_code == 201, product.text
        stored = _bytes_in_gridfs(settings)
        assert sorted(stored.values()) == sorted(len(p) for p in photos[:3])
        assert not files_under(tmp_path / "images")  # nothing on this host's disk

        export = client.get("/api/v1/account/export", headers=shop.session)
        with zipfile.ZipFile(io.BytesIO(export.content)) as bundle:
            exported = {name: bundle.read(name) for name in bundle.namelist() if name.startswith("images/")}
        assert sorted(exported.values()) == sorted(photos[:3])

        deleted = client.delete(f"/api/v1/products/{product.json()['id']}", headers=shop.headers)
        assert deleted.status_code == 204
        assert list(_bytes_in_gridfs(settings).values()) == [len(photos[0])]

        with MongoClient(settings.mongo_uri) as mongo:  # lost from the bucket, say by a partial restore
            GridFSBucket(mongo[settings.database], bucket_name=BUCKET).delete(annotated.json()["image"]["id"])
        missing = client.get(annotated.json()["image"]["url"])
        assert missing.status_code == 500 and missing.json()["error"]["code"] == "image_file_missing"
        assert BUCKET in missing.json()["error"]["message"]

        ready = client.get("/readyz").json()
        assert ready["checks"]["images"]["ok"], ready

        client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("d.jpg", photos[3])})
        gone = client.request("DELETE", "/api/v1/account", headers=shop.session, json={"password": PASSWORD})
        assert gone.status_code == 200, gone.text
        assert gone.json()["deleted"]["image_files"] == 1 and _bytes_in_gridfs(settings) == {}
