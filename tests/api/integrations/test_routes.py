"""Registering a store and receiving its webhooks through the real app, on the real nx-27017 server."""
import base64
import hashlib
import hmac

import pytest

from kalas.emulators.woocommerce import WooCommerceStore
from kalas.emulators.woocommerce_catalogue import Webhook
from tests.api.conftest import create_shop

WEBHOOK_SECRET = "webhook secret typed in wp-admin"


def register(api, shop):
    """The test's emulated store connected to `shop`."""
    return register_with(api, shop, api.store)


def deliver(api, integration, topic="product.created", product=None, secret=WEBHOOK_SECRET, delivery=None):
    store = WooCommerceStore()  # not started: its delivery builder signs like WooCommerce
    webhook = Webhook(3, topic, integration["delivery_url"], secret)
    delivery = delivery or store.signed_delivery(webhook, product or {"id": 41, "images": [], "meta_data": []})
    path = integration["delivery_url"].split("://", 1)[1].split("/", 1)[1]
    return api.post("/" + path, content=delivery.body, headers=delivery.headers), delivery


def test_registration_masks_the_secrets_and_shows_the_delivery_url(api):
    shop = create_shop(api)
    integration = register(api, shop)
    key, secret = api.store.consumer_key, api.store.consumer_secret
    assert integration["consumer_key"] == f"ck_…{key[-4:]}" and integration["consumer_secret"] == f"cs_…{secret[-4:]}"
    assert key not in str(integration) and secret not in str(integration)
    assert WEBHOOK_SECRET not in str(integration)
    assert integration["delivery_url"].endswith(f"/api/v1/webhooks/woocommerce/{integration['id']}")
    other = create_shop(api, "shop-b")
    assert api.get(f"/api/v1/integrations/{integration['id']}", headers=other.session).status_code == 404


def test_keys_that_are_not_woocommerce_keys_are_refused_with_the_field_named(api):
    shop = create_shop(api)
    response = api.post("/api/v1/integrations", headers=shop.session, json={
        "store_url": api.store.url, "consumer_key": "secret", "consumer_secret": "cs_" + "b" * 40,
        "webhook_secret": WEBHOOK_SECRET})
    assert response.status_code == 422 and "consumer_key" in response.json()["error"]["message"]


def test_a_store_on_a_private_address_is_refused(api):
    shop = create_shop(api)
    for url in ("http://10.1.2.3", "http://127.0.0.1:9", "http://169.254.169.254"):
        response = api.post("/api/v1/integrations", headers=shop.session, json={
            "store_url": url, "consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40,
            "webhook_secret": WEBHOOK_SECRET})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "url_not_allowed" and "store_url" in response.json()["error"]["message"]


def test_a_store_that_refuses_the_keys_has_no_rest_api_there_or_is_down_is_not_connected(api):
    """The keys are tried with one product read before anything is kept: the answer says what the store did."""
    shop, store = create_shop(api), api.store

    def connect(url: str, secret: str = store.consumer_secret):
        response = api.post("/api/v1/integrations", headers=shop.session, json={
            "store_url": url, "consumer_key": store.consumer_key, "consumer_secret": secret,
            "webhook_secret": WEBHOOK_SECRET})
        assert response.status_code == 422, response.text
        return response.json()["error"]

    wrong = connect(store.url, secret="cs_" + "9" * 40)
    assert wrong["code"] == "store_refused"
    assert "refused a product read with these keys, so the store was not connected" in wrong["message"]
    assert "provided signature does not match" in wrong["message"]  # the store's own words (over HTTP: OAuth 1.0a)
    store.blocks_api_clients = True
    try:
        blocked = connect(store.url)
    finally:
        store.blocks_api_clients = False
    assert blocked["code"] == "store_refused"
    assert "something in front of the store" in blocked["message"]
    assert "answered 403 instead of WooCommerce" in blocked["message"]
    assert "Attention Required! | Cloudflare" in blocked["message"]  # what the page in the store's place says
    page = connect(store.url + "/shop/")  # the shop's product page, not the site's home
    assert page["code"] == "store_refused"
    assert f"no WooCommerce REST API answered at {store.url}/shop/wp-json/wc/v3" in page["message"]
    assert "the store's home page" in page["message"]
    store.go_down()
    try:
        down = connect(store.url)
    finally:
        store.come_up()
    assert down["code"] == "store_unreachable" and "could not be asked, so the store was not connected" in down["message"]
    assert api.get("/api/v1/integrations", headers=shop.session).json()["total"] == 0
    assert store.catalogue.webhooks == {}


