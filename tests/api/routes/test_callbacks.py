"""Callbacks: signed POSTs of annotation results to a shop's URL, retried until accepted, every attempt logged."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
import signal
import time

import httpx
import pytest
from pymongo import MongoClient

from kalas.stack.service import Service, service_env
from tests.api.conftest import create_shop


def _wait(check, timeout_s: float = 10.0):
    """`check()` until it is true. Five looks a second: a faster poll of the API outruns its rate limit (10 a second
    after a burst of 60) when the machine is busy and the wait long, and is answered 429."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def _verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_annotation_is_posted_signed_after_retries(model_client, photos, image_host):
    shop = create_shop(model_client)
    path = f"/echo/{time.monotonic_ns()}"
    registered = model_client.post("/api/v1/callbacks", headers=shop.headers, json={"url": image_host.url(path)})
    assert registered.status_code == 201, registered.text
    secret = registered.json()["secret"]
    assert "secret" not in model_client.get("/api/v1/callbacks", headers=shop.headers).json()["items"][0]

    image_host.echo_statuses[:] = [500, 503]  # the shop's endpoint fails twice, then accepts
    annotation = model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])}).json()
    posts = _wait(lambda: (found := [p for p in image_host.posts if p[0] == path]) and len(found) >= 3 and found)
    bodies = {p[2] for p in posts}
    assert len(bodies) == 1  # retries send the same delivery
    _, headers, body = posts[-1]
    assert _verify(secret, headers["X-Kalas-Signature"], body)
    assert not _verify("wrong secret", headers["X-Kalas-Signature"], body)
    event = json.loads(body)
    assert event["event"] == "annotation.created" and event["data"][0]["id"] == annotation["id"]

    callback_id = registered.json()["id"]
    deliveries = _wait(lambda: [d for d in model_client.get(f"/api/v1/callbacks/{callback_id}/deliveries",
                                                            headers=shop.headers).json()["items"]
                                if d["status"] == "delivered"])
    assert deliveries[0]["attempts"] == 3 and deliveries[0]["response_status"] == 200
    # Times with their zone, as the schema's date-time says (a delivery's was once stored as a string without one).
    for moment in (deliveries[0]["created"], deliveries[0]["delivered"]):
        assert datetime.fromisoformat(moment.replace("Z", "+00:00")).tzinfo is not None, moment


def test_a_delivery_that_used_up_its_tries_is_failed_and_can_be_sent_again(model_client, photos, image_host):
    shop = create_shop(model_client)
    path = f"/echo/{time.monotonic_ns()}"
    callback = model_client.post("/api/v1/callbacks", headers=shop.headers, json={"url": image_host.url(path)}).json()
    image_host.echo_statuses[:] = [500] * 8  # the worker beside the app tries 8 times (tests/api/conftest.py)
    model_client.post("/api/v1/annotations", headers=shop.headers, files={"file": ("a.jpg", photos[0])})
    listing = f"/api/v1/callbacks/{callback['id']}/deliveries"
    [failed] = _wait(lambda: [d for d in model_client.get(listing, headers=shop.headers).json()["items"]
                              if d["status"] == "failed"], timeout_s=30)
    assert failed["attempts"] == 8 and failed["response_status"] == 500 and "gave up after 8" in failed["last_error"]

    retried = model_client.post(f"{listing}/{failed['id']}/retry", headers=shop.headers)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    [delivered] = _wait(lambda: [d for d in model_client.get(listing, headers=shop.headers).json()["items"]
                                 if d["status"] == "delivered"])
    assert delivered["id"] == failed["id"] and delivered["attempts"] == 9
    assert len([p for p in image_host.posts if p[0] == path]) == 9
    other = create_shop(model_client, "shop-b")  # another shop cannot send it again
    assert model_client.post(f"{listing}/{failed['id']}/retry", headers=other.headers).status_code == 404


def test_private_callback_urls_are_refused(model_client):
    shop = create_shop(model_client)
    for url in ("http://169.254.169.254/hook", "http://localhost:9/hook", "http://10.0.0.5/hook"):
        answer = model_client.post("/api/v1/callbacks", headers=shop.headers, json={"url": url})
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "url_not_allowed", url
    assert model_client.get("/api/v1/callbacks", headers=shop.headers).json()["total"] == 0


def test_callback_can_be_deleted(model_client, image_host):
    shop = create_shop(model_client)
    callback = model_client.post("/api/v1/callbacks", headers=shop.headers, json={"url": image_host.url("/echo/x")}).json()
    assert model_client.delete(f"/api/v1/callbacks/{callback['id']}", headers=shop.headers).status_code == 204
    assert model_client.get(f"/api/v1/callbacks/{callback['id']}", headers=shop.headers).status_code == 404


@pytest.mark.slow
def test_a_callback_pending_when_the_api_is_killed_is_delivered_after_it_restarts(
        mongo_server, mongo_database, torchserve, image_host, photos, tmp_path):
    """The API and the worker as real processes: the API queues the delivery and is SIGKILLed before any worker
    has run; after the restart a worker delivers it, signed, once."""
    env = service_env(mongo_server.uri, mongo_database, tmp_path / "indexes", [image_host.origin], torchserve.inference_url)
    service = Service(env, tmp_path)
    path = f"/echo/killed-{time.monotonic_ns()}"
    try:
        service.start_api()
        shop = create_shop(_Remote(service.url))
        registered = httpx.post(f"{service.url}/api/v1/callbacks", headers=shop.headers,
                                json={"url": image_host.url(path)}, timeout=30)
        assert registered.status_code == 201, registered.text
        annotated = httpx.post(f"{service.url}/api/v1/annotations", headers=shop.headers,
                               files={"file": ("a.jpg", photos[0])}, timeout=60)
        assert annotated.status_code == 201, annotated.text
        with MongoClient(mongo_server.uri) as mongo:  # queued after the answer went out: wait until it is recorded
            _wait(lambda: mongo[mongo_database].jobs.find_one({"kind": "callback", "state": "queued"}))
        service.api.send_signal(signal.SIGKILL)  # no shutdown: nothing the process held in memory survives
        service.api.wait(timeout=10)
        assert not [p for p in image_host.posts if p[0] == path]  # nothing was delivered before the kill

        service.start_api()
        service.start_worker("--backoff", "0.05", "--backoff-cap", "0.2")
        [(_, headers, body)] = _wait(lambda: [p for p in image_host.posts if p[0] == path])
        assert _verify(registered.json()["secret"], headers["X-Kalas-Signature"], body)
        assert json.loads(body)["data"][0]["id"] == annotated.json()["id"]
        listing = f"{service.url}/api/v1/callbacks/{registered.json()['id']}/deliveries"
        settled = _wait(lambda: [d for d in httpx.get(listing, headers=shop.headers, timeout=30).json()["items"]
                                 if d["status"] != "pending"])
        assert [(d["status"], d["attempts"]) for d in settled] == [("delivered", 1)]
    finally:
        service.stop()


class _Remote:
    """Enough of a TestClient for `create_shop` against a running API process."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)
