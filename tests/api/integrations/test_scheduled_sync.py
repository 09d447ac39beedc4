"""What the webhooks never delivered is annotated without anyone asking: the worker's round of store syncs
(api/jobs/store_syncs.py), run through the whole stack (TorchServe, nx-27017, the API and the worker as processes,
the store emulator). The round's period is 3 s here, 15 minutes by default."""
from __future__ import annotations

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