def test_an_address_pasted_from_the_stores_admin_or_rest_api_connects_its_home_page(api):
    """The merchant makes the keys under WooCommerce → Settings → Advanced → REST API and copies that page's
    address: the store is connected at the site's home page before `wp-admin` (or `wp-json`, `wp-login.php`)."""
    store = api.store
    pasted = {"admin": f"{store.url}/wp-admin/admin.php?page=wc-settings&tab=advanced&section=keys",
              "api": f"{store.url}/wp-json/wc/v3/products/", "login": f"{store.url}/wp-login.php?redirect_to=x"}
    connected, shops = {}, {}
    for kind, url in pasted.items():
        shop = shops[kind] = create_shop(api, f"shop-{kind}")  # a store is connected once per shop
        response = api.post("/api/v1/integrations", headers=shop.session, json={
            "store_url": url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
            "webhook_secret": WEBHOOK_SECRET})
        assert response.status_code == 201, response.text
        connected[kind] = response.json()
    assert {i["store_url"] for i in connected.values()} == {store.url}
    moved = api.patch(f"/api/v1/integrations/{connected['api']['id']}", headers=shops["api"].session,
                      json={"store_url": store.url + "/wp-admin/"})
    assert moved.status_code == 200 and moved.json()["store_url"] == store.url


@pytest.fixture
def moved(mongo_server, mongo_database, tmp_path, woo_store):
    """(the app, the store, the store's old address): a second emulator whose web server answers every request with a
    301 to the store, both origins let through the SSRF check."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.conftest import make_settings

    old = WooCommerceStore()
    old.moved_to = woo_store.url
    old.start()
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}", f"127.0.0.1:{old.port}"}))
    try:
        with TestClient(create_app(settings)) as api:
            yield api, woo_store, old
    finally:
        old.stop()


def test_a_store_that_moved_is_connected_where_it_answers(moved):
    """A site moved to HTTPS, or from its bare domain to www, answers its old address with 301s before WordPress: the
    keys are tried once where it moved (a signed request is not sent on), and the integration keeps that address,
    its webhooks made there; a change of address follows it alike. A redirect to a private address, or back to
    itself, is refused by name."""
    api, store, old = moved
    shop = create_shop(api)
    keys = {"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
            "webhook_secret": WEBHOOK_SECRET}
    response = api.post("/api/v1/integrations", headers=shop.session, json={"store_url": old.url, **keys})
    assert response.status_code == 201, response.text
    integration = response.json()
    assert integration["store_url"] == store.url
    assert set(ours(store, integration)) >= {"product.created", "product.updated"}
    assert old.catalogue.webhooks == {} and old.api_requests == []  # nothing reached WordPress there

    changed = api.patch(f"/api/v1/integrations/{integration['id']}", headers=shop.session, json={"store_url": old.url})
    assert changed.status_code == 200, changed.text
    assert changed.json()["store_url"] == store.url

    other = create_shop(api, "shop-b")
    old.moved_to = "http://10.1.2.3"  # a store that would lead the service's requests into its own network
    inside = api.post("/api/v1/integrations", headers=other.session, json={"store_url": old.url, **keys})
    assert inside.status_code == 400 and inside.json()["error"]["code"] == "url_not_allowed"
    old.moved_to = old.url  # a redirect loop
    looping = api.post("/api/v1/integrations", headers=other.session, json={"store_url": old.url, **keys})
    assert looping.status_code == 422 and looping.json()["error"]["code"] == "store_refused"
    assert f"the store at {old.url} redirects its REST API to {old.url}/wp-json/wc/v3/products" in \
        looping.json()["error"]["message"]


def test_a_store_connected_already_is_not_connected_twice(api_settings, woo_store):
    """A retried or repeated connect (the same store, its address written another way): 409 with the integration
    that has it, and nothing made twice in the store; a change cannot move another integration onto it."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    other = WooCommerceStore().start()
    settings = api_settings.model_copy(update={"fetch_allow_origins": frozenset({
        f"127.0.0.1:{woo_store.port}", f"127.0.0.1:{other.port}"})})
    try:
        with TestClient(create_app(settings)) as api:
            shop = create_shop(api)

            def connect(store: WooCommerceStore, url: str | None = None):
                return api.post("/api/v1/integrations", headers=shop.session, json={
                    "store_url": url or store.url, "consumer_key": store.consumer_key,
                    "consumer_secret": store.consumer_secret, "webhook_secret": WEBHOOK_SECRET})

            first = connect(woo_store)
            assert first.status_code == 201, first.text
            hooks = len(woo_store.catalogue.webhooks)
            again = connect(woo_store, f" {woo_store.url}/wp-admin/ ")
            assert again.status_code == 409 and again.json()["error"]["code"] == "already_connected"
            assert first.json()["id"] in again.json()["error"]["message"]
            assert api.get("/api/v1/integrations", headers=shop.session).json()["total"] == 1
            assert len(woo_store.catalogue.webhooks) == hooks
            second = connect(other)
            assert second.status_code == 201, second.text
            moved = api.patch(f"/api/v1/integrations/{second.json()['id']}", headers=shop.session,
                              json={"store_url": woo_store.url})
            assert moved.status_code == 409 and first.json()["id"] in moved.json()["error"]["message"]
            same = api.patch(f"/api/v1/integrations/{first.json()['id']}", headers=shop.session,
                             json={"store_url": woo_store.url})
            assert same.status_code == 200, same.text  # its own address again is no conflict
    finally:
        other.stop()


