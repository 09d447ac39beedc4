"""What the webhooks never delivered is annotated without anyone asking: the worker's round of store syncs
(api/jobs/store_syncs.py), run through the whole stack (TorchServe, nx-27017, the API and the worker as processes,
the store emulator). The round's period is 3 s here, 15 minutes by default."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from kalas.stack.live import Live, start_live, stop_live, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(mongo_server, torchserve, shared_data, tmp_path_factory) -> Iterator[Live]:
    photos = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[40:50]
    database = f"t_woo_sync_{time.monotonic_ns() % 10**9}"
    live = start_live(mongo_server.uri, database, tmp_path_factory.mktemp("woo-sync"), torchserve.inference_url,
                      photos, worker_env={"KALAS_STORE_SYNC_MINUTES": "0.05"})
    yield live
    stop_live(live)


def test_products_made_while_the_service_was_down_are_annotated_and_the_webhooks_come_back(live: Live):
    store = live.store
    live.service.stop_api()  # the store's deliveries fail until WooCommerce disables the webhook
    try:
        created = [store.create_product(f"Made during the outage {n}", [live.photos[n].read_bytes()],
                                        tags=["Merchant"]) for n in range(7)]
        store.wait_for_deliveries()
        assert [d.status for d in store.deliveries[-7:]] == [None] * 7  # nobody answered
    finally:
        live.service.start_api()
    hooks = {hook.topic: hook for hook in store.catalogue.webhooks.values()}
    # Nobody presses "sync": the worker's round finds the products and turns the disabled webhook back on.
    for product in created:
        annotated = live.annotated(product["id"])
        assert "Merchant" in {t["name"] for t in annotated["tags"]} and len(annotated["tags"]) > 1
        [job] = live.jobs_of(product["id"])
        assert job["reason"] == "sync: changed in the store and not annotated", job
    wait_for(lambda: hooks["product.created"].status == "active", 30, "the disabled webhook active again")
    turned_on = f"/wp-json/wc/v3/webhooks/{hooks['product.created'].id}"
    assert [status for method, path, status in store.api_requests if method == "PUT" and path == turned_on] == [200]
    # The next round finds nothing more to do: every product written exactly once.
    time.sleep(4.0)
    store.wait_for_deliveries()
    assert all(len(store.writes[product["id"]]) == 1 for product in created)
    assert all(len(live.jobs_of(product["id"])) == 1 for product in created)


def test_a_scheduled_product_published_by_the_cron_is_found_by_the_sync(live: Live):
    """A store before WooCommerce 10.8 fires nothing when WordPress's cron publishes a scheduled product, and the
    product's modification time stays: the sync, which remembers the store's scheduled products, finds it published
    and puts it among the shop's similar items, without writing to it again."""
    store, integration_id = live.store, live.integration["id"]
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=10)
    drop = store.create_product("Drop coat", [live.photos[8].read_bytes()], tags=["Drop"], scheduled_for=at)
    modified = live.annotated(drop["id"])["date_modified_gmt"]  # by the service's write

    def past_it() -> bool:  # a sync that saw the product scheduled, and whose window no longer holds its last change
        sync = live.api("GET", f"/integrations/{integration_id}").json()["last_sync"]
        return sync["scheduled"] == 1 and sync["modified_after"] > modified

    wait_for(past_it, 30, "a sync past the product's last change that saw it scheduled")
    time.sleep(max(0.0, (at - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.0)
    deliveries = len(store.deliveries)
    assert [p["id"] for p in store.run_cron()] == [drop["id"]]
    assert store.catalogue.view(drop["id"])["date_modified_gmt"] < at.strftime("%Y-%m-%dT%H:%M:%S")
    job = wait_for(lambda: next((j for j in live.jobs_of(drop["id"]) if j["state"] == "done"
                                 and j["reason"] == "sync: a scheduled product was published"), None), 30,
                   "the sync's job for the published product")
    assert job["outcome"] == ("already annotated for its current photos; in the shop's similar-item catalogue now "
                              "that it is on show")
    entries = [p for p in live.api("GET", "/products", params={"limit": 100}).json()["items"]
               if p["metadata"].get("store_product_id") == str(drop["id"])]
    assert len(entries) == 1 and entries[0]["tags"] == ["Drop"]
    syncs = [j["outcome"] for j in live.jobs() if j["kind"] == "sync" and j["state"] == "done"]
    assert any("1 scheduled product(s) published" in outcome for outcome in syncs), syncs
    store.wait_for_deliveries()
    assert len(store.deliveries) == deliveries and len(store.writes[drop["id"]]) == 1  # no webhook, one write
