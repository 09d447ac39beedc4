"""The delivery URL fuzzed with deliveries signed by the webhook's own secret: what a broken store, a plugin that
reshapes products, or an attacker who learned the secret could send. Schemathesis (tests/web/test_openapi_fuzz.py)
reaches this route only unsigned, where every request is a 401; here each body passes the signature check, so the
parsing behind it is what is tried. No delivery may get a 5xx: a product the service cannot read is a 400 that says
what was wrong, anything else is acknowledged, and every acknowledged delivery is recorded once."""
from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import example, given, strategies as st

from api.integrations.hooks import NEWER_TOPICS, TOPICS
from tests.api.conftest import create_shop
from tests.api.integrations.test_routes import WEBHOOK_SECRET, register
from tests.support.fuzzing import bodies, examples, fuzzing

EXAMPLES = 150  # each test's, the same every run (tests/support/fuzzing.py: FUZZ_EXAMPLES, FUZZ_SEED)

topics = st.sampled_from([*TOPICS, *NEWER_TOPICS, "order.created", "product.", "", "coupon.deleted"])


def test_no_signed_delivery_gets_a_server_error_and_each_acknowledged_one_is_recorded(api):
    shop = create_shop(api)
    integration = register(api, shop)
    path = "/" + integration["delivery_url"].split("://", 1)[1].split("/", 1)[1]
    answered: dict[str, int] = {}
    server_errors: list[str] = []

    @fuzzing(EXAMPLES)
    @given(body=bodies, topic=topics, delivery=st.integers(min_value=0, max_value=10**6))
    # Found by a 2,000-example run: terms that are no list (a 500 before store_data.store_product made them none).
    @example(body=b'{"id": 7, "categories": 1.5, "tags": "Sale"}', topic="product.created", delivery=1)
    @example(body=b'{"id": "' + b"9" * 5000 + b'"}', topic="product.created", delivery=2)
    def deliver(body: bytes, topic: str, delivery: int) -> None:
        signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        response = api.post(path, content=body, headers={
            "Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-Delivery-ID": f"d{delivery}", "X-WC-Webhook-ID": "3"})
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} {topic} {body[:200]!r}: {response.text[:200]}")
        elif response.status_code >= 400:
            error = response.json()["error"]
            assert response.status_code == 400 and error["message"], response.text
        else:
            answered[response.json()["status"]] = answered.get(response.json()["status"], 0) + 1

    deliver()
    assert not server_errors, "\n".join(server_errors[:10])
    # The fuzzing reached past the parsing: deliveries were queued, others ignored, some refused.
    assert answered.get("queued", 0) > 0 and sum(answered.values()) < examples(EXAMPLES), answered
    listed = api.get(f"/api/v1/integrations/{integration['id']}/deliveries", headers=shop.session,
                     params={"limit": 200}).json()
    assert listed["total"] == sum(answered.values()) - answered.get("duplicate", 0)


def test_an_unsigned_ping_of_any_id_is_answered_without_a_server_error(api):
    """WooCommerce's ping when a webhook is saved is unsigned (`webhook_id=<id>`), so anyone can send one: a
    WordPress id is a pong, anything else is refused as unsigned (a non-ASCII digit, "\u00b2", and 5,000 digits
    were 500s)."""
    integration = register(api, create_shop(api))
    path = "/" + integration["delivery_url"].split("://", 1)[1].split("/", 1)[1]

    @fuzzing(EXAMPLES)
    @given(value=st.one_of(st.binary(max_size=30), st.text(max_size=30).map(str.encode),
                           st.text("0123456789\u00b2\u0663", min_size=1, max_size=5000).map(str.encode)))
    @example(value=b"\xb2")  # "\u00b2" in Latin-1, a digit to Python's isdigit
    @example(value=b"9" * 5000)
    @example(value=b"9" * 30)  # past MongoDB's 8-byte integers
    def ping(value: bytes) -> None:
        response = api.post(path, content=b"webhook_id=" + value,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code in (200, 401), response.text
        if response.status_code == 200:
            assert response.json() == {"status": "pong"} and value.decode("latin-1").strip().isdigit()

    ping()