def test_a_store_with_plain_permalinks_connects_and_gets_its_webhooks(api):
    """A site without /wp-json/ (Plain permalinks) is connected at its home page: the keys are checked and the
    webhooks made through index.php?rest_route=."""
    shop, store = create_shop(api), api.store
    store.plain_permalinks = True
    try:
        response = api.post("/api/v1/integrations", headers=shop.session, json={
            "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
            "webhook_secret": WEBHOOK_SECRET})
    finally:
        store.plain_permalinks = False
    assert response.status_code == 201, response.text
    hooks = response.json()["webhooks"]
    assert hooks["state"] == "registered" and len(hooks["ids"]) == 4
    delivery_url = response.json()["delivery_url"]
    assert all(store.catalogue.webhooks[i].delivery_url == delivery_url for i in hooks["ids"].values())


def test_the_creation_ping_is_answered_200_and_recorded(api):
    """The store pings each webhook the service makes; an unsigned ping naming another webhook (anyone with the
    delivery URL can send one) is answered as WooCommerce expects, and recorded only while the service knows no
    webhook of its own in the store."""
    shop = create_shop(api)
    integration = register(api, shop)
    base, path = f"/api/v1/integrations/{integration['id']}", "/api/v1/webhooks/woocommerce/" + integration["id"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def last_ping() -> float | None:
        return api.get(base, headers=shop.session).json()["last_ping"]

    assert last_ping() is None  # the store's pings went to the test client's address, which it cannot reach
    stranger = 1 + max(integration["webhooks"]["ids"].values())
    assert api.post(path, content=f"webhook_id={stranger}".encode(), headers=form).status_code == 200
    assert last_ping() is None
    ours = integration["webhooks"]["ids"]["product.updated"]
    assert api.post(path, content=f"webhook_id={ours}".encode(), headers=form).status_code == 200
    assert last_ping() is not None
    # Made by hand (the key may not manage webhooks): the service knows no id, and any ping counts.
    from pymongo import MongoClient

    settings = api.app.state.services.settings
    with MongoClient(settings.mongo_uri) as mongo:
        mongo[settings.database].integrations.update_one({"_id": integration["id"]}, {"$set": {"webhooks": None}})
    pinged = last_ping()
    assert api.post(path, content=f"webhook_id={stranger}".encode(), headers=form).status_code == 200
    assert last_ping() > pinged
    assert api.post(f"/api/v1/webhooks/woocommerce/{'0' * 24}", content=b"webhook_id=12").status_code == 404
    assert api.post("/api/v1/webhooks/woocommerce/nope", content=b"webhook_id=12").status_code == 422


def test_bad_signatures_are_refused_and_nothing_is_queued(api):
    shop = create_shop(api)
    integration = register(api, shop)
    response, _ = deliver(api, integration, secret="not the registered secret")
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_signature"
    _, good = deliver(api, integration)
    tampered = type(good)(good.webhook_id, good.topic, good.body.replace(b"41", b"42"), good.headers)
    assert deliver(api, integration, delivery=tampered)[0].status_code == 401
    jobs = api.get(f"/api/v1/integrations/{integration['id']}/jobs", headers=shop.session).json()["items"]
    # Only the genuine delivery's, beside the catalogue import that the connect queued.
    assert sorted(job["kind"] for job in jobs) == ["import", "product"]


def test_a_duplicate_delivery_is_acknowledged_once_and_other_topics_without_work(api):
    shop = create_shop(api)
    integration = register(api, shop)
    first, delivery = deliver(api, integration)
    again, _ = deliver(api, integration, delivery=delivery)
    assert first.json()["status"] == "queued" and again.json()["status"] == "duplicate"
    order, _ = deliver(api, integration, topic="order.created", product={"id": 900})
    assert order.status_code == 200 and order.json()["status"] == "ignored"
    log = api.get(f"/api/v1/integrations/{integration['id']}/deliveries", headers=shop.session).json()
    assert [d["outcome"] for d in log["items"]] == ["ignored topic", "queued"]
    assert log["items"][1]["job"]["state"] == "queued" and log["items"][1]["job"]["steps"][0]["step"] == "queued"


def test_two_products_in_the_same_second_share_a_delivery_id_but_both_are_queued(api):
    shop = create_shop(api)
    integration = register(api, shop)
    a, first = deliver(api, integration, product={"id": 1, "images": []})
    store = WooCommerceStore()
    second = store.signed_delivery(Webhook(3, "product.created", "", WEBHOOK_SECRET), {"id": 2, "images": []})
    second.headers["X-WC-Webhook-Delivery-ID"] = first.headers["X-WC-Webhook-Delivery-ID"]  # hash(id . second)
    b, _ = deliver(api, integration, delivery=second)
    assert (a.json()["status"], b.json()["status"]) == ("queued", "queued")
    assert a.json()["job_id"] != b.json()["job_id"]


def test_a_dead_job_can_be_retried_and_sync_queues_one_sync_job(api):
    shop = create_shop(api)
    integration = register(api, shop)
    base = f"/api/v1/integrations/{integration['id']}"
    first = api.post(f"{base}/sync", headers=shop.session)
    second = api.post(f"{base}/sync", headers=shop.session)
    assert first.status_code == 202 and first.json()["job"]["id"] == second.json()["job"]["id"]
    assert api.post(f"{base}/jobs/{'0' * 24}/retry", headers=shop.session).status_code == 404


def test_an_import_whose_job_gave_up_says_why_and_runs_again_when_retried(api, api_settings):
    """The store went down after the connect: the import's job gives up, the integration says the import stopped and
    why (not "running" for ever), and the shop's retry of that job runs it again."""
    from tests.api.conftest import running_jobs, wait_for_jobs

    shop = create_shop(api)
    integration = register(api, shop)
    base = f"/api/v1/integrations/{integration['id']}"
    api.store.go_down()
    try:
        with running_jobs(api):
            [dead] = wait_for_jobs(api_settings, "import")
    finally:
        api.store.come_up()
    stopped = api.get(base, headers=shop.session).json()["catalogue_import"]
    assert dead["state"] == "dead" and stopped["state"] == "stopped" and stopped["job"] == dead["_id"], stopped
    assert stopped["reason"].startswith("gave up after") and "cannot be reached" in stopped["reason"], stopped
    retried = api.post(f"{base}/jobs/{stopped['job']}/retry", headers=shop.session)
    assert retried.status_code == 200 and retried.json()["state"] == "queued", retried.text
    again = api.get(base, headers=shop.session).json()["catalogue_import"]
    assert again["state"] == "running" and "reason" not in again and "job" not in again, again
    with running_jobs(api):
        [done] = wait_for_jobs(api_settings, "import")
    assert done["state"] == "done" and api.get(base, headers=shop.session).json()["catalogue_import"]["state"] == "done"


def register_with(api, shop, store: WooCommerceStore) -> dict:
    response = api.post("/api/v1/integrations", headers=shop.session, json={
        "store_url": store.url, "consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret,
        "webhook_secret": WEBHOOK_SECRET})
    assert response.status_code == 201, response.text
    return response.json()


def ours(store: WooCommerceStore, integration: dict) -> dict[str, Webhook]:
    return {w.topic: w for w in store.catalogue.webhooks.values() if w.delivery_url == integration["delivery_url"]}


def synced_webhooks(api, shop, integration: dict, store: WooCommerceStore) -> dict:
    """The integration's webhooks as shown after a sync, which found the store with our four webhooks."""
    from tests.api.conftest import running_jobs, wait_for_jobs

    with running_jobs(api):
        assert api.post(f"/api/v1/integrations/{integration['id']}/sync", headers=shop.session).status_code == 202
        [sync] = wait_for_jobs(api.app.state.services.settings, "sync")
    assert sync["state"] == "done", sync
    assert sorted(ours(store, integration)) == ["product.created", "product.deleted", "product.restored",
                                                "product.updated"]
    return api.get(f"/api/v1/integrations/{integration['id']}", headers=shop.session).json()["webhooks"]


def test_the_service_registers_its_webhooks_reactivates_and_removes_them(api, woo_store):
    from tests.api.conftest import running_jobs, wait_for_jobs

    shop = create_shop(api)
    integration = register_with(api, shop, woo_store)
    hooks = integration["webhooks"]
    assert hooks["state"] == "registered" and hooks["error"] is None
    assert hooks["unsupported"] == ["product.published"]  # a store before WooCommerce 10.8 (tests/api/integrations/test_hooks.py)
    registered = ours(woo_store, integration)
    assert sorted(registered) == ["product.created", "product.deleted", "product.restored", "product.updated"]
    assert {t: w.id for t, w in registered.items()} == hooks["ids"]
    assert all(w.secret == WEBHOOK_SECRET and w.status == "active" for w in registered.values())

    registered["product.updated"].status = "disabled"  # as WooCommerce does after failed deliveries
    with running_jobs(api):
        assert api.post(f"/api/v1/integrations/{integration['id']}/sync", headers=shop.session).status_code == 202
        [sync] = wait_for_jobs(api.app.state.services.settings, "sync")
    assert sync["state"] == "done" and "made active again: product.updated" in sync["outcome"]
    assert ours(woo_store, integration)["product.updated"].status == "active"
    assert len(ours(woo_store, integration)) == 4  # none added twice
    shown = api.get(f"/api/v1/integrations/{integration['id']}", headers=shop.session).json()["webhooks"]
    assert shown["reactivated"] == ["product.updated"]

    # Its delivery log goes with it (a delivery names no shop); its records of writes stay with the store's former
    # integration, which an account's deletion finds (tests/api/routes/test_account.py).
    assert deliver(api, integration, product={"id": 45, "images": [], "meta_data": []})[0].status_code == 200
    from pymongo import MongoClient

    settings = api.app.state.services.settings
    with MongoClient(settings.mongo_uri) as mongo:
        db = mongo[settings.database]
        db.store_writes.insert_one({"_id": f"{integration['id']}:45", "integration": integration["id"], "product_id": 45})
        assert db.webhook_deliveries.count_documents({"integration": integration["id"]}) == 1
        assert api.delete(f"/api/v1/integrations/{integration['id']}", headers=shop.session).status_code == 204
        assert ours(woo_store, integration) == {}
        assert db.webhook_deliveries.count_documents({"integration": integration["id"]}) == 0
        assert db.store_writes.count_documents({"integration": integration["id"]}) == 1
        assert db.former_integrations.count_documents({"_id": integration["id"]}) == 1


def test_a_store_connected_again_takes_back_its_former_integration(api, woo_store):
    """Disconnected and connected again, a store gets its former id back (the service's marker on its products, its
    records of writes and its products' catalogue entries name it) and its tagging policy; another shop connecting
    the same store gets an integration of its own."""
    from pymongo import MongoClient

    shop = create_shop(api)
    first = register_with(api, shop, woo_store)
    base = f"/api/v1/integrations/{first['id']}"
    assert first["reconnected"] is None
    settings = api.app.state.services.settings
    with MongoClient(settings.mongo_uri) as mongo:
        db = mongo[settings.database]
        policy = {"target": "0.99", "rename": {"men": "Herren"}}  # as the policy route keeps it (no models here)
        db.integrations.update_one({"_id": first["id"]}, {"$set": {"policy": policy}})
        db.store_writes.insert_one({"_id": f"{first['id']}:7", "integration": first["id"], "product_id": 7})
        assert api.delete(base, headers=shop.session).status_code == 204
        assert api.get(base, headers=shop.session).status_code == 404
        assert api.get("/api/v1/integrations", headers=shop.session).json()["total"] == 0

        again = register_with(api, shop, woo_store)
        assert again["id"] == first["id"] and again["delivery_url"] == first["delivery_url"]
        assert again["reconnected"] is not None and again["created"] > first["created"]
        assert db.integrations.find_one({"_id": first["id"]})["policy"] == policy
        assert db.store_writes.count_documents({"integration": first["id"]}) == 1
        assert db.former_integrations.count_documents({}) == 0
        assert sorted(ours(woo_store, again)) == ["product.created", "product.deleted", "product.restored",
                                                  "product.updated"]  # made again, each once
        # The first connect's import, still waiting (no worker here), is the one the store's import joins.
        assert len([j for j in db.jobs.find({"kind": "import"}) if j["state"] == "queued"]) == 1

        other = create_shop(api, "shop-b")
        theirs = register_with(api, other, woo_store)
        assert theirs["id"] != first["id"] and theirs["reconnected"] is None


def test_a_connection_made_before_a_topic_existed_gets_it_at_the_next_sync(api, woo_store):
    shop = create_shop(api)
    integration = register_with(api, shop, woo_store)
    for topic in ("product.deleted", "product.restored"):  # what a connection of an older version registered
        del woo_store.catalogue.webhooks[ours(woo_store, integration)[topic].id]
    shown = synced_webhooks(api, shop, integration, woo_store)
    assert sorted(shown["created"]) == ["product.deleted", "product.restored"] and len(shown["ids"]) == 4


def test_a_key_that_may_not_manage_webhooks_leaves_the_manual_way_with_a_clear_message(api, woo_store):
    woo_store.read_only_key = True
    shop = create_shop(api)
    integration = register_with(api, shop, woo_store)
    assert integration["webhooks"]["state"] == "manual" and integration["webhooks"]["ids"] == {}
    message = integration["webhooks"]["error"]
    assert "Read/Write key" in message and "does not have write permissions" in message and "Settings → Advanced → Webhooks" in message
    assert woo_store.catalogue.webhooks == {}


def test_a_slow_store_is_connected_within_the_deadline_and_the_sync_makes_the_webhooks_left(api, woo_store,
                                                                                              monkeypatch):
    """The connect answers by its deadline (1.5 s here, 25 s in service) however slow the store. Too slow for the
    key check (2 s an answer): not connected, saying so. 0.6 s an answer: connected with the webhooks made in
    time, saying the rest are the next sync's; the sync makes them, none twice."""
    from api.routes import integrations as routes

    monkeypatch.setattr(routes, "CONNECT_S", 1.5)
    shop = create_shop(api)
    woo_store.api_delay_s = 2.0
    refused = api.post("/api/v1/integrations", headers=shop.session, json={
        "store_url": woo_store.url, "consumer_key": woo_store.consumer_key,
        "consumer_secret": woo_store.consumer_secret, "webhook_secret": WEBHOOK_SECRET})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "store_unreachable" and "did not answer a product read within 1.5 s" in error["message"]
    assert api.get("/api/v1/integrations", headers=shop.session).json()["items"] == []

    woo_store.api_delay_s = 0.6
    integration = register_with(api, shop, woo_store)
    hooks = integration["webhooks"]
    assert hooks["state"] == "manual" and "too slowly" in hooks["error"] and "next sync" in hooks["error"], hooks
    assert len(ours(woo_store, integration)) < 4
    woo_store.api_delay_s = 0.0
    shown = synced_webhooks(api, shop, integration, woo_store)
    assert shown["state"] == "registered" and len(shown["ids"]) == 4


def test_two_connects_of_one_store_at_once_make_one_integration(api, woo_store):
    """A client that retries a slow connect (or a second click) sends the same store again while the first request
    is still checking the keys: each passes the "connected already?" check before either is stored. One is
    connected; the other is a 409 naming it, having made nothing in the store: one set of webhooks."""
    from concurrent.futures import ThreadPoolExecutor

    shop = create_shop(api)
    woo_store.api_delay_s = 0.5  # both requests are checking the keys at once
    body = {"store_url": woo_store.url, "consumer_key": woo_store.consumer_key,
            "consumer_secret": woo_store.consumer_secret, "webhook_secret": WEBHOOK_SECRET}
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: api.post("/api/v1/integrations", headers=shop.session, json=body), (1, 2)))
    woo_store.api_delay_s = 0.0
    [connected] = [a.json() for a in answers if a.status_code == 201]
    [refused] = [a.json()["error"] for a in answers if a.status_code != 201]
    assert refused["code"] == "already_connected" and f"(integration {connected['id']})" in refused["message"]
    listed = api.get("/api/v1/integrations", headers=shop.session).json()["items"]
    assert [i["id"] for i in listed] == [connected["id"]]
    assert {w.delivery_url for w in woo_store.catalogue.webhooks.values()} == {connected["delivery_url"]}
    assert len(ours(woo_store, connected)) == 4


