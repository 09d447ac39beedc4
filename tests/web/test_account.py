"""The Account page: the shop downloads its data, then deletes the account with its password (asked again)."""
from __future__ import annotations

import zipfile

import httpx
import pytest

from tests.web.conftest import Service, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_download_then_delete_the_account(desktop, service: Service, tmp_path) -> None:
    shop = sign_in(desktop, service, "leaving-shop", "/account")
    desktop.get_by_role("heading", name="Account", exact=True).wait_for()
    screenshot(desktop, "account")
    with desktop.expect_download() as download:
        desktop.get_by_role("button", name="Download all my data (.zip)").click()
    saved = tmp_path / "account.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as bundle:
        assert "accounts.json" in bundle.namelist()

    form = desktop.get_by_test_id("delete-account")
    desktop.once("dialog", lambda dialog: dialog.accept())
    form.get_by_label("Your password").fill("not the password")
    form.get_by_role("button", name="Delete my account").click()
    form.get_by_text("the password is wrong").wait_for()  # nothing deleted
    assert httpx.get(service.api("/auth/me"), headers={"Authorization": f"Bearer {shop.token}"}).status_code == 200

    desktop.once("dialog", lambda dialog: dialog.accept())
    form.get_by_label("Your password").fill(shop.password)
    form.get_by_role("button", name="Delete my account").click()
    desktop.get_by_role("button", name="Log in").wait_for()  # back at the log-in page, told what happened
    desktop.get_by_text("Your account and all its data were deleted.").wait_for()
    assert not desktop.get_by_text("Your session has ended").count()
    assert httpx.get(service.api("/auth/me"), headers={"Authorization": f"Bearer {shop.token}"}).status_code == 401
    login = httpx.post(service.api("/auth/login"), json={"email": shop.email, "password": shop.password})
    assert login.status_code == 401  # the account is gone
