"""Sign up, log out and log in through the console, and the errors a person sees when it goes wrong."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.web.conftest import create_shop, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_up_log_out_and_log_in_again(desktop, service) -> None:
    email = f"owner-{time.monotonic_ns() % 10**9}@tee-shop.example"
    desktop.goto("/")
    desktop.get_by_role("heading", name="Log in to Kalas-Iris").wait_for()
    screenshot(desktop, "login")
    desktop.get_by_role("link", name="Create an account").click()
    desktop.get_by_label("Shop name").fill("Tee Shop")
    desktop.get_by_label("E-mail").fill(email)
    desktop.get_by_label("Password").fill("correct horse battery")
    screenshot(desktop, "signup")
    desktop.get_by_role("button", name="Sign up").click()

    desktop.get_by_role("heading", name="Annotate a photo").wait_for()
    assert desktop.url.endswith("/annotate")
    assert desktop.get_by_text("Tee Shop").is_visible()
    token = desktop.evaluate("localStorage.getItem('kalas.session')")
    me = httpx.get(service.api("/auth/me"), headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == email

    desktop.get_by_role("button", name="Log out").click()
    desktop.get_by_role("heading", name="Log in to Kalas-Iris").wait_for()
    assert desktop.evaluate("localStorage.getItem('kalas.session')") is None
    # Logging out ended the session on the server too, not only in the browser.
    assert httpx.get(service.api("/auth/me"), headers={"Authorization": f"Bearer {token}"}).status_code == 401

    desktop.get_by_label("E-mail").fill(email)
    desktop.get_by_label("Password").fill("correct horse battery")
    desktop.get_by_role("button", name="Log in").click()
    desktop.get_by_role("heading", name="Annotate a photo").wait_for()


def test_wrong_password_and_taken_email_say_what_is_wrong(desktop, service) -> None:
    shop = create_shop(service, "taken")
    desktop.goto("/login")
    desktop.get_by_label("E-mail").fill(shop.email)
    desktop.get_by_label("Password").fill("not the password")
    desktop.get_by_role("button", name="Log in").click()
    assert "wrong e-mail or password" in desktop.get_by_role("alert").inner_text()

    desktop.goto("/signup")
    desktop.get_by_label("Shop name").fill("Copycat")
    desktop.get_by_label("E-mail").fill(shop.email)
    desktop.get_by_label("Password").fill("another long password")
    desktop.get_by_role("button", name="Sign up").click()
    assert "already exists" in desktop.get_by_role("alert").inner_text()
    assert desktop.url.endswith("/signup")


def test_pages_need_a_session_and_an_expired_one_returns_to_log_in(desktop, service) -> None:
    desktop.goto("/keys")
    desktop.get_by_role("heading", name="Log in to Kalas-Iris").wait_for()
    assert desktop.url.endswith("/login")

    shop = create_shop(service, "expiring")
    desktop.get_by_label("E-mail").fill(shop.email)
    desktop.get_by_label("Password").fill(shop.password)
    desktop.get_by_role("button", name="Log in").click()
    desktop.get_by_role("heading", name="API keys").wait_for()  # the page asked for, once logged in
    assert desktop.url.endswith("/keys")
    token = desktop.evaluate("localStorage.getItem('kalas.session')")
    # The session ends elsewhere (another tab logged out): the next request gets 401 and the console asks to log in.
    assert httpx.post(service.api("/auth/logout"), headers={"Authorization": f"Bearer {token}"}).status_code == 204
    desktop.get_by_role("link", name="Catalogue").click()
    desktop.get_by_text("Your session has ended. Log in again.").wait_for()
    desktop.get_by_label("E-mail").fill(shop.email)
    desktop.get_by_label("Password").fill(shop.password)
    desktop.get_by_role("button", name="Log in").click()
    desktop.get_by_role("heading", name="Catalogue").wait_for()  # back where the session ended