def test_a_change_onto_a_store_connected_meanwhile_is_refused_and_takes_its_webhooks_back(
        mongo_server, mongo_database, tmp_path, woo_store):
    """Integration A's address is changed to store B while B is being connected: the connect is stored first (A's
    change talks to B longer: its webhooks), so the change is a 409 naming B's integration, A keeps its own store,
    and B holds only B's integration's webhooks (those A's change made there are deleted again)."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.conftest import make_settings

    other = WooCommerceStore().start()
    settings = make_settings(mongo_server.uri, mongo_database, index_dir=tmp_path / "indexes",
                             fetch_allow_origins=frozenset({f"127.0.0.1:{woo_store.port}", f"127.0.0.1:{other.port}"}))
    try:
        with TestClient(create_app(settings)) as api:
            shop = create_shop(api)
            first = register_with(api, shop, woo_store)
            other.api_delay_s = 0.3
            keys = {"consumer_key": other.consumer_key, "consumer_secret": other.consumer_secret}
            with ThreadPoolExecutor(2) as pool:
                connect = pool.submit(api.post, "/api/v1/integrations", headers=shop.session,
                                      json={"store_url": other.url, **keys, "webhook_secret": WEBHOOK_SECRET})
                change = pool.submit(api.patch, f"/api/v1/integrations/{first['id']}", headers=shop.session,
                                     json={"store_url": other.url, **keys})
                connected, changed = connect.result(), change.result()
            other.api_delay_s = 0.0
            kept = api.get(f"/api/v1/integrations/{first['id']}", headers=shop.session).json()
    finally:
        other.stop()
    assert connected.status_code == 201, connected.text
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "already_connected", changed.text
    assert f"(integration {connected.json()['id']})" in changed.json()["error"]["message"]
    assert kept["store_url"] == woo_store.url and len(ours(woo_store, first)) == 4
    assert {w.delivery_url for w in other.catalogue.webhooks.values()} == {connected.json()["delivery_url"]}


def test_a_stores_keys_and_webhook_secret_are_rotated_in_place(api, woo_store):
    """The merchant revokes the REST API key and makes a new one, and picks a new webhook secret: the integration
    keeps its id and delivery URL (and with them its policy, history and records); keys the store refuses change
    nothing."""
    import secrets

    from tests.api.conftest import running_jobs, wait_for_jobs

    shop = create_shop(api)
    integration = register_with(api, shop, woo_store)
    base = f"/api/v1/integrations/{integration['id']}"
    old_key = woo_store.consumer_key
    woo_store.consumer_key = "ck_" + secrets.token_hex(20)  # the old key is revoked in wp-admin
    woo_store.consumer_secret = "cs_" + secrets.token_hex(20)

    refused = api.patch(base, json={"consumer_key": "ck_" + "9" * 40, "consumer_secret": "cs_" + "9" * 40},
                        headers=shop.session)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "store_refused", refused.text
    assert "refused a product read with these keys, so nothing was changed" in refused.json()["error"]["message"]
    assert api.get(base, headers=shop.session).json()["consumer_key"] == f"ck_…{old_key[-4:]}"

    half = api.patch(base, json={"consumer_key": woo_store.consumer_key}, headers=shop.session)
    assert half.status_code == 422 and "consumer_key and consumer_secret change together" in half.text
    assert api.patch(base, json={}, headers=shop.session).status_code == 422

    rotated = api.patch(base, json={"consumer_key": woo_store.consumer_key, "consumer_secret": woo_store.consumer_secret,
                                    "webhook_secret": "a new secret for the webhooks"}, headers=shop.session)
    assert rotated.status_code == 200, rotated.text
    shown = rotated.json()
    assert shown["id"] == integration["id"] and shown["delivery_url"] == integration["delivery_url"]
    assert shown["consumer_key"] == f"ck_…{woo_store.consumer_key[-4:]}"
    assert shown["created"] == integration["created"]
    hooks = ours(woo_store, integration)
    assert len(hooks) == 4 and {w.secret for w in hooks.values()} == {"a new secret for the webhooks"}
    # A new secret queues a sync (for what deliveries refused in between carried); the worker reads the store with
    # the new keys.
    with running_jobs(api):
        [sync] = wait_for_jobs(api.app.state.services.settings, "sync")
    assert sync["state"] == "done" and sync["reason"] == "the webhook secret was changed", sync
    # Deliveries are signed with the new secret now; one signed with the old (on its way at the change, or sent by
    # the store before it had the new one) is still taken for the overlap, and refused after it.
    assert deliver(api, shown, secret="a new secret for the webhooks")[0].status_code == 200
    assert deliver(api, shown, secret=WEBHOOK_SECRET, product={"id": 42, "images": [], "meta_data": []})[0].status_code == 200
    from pymongo import MongoClient

    from api.data.integrations import SECRET_OVERLAP_S

    settings = api.app.state.services.settings
    with MongoClient(settings.mongo_uri) as mongo:  # the overlap is over
        mongo[settings.database].integrations.update_one(
            {"_id": integration["id"]}, {"$inc": {"secret_rotated": -SECRET_OVERLAP_S - 1}})
    assert deliver(api, shown, secret=WEBHOOK_SECRET, product={"id": 43, "images": [], "meta_data": []})[0].status_code == 401
    assert deliver(api, shown, secret="a new secret for the webhooks",
                   product={"id": 44, "images": [], "meta_data": []})[0].status_code == 200
    other = create_shop(api, "shop-b")
    assert api.patch(base, json={"webhook_secret": "0123456789"}, headers=other.session).status_code == 404


@pytest.mark.parametrize("bad_id, shown", [(10**20, "100000000000000000000"), (0, "0"), (-5, "-5"), (1.5, "1.5"),
                                           (True, "true"), (None, "null")])
def test_a_delivery_whose_product_id_is_not_a_store_id_is_refused_saying_so(api, bad_id, shown):
    """Signed, but an id MongoDB cannot keep (over 8 bytes) or no WooCommerce id at all: a 400 that says which, and
    nothing queued."""
    shop = create_shop(api)
    integration = register(api, shop)
    response, _ = deliver(api, integration, product={"id": bad_id, "images": [], "meta_data": []})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == (
        f"a product.created delivery must be the product as a JSON object with its id, a whole number from 1 to "
        f"9223372036854775807; this one's id is {shown}")
    jobs = api.get(f"/api/v1/integrations/{integration['id']}/jobs", headers=shop.session).json()["items"]
    assert [j for j in jobs if j["kind"] == "product"] == []
    ok, _ = deliver(api, integration, product={"id": "41", "images": [], "meta_data": []})  # digits as a string: taken
    assert ok.status_code == 200 and ok.json()["product_id"] == 41


def test_a_multilingual_stores_translations_are_left_to_the_product_in_its_language(api):
    """WPML keeps a translation as a product of its own and fires product.created for it: the service annotates the
    product in the store's language (WPML copies its terms to the translations) and acknowledges the others with no
    job."""
    api.store.catalogue.languages = ("en", "de")
    original = api.store.create_product("Wool coat")
    shop = create_shop(api)
    integration = register(api, shop)
    assert integration["store_language"] == "en"  # read at the connect, from the key check's product read
    translation = api.store.translate_product(original["id"], "de", "Wollmantel")
    german_only = api.store.create_product("Lederjacke", lang="de")
    answers = [deliver(api, integration, product=api.store.catalogue.view(p["id"]))[0].json()
               for p in (translation, german_only, original)]
    assert [a["status"] for a in answers] == ["ignored", "ignored", "queued"]
    assert answers[0]["reason"].startswith(f"a translation (de) of product {original['id']}, which is annotated")
    assert answers[1]["reason"].startswith("in de, with no en version")
    log = api.get(f"/api/v1/integrations/{integration['id']}/deliveries", headers=shop.session).json()["items"]
    assert {d["product_id"]: d["outcome"] for d in log} == {
        translation["id"]: f"ignored: {answers[0]['reason']}", german_only["id"]: f"ignored: {answers[1]['reason']}",
        original["id"]: "queued"}
    jobs = api.get(f"/api/v1/integrations/{integration['id']}/jobs", headers=shop.session).json()["items"]
    assert sorted(((job["kind"], job["product_id"]) for job in jobs), key=str) == [
        ("import", None), ("product", original["id"])]


def test_a_signed_delivery_nested_too_deeply_is_refused_saying_so(api):
    """Only the store holds the secret, but what it signs is still input: 100,000 levels of JSON are a 400, not a
    crash in the parser."""
    shop = create_shop(api)
    integration = register(api, shop)
    body = b"[" * 100_000
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    _, delivery = deliver(api, integration)
    deep = type(delivery)(delivery.webhook_id, delivery.topic, body,
                          {**delivery.headers, "X-WC-Webhook-Signature": signature,
                           "X-WC-Webhook-Delivery-ID": "deep"})
    answer, _ = deliver(api, integration, delivery=deep)
    assert answer.status_code == 400 and "must be the product as a JSON object" in answer.json()["error"]["message"]


def _app_reaching(api_settings, *origins: str):
    """The real app, on the test's database, that lets these loopback origins through too."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    return TestClient(create_app(api_settings.model_copy(
        update={"fetch_allow_origins": api_settings.fetch_allow_origins | set(origins)})))


