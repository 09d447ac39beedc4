"""Callbacks: signed POSTs of annotation results to a shop's URL, retried until accepted, every attempt logged."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.api.conftest import create_shop


def _wait(check, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
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
