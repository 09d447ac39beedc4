"""Integrations: connect a WooCommerce store from the console, wire its webhook with the URL and secret the page
shows, watch the delivery's job run in the real worker process, and retry it from the delivery log.

The store is the project's WooCommerce emulator (a real HTTP server, the one network peer we do not own).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import screenshot, shared_photo, sign_in
from tests.web.stores import connect_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def refresh_until(page, state: str, timeout_s: float = 90.0) -> None:
    """Press the log's Refresh button until a delivery's job shows `state`."""
    deadline = time.monotonic() + timeout_s
    log = page.get_by_test_id("delivery-log")
    while not log.get_by_test_id("delivery-row").locator(".badge", has_text=re.compile(f"^{state}$")).count():
        assert time.monotonic() < deadline, f"no delivery reached {state!r}: {log.inner_text()}"
        page.wait_for_timeout(500)
        log.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(200)


def test_connect_a_store_and_follow_its_deliveries(desktop, service, store, worker, shared_data: Path) -> None:
    shop = sign_in(desktop, service, "woo-shop", "/integrations")
    desktop.get_by_text("No store connected yet.").wait_for()
    desktop.get_by_label("Store URL").fill(store.url)
    desktop.get_by_label("Consumer key").fill(store.consumer_key)
    desktop.get_by_label("Consumer secret").fill(store.consumer_secret)
    secret = desktop.get_by_label(re.compile("^Webhook secret \\(the service sets up")).input_value()
    assert len(secret) >= 32
    desktop.get_by_role("button", name="Connect store").click()

    card = desktop.get_by_test_id("integration")
    card.wait_for()
    delivery_url = card.get_by_label("Delivery URL").input_value()
    assert re.fullmatch(rf"{re.escape(service.url)}/api/v1/webhooks/woocommerce/\w+", delivery_url)
    assert card.get_by_label(re.compile("^Webhook secret \\(shown only now")).input_value() == secret
    assert store.consumer_secret not in card.inner_text()  # the store's keys are shown masked only
    card.get_by_text("No deliveries yet: they come when a product is created or edited").wait_for()
    assert card.get_by_test_id("last-sync").inner_text().startswith("Not synced yet.")
    # Connected, the form to connect a store waits folded under it.
    another = desktop.get_by_test_id("connect-another")
    assert another.is_visible() and not another.get_by_role("button", name="Connect store").is_visible()

    # The service registered its webhooks through the store's REST API (the store pinged the URL on creating each).
    assert sorted(w.topic for w in store.catalogue.webhooks.values() if w.delivery_url == delivery_url) == [
        "product.created", "product.deleted", "product.restored", "product.updated"]
    # A store before WooCommerce 10.8 has no Product published topic: the card says what the sync does instead.
    assert "older than WooCommerce 10.8" in card.get_by_test_id("webhooks-state").inner_text()
    store.updated_grace_s = 10.0  # as WooCommerce: no product.updated within 10 s of the product's creation
    product = store.create_product("Navy tee", [shared_photo(shared_data, "fashion-products", 5).read_bytes()])
    store.wait_for_deliveries()
    assert store.deliveries[-1].status == 200
    refresh_until(desktop, "done")
    row = card.get_by_test_id("delivery-row").first
    assert "product.created" in row.inner_text() and str(product["id"]) in row.inner_text()
    assert store.catalogue.get_product(product["id"])["categories"], "the worker wrote no category back"
    screenshot(desktop, "integrations")

    integration_id = delivery_url.rsplit("/", 1)[1]
    session = {"Authorization": f"Bearer {shop.token}"}
    jobs = httpx.get(service.api(f"/integrations/{integration_id}/jobs"), headers=session).json()["items"]
    [job] = [j for j in jobs if j["kind"] == "product"]  # beside the catalogue import its connect queued
    runs = [s["step"] for s in job["steps"]].count("claimed")
    row.get_by_role("button", name=re.compile("^Retry")).click()
    # The retried job runs again in the worker: a second claim shows in its steps.
    deadline = time.monotonic() + 60
    while True:
        jobs = httpx.get(service.api(f"/integrations/{integration_id}/jobs"), headers=session).json()["items"]
        [job] = [j for j in jobs if j["kind"] == "product"]
        if job["state"] == "done" and [s["step"] for s in job["steps"]].count("claimed") > runs:
            break
        assert time.monotonic() < deadline, f"the retried job did not run again: {job}"
        time.sleep(0.3)
    refresh_until(desktop, "done")

    # Reconciliation on demand: a sync job is queued for the worker. Its first sync reads every product of the store
    # (the session's store holds other tests' products too, when they ran first).
    in_store = len(store.catalogue.products)
    card.get_by_role("button", name="Sync now").click()
    card.get_by_text("Sync queued").wait_for()
    deadline = time.monotonic() + 60
    while True:
        jobs = httpx.get(service.api(f"/integrations/{integration_id}/jobs"), headers=session).json()["items"]
        if [j for j in jobs if j["kind"] == "sync" and j["state"] == "done"]:
            break
        assert time.monotonic() < deadline, f"the sync did not run: {jobs}"
        time.sleep(0.3)
    # What it found shows on the store's card: every product of the store, and its own one in step with the service,
    # so not queued again (other tests' products, when they ran first, may be: this shop never annotated them).
    own = [j for j in jobs if j.get("product_id") == product["id"]]
    assert [j["kind"] for j in own] == ["product"], own
    queued = sum(1 for j in jobs if j["kind"] == "product") - 1
    desktop.reload()
    card = desktop.get_by_test_id("integration")
    last_sync = card.get_by_test_id("last-sync")
    last_sync.wait_for()
    assert re.match(rf"Last sync .+: {in_store} product\(s\) changed in the store, {queued} queued for annotation\.",
                    last_sync.inner_text()), (in_store, queued, last_sync.inner_text())
    assert queued == 0 or in_store > 1  # alone in the store, nothing to queue

    # The merchant revokes the key and makes a new one: keys the store refuses are said so and change nothing; the
    # new pair is saved in place (same card, same delivery URL), and a new webhook secret reaches the store's webhooks.
    # Meanwhile the merchant set up WPML: the new keys' check reads the store's language, which the card then says.
    store.catalogue.languages = ("en", "de")
    store.consumer_key, store.consumer_secret = "ck_" + "5e" * 20, "cs_" + "6f" * 20
    change = card.get_by_test_id("change-store")
    change.get_by_text("Change keys, webhook secret or store URL").click()
    change.get_by_label("New consumer key").fill("ck_" + "77" * 20)
    change.get_by_label("New consumer secret").fill("cs_" + "88" * 20)
    change.get_by_role("button", name="Save changes").click()
    change.get_by_text(re.compile("refused a product read with these keys, so nothing was changed")).wait_for()
    change.get_by_label("New consumer key").fill(store.consumer_key)
    change.get_by_label("New consumer secret").fill(store.consumer_secret)
    change.get_by_role("button", name="New webhook secret").click()
    new_secret = change.get_by_label(re.compile("^New webhook secret")).input_value()
    change.get_by_role("button", name="Save changes").click()
    change.get_by_text("Saved: the store answered").wait_for()
    assert "Key ck_…5e5e" in card.inner_text()
    assert card.get_by_test_id("store-language").inner_text().startswith(
        "A multilingual store: the service reads and writes it in en.")
    assert card.get_by_label("Delivery URL").input_value() == delivery_url
    assert card.get_by_label(re.compile("^Webhook secret \\(shown only now")).input_value() == new_secret
    assert {w.secret for w in store.catalogue.webhooks.values() if w.delivery_url == delivery_url} == {new_secret}
    screenshot(desktop, "integrations-change")

    # Disconnecting forgets the store and deletes the service's webhooks in it.
    asked: list[str] = []
    desktop.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    card.get_by_role("button", name="Disconnect").click()
    desktop.get_by_text("No store connected yet.").wait_for()
    assert "connecting it again takes up where it left off" in asked[0]
    assert desktop.get_by_role("button", name="Connect store").is_visible()  # the form open again
    assert httpx.get(service.api(f"/integrations/{integration_id}"), headers=session).status_code == 404
    assert not [w for w in store.catalogue.webhooks.values() if w.delivery_url == delivery_url]

    # Connected again, the store takes back its former integration, and its card says so.
    desktop.get_by_label("Store URL").fill(store.url)
    desktop.get_by_label("Consumer key").fill(store.consumer_key)
    desktop.get_by_label("Consumer secret").fill(store.consumer_secret)
    desktop.get_by_role("button", name="Connect store").click()
    again = desktop.get_by_test_id("integration")
    again.get_by_test_id("reconnected").wait_for()
    assert again.get_by_test_id("reconnected").inner_text().startswith("Connected again after a disconnect on")
    assert again.get_by_label("Delivery URL").input_value() == delivery_url
    assert again.get_by_test_id("delivery-row").count() == 0  # its delivery log went with the disconnect


def test_an_import_that_stopped_says_why_and_is_retried_from_its_card(desktop, service, store, request) -> None:
    """The store went down after the connect: the store's card says the catalogue import stopped and why, and its
    button runs it again, which the card follows to the end."""
    shop = sign_in(desktop, service, "woo-import-stopped", "/integrations")
    connect_store(service, {"Authorization": f"Bearer {shop.token}"}, store)  # no worker yet: the import waits
    card = desktop.get_by_test_id("catalogue-import")
    store.go_down()
    try:
        request.getfixturevalue("worker")  # three attempts, a second apart at most: it gives up within seconds
        desktop.goto("/integrations")
        card.get_by_text(re.compile(r"^The catalogue import stopped before it read the store's first page: gave up after 3 attempts: "
                                    r".*the store cannot be reached")).wait_for(timeout=60_000)
    finally:
        store.come_up()
    screenshot(desktop, "import-stopped")
    card.get_by_role("button", name="Retry the import").click()
    card.get_by_text(re.compile(r"^Catalogue imported: (\d+) of \1 products")).wait_for(timeout=180_000)


def test_a_refused_store_form_says_what_is_wrong(desktop, service) -> None:
    sign_in(desktop, service, "woo-bad", "/integrations")
    desktop.get_by_label("Store URL").fill("https://shop.example")
    desktop.get_by_label("Consumer key").fill("not-a-key")
    desktop.get_by_label("Consumer secret").fill("cs_0123456789abcdef")
    desktop.get_by_role("button", name="Connect store").click()
    message = desktop.get_by_role("alert").inner_text()
    assert "consumer_key" in message
    assert desktop.get_by_test_id("integration").count() == 0