def test_a_store_is_one_store_under_each_of_its_names(api_settings, woo_store):
    """A site that answers at two names (bare domain and www; here 127.0.0.1 and localhost) names its own home in
    every REST answer (WordPress's Link header): connected under one, it is refused under the other (it would be
    annotated and written twice), and connected again under the other after a disconnect it takes back its former
    integration. (Over HTTPS, as such a site is: WooCommerce checks an HTTP request's OAuth signature against its
    own home's name, so over HTTP it refuses the other name's requests anyway.)"""
    other_name = woo_store.url.replace("127.0.0.1", "localhost")
    woo_store.sees_https = True
    with _app_reaching(api_settings, f"localhost:{woo_store.port}") as api:
        shop = create_shop(api)
        first = register_with(api, shop, woo_store)

        def connect(url: str):
            return api.post("/api/v1/integrations", headers=shop.session, json={
                "store_url": url, "consumer_key": woo_store.consumer_key,
                "consumer_secret": woo_store.consumer_secret, "webhook_secret": WEBHOOK_SECRET})

        twice = connect(other_name)
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_connected", twice.text
        assert first["id"] in twice.json()["error"]["message"]
        assert len([w for w in woo_store.catalogue.webhooks.values()]) == 4  # none made for the second
        assert api.delete(f"/api/v1/integrations/{first['id']}", headers=shop.session).status_code == 204
        again = connect(other_name)
        assert again.status_code == 201 and again.json()["id"] == first["id"] and again.json()["reconnected"]


def test_a_store_that_moved_is_taken_back_at_the_address_it_had(api_settings, woo_store):
    """Connected at its old address, disconnected, then moved (the old address redirects its REST API to the new
    one, as a move to HTTPS or www does): connected again at the old address, it answers at the new one and takes
    back its former integration all the same."""
    moved = WooCommerceStore().start()
    moved.consumer_key, moved.consumer_secret = woo_store.consumer_key, woo_store.consumer_secret
    try:
        with _app_reaching(api_settings, f"127.0.0.1:{moved.port}") as api:
            shop = create_shop(api)
            first = register_with(api, shop, woo_store)
            assert api.delete(f"/api/v1/integrations/{first['id']}", headers=shop.session).status_code == 204
            woo_store.moved_to = moved.url
            again = register_with(api, shop, woo_store)
            assert again["store_url"] == moved.url and again["id"] == first["id"] and again["reconnected"]
    finally:
        woo_store.moved_to = None
        moved.stop()
