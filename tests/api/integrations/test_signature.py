"""Webhook signatures checked against bytes signed the way WooCommerce signs them (the emulator's own code)."""
from api.integrations.signature import ping_id, sign, verify
from kalas.emulators.woocommerce import WooCommerceStore
from kalas.emulators.woocommerce_catalogue import Webhook


def _delivery(secret: str = "s3cret/with'quote"):
    store = WooCommerceStore()  # not started: only its delivery builder is used
    return store.signed_delivery(Webhook(7, "product.created", "http://unused", secret),
                                 {"id": 1, "images": [{"src": "https://shop/a/b.jpg"}]})


def test_a_woocommerce_signature_verifies_over_the_raw_body():
    delivery = _delivery()
    assert b"\\/" in delivery.body  # PHP escapes slashes: a re-encoded payload would not verify
    assert verify(delivery.body, "s3cret/with'quote", delivery.headers["X-WC-Webhook-Signature"])


def test_a_wrong_secret_a_changed_body_or_no_signature_is_refused():
    delivery = _delivery()
    signature = delivery.headers["X-WC-Webhook-Signature"]
    assert not verify(delivery.body, "another secret", signature)
    assert not verify(delivery.body + b" ", "s3cret/with'quote", signature)
    assert not verify(delivery.body, "s3cret/with'quote", None)
    assert not verify(delivery.body, "s3cret/with'quote", "")
    assert sign(b"x", "k") != sign(b"y", "k")


def test_the_creation_ping_is_recognised_only_without_a_signature():
    assert ping_id(b"webhook_id=42", None) == 42
    assert ping_id(b"webhook_id=42", "c2ln") is None
    assert ping_id(b'{"id": 42}', None) is None
    assert ping_id(b"webhook_id=abc", None) is None
    # Unsigned, so anyone's: a digit that is not ASCII, or a number no WordPress id can be, is no ping.
    assert ping_id("webhook_id=\u00b2".encode("latin-1"), None) is None
    assert ping_id(b"webhook_id=" + b"9" * 30, None) is None
    assert ping_id(b"webhook_id=" + b"9" * 5000, None) is None
