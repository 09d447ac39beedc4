"""API keys: create one (its secret shown once), see it listed, use it, revoke it."""
from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_create_copy_once_and_revoke(desktop, service) -> None:
    sign_in(desktop, service, "keys", "/keys")
    desktop.get_by_text("No keys yet.").wait_for()
    screenshot(desktop, "keys-empty")

    desktop.get_by_label("Name of the new key").fill("catalogue sync")
    desktop.get_by_role("button", name="Create key").click()
    secret = desktop.get_by_label("Secret key").input_value()
    assert secret.startswith("ki_")
    assert desktop.get_by_text("it is shown only once").is_visible()
    row = desktop.get_by_test_id("key-row").filter(has_text="catalogue sync")
    row.get_by_text("active").wait_for()
    assert secret not in desktop.get_by_test_id("keys").inner_text()  # the list shows the prefix only
    screenshot(desktop, "keys")
    # The secret on the page is a working key.
    assert httpx.get(service.api("/annotations"), headers={"X-API-Key": secret}).status_code == 200

    desktop.get_by_role("button", name="I have copied it").click()
    assert desktop.get_by_label("Secret key").count() == 0  # gone for good: the page cannot show it again

    desktop.once("dialog", lambda dialog: dialog.accept())
    with desktop.expect_response(lambda response: response.request.method == "DELETE") as revoked:
        row.get_by_role("button", name="Revoke").click()
    assert revoked.value.status == 200, revoked.value.text()
    row.get_by_text("revoked").wait_for()
    assert row.get_by_role("button", name="Revoke").count() == 0
    refused = httpx.get(service.api("/annotations"), headers={"X-API-Key": secret})
    assert refused.status_code == 401


def test_revoking_can_be_cancelled(desktop, service) -> None:
    sign_in(desktop, service, "keys-cancel", "/keys")
    desktop.get_by_label("Name of the new key").fill("keep me")
    desktop.get_by_role("button", name="Create key").click()
    row = desktop.get_by_test_id("key-row").filter(has_text="keep me")
    row.wait_for()
    desktop.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Revoke").click()
    assert row.get_by_text("active").is_visible()
