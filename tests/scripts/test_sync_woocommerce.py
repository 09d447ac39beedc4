"""The reconciliation command against a real nx-27017 and the emulated store: what the webhooks missed is queued."""
import asyncio

from api.data import integrations, jobs, products
from api.data.db import open_client
from api.integrations.merge import MARKER_KEY, images_fingerprint
from api.integrations.vault import Vault
from kalas.emulators.woocommerce import WooCommerceStore
from kalas.stack.service import SECRET, service_env
from scripts.sync_woocommerce import main


def _register(uri: str, database: str, store: WooCommerceStore) -> str:
    vault = Vault.from_secret_key(SECRET)

    async def go():
        client = open_client(uri)
        try:
            doc = await integrations.create(client[database], "acct", {
                "store_url": store.url, "consumer_key": vault.seal(store.consumer_key),
                "consumer_secret": vault.seal(store.consumer_secret), "webhook_secret": vault.seal("whsec-123")})
            return doc["_id"]
        finally:
            await client.close()

    return asyncio.run(go())


def _catalogue_entry(uri: str, database: str, integration_id: str, product_id: int) -> None:
    """What annotating a store product leaves beside its marker: its entry in the shop's catalogue."""
    async def go():
        client = open_client(uri)
        try:
            await client[database].products.insert_one({
                "_id": f"entry-{product_id}", "account": "acct", "categories": [], "tags": [],
                "store_key": products.store_key(integration_id, product_id)})
        finally:
            await client.close()

    asyncio.run(go())


def _queued(uri: str, database: str, integration_id: str) -> list[int]:
    async def go():
        client = open_client(uri)
        try:
            found, _ = await jobs.list_for(client[database], "acct", integration_id, 0, 100, "queued")
            return sorted(j["product_id"] for j in found)
        finally:
            await client.close()

    return asyncio.run(go())


def test_sync_queues_changed_products_not_yet_annotated_then_only_newer_changes(mongo_server, mongo_database, tmp_path,
                                                                              monkeypatch, capsys):
    store = WooCommerceStore().start()
    try:
        for key, value in service_env(mongo_server.uri, mongo_database, tmp_path, [f"127.0.0.1:{store.port}"],
                                      "http://127.0.0.1:9").items():
            monkeypatch.setenv(key, value)
        integration_id = _register(mongo_server.uri, mongo_database, store)
        photo = store.upload(b"jpeg bytes")
        fresh = store.catalogue.create_product({"name": "fresh"}, [photo])
        done = store.catalogue.create_product({"name": "annotated"}, [store.upload(b"x")])
        marker = {"images": images_fingerprint(done)}
        store.catalogue.update_product(done["id"], {"meta_data": [{"key": MARKER_KEY, "value": marker}]})
        _catalogue_entry(mongo_server.uri, mongo_database, integration_id, done["id"])
        store.catalogue.create_product({"name": "no photo yet"}, [])

        assert main(["--all"]) == 0
        assert "3 product(s) changed since the beginning; 1 queued" in capsys.readouterr().out
        assert _queued(mongo_server.uri, mongo_database, integration_id) == [fresh["id"]]

        assert main(["--integration", integration_id]) == 0  # the window now starts at the previous sync
        assert "changed since 20" in capsys.readouterr().out
        assert main(["--integration", "unknown"]) == 1
        store.go_down()
        assert main(["--all"]) == 1
        assert "cannot be reached" in capsys.readouterr().err
    finally:
        store.stop()
