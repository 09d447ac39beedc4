"""The console on a phone: a crop drawn with a finger, the camera input, and installation as a PWA whose service
worker caches the app shell only and still opens it offline."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.web.conftest import screenshot, shared_photo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def touch_drag(page, selector: str, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """A one-finger drag, sent as real touch input through the DevTools protocol (what a phone's screen sends)."""
    box = page.locator(selector).bounding_box()
    cdp = page.context.new_cdp_session(page)
    at = lambda fx, fy: {"x": box["x"] + box["width"] * fx, "y": box["y"] + box["height"] * fy}  # noqa: E731
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(*start)]})
    for step in range(1, steps + 1):
        t = step / steps
        point = at(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        page.wait_for_timeout(16)  # a finger moves over frames, not in one instant
    # The finger rests before it lifts. Lifted at speed, Chromium starts a fling, and the next tap only stops it.
    page.wait_for_timeout(150)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_crop_with_a_finger_on_a_phone(phone, service, shared_data: Path) -> None:
    shop = sign_in(phone, service, "phone-shop")
    camera = phone.locator("input[type=file][capture=environment]")
    assert camera.count() == 1 and camera.get_attribute("accept") == "image/*"

    photo = shared_photo(shared_data, "clothing", 7)
    width, height = Image.open(photo).size
    phone.get_by_test_id("photo-input").set_input_files(photo)
    phone.get_by_test_id("annotation-scope").wait_for()
    start_scroll = phone.evaluate("window.scrollY")
    touch_drag(phone, "[data-testid=crop-surface]", (0.1, 0.3), (0.6, 0.9))
    assert phone.evaluate("window.scrollY") == start_scroll  # drawing the box did not scroll the page
    phone.get_by_test_id("crop-box").wait_for()
    phone.get_by_role("button", name="Annotate the crop").tap()
    phone.get_by_text("For the crop").wait_for()

    newest = httpx.get(service.api("/annotations"), params={"limit": 1},
                       headers={"Authorization": f"Bearer {shop.token}"}).json()["items"][0]
    crop = newest["crop"]
    assert abs(crop["x"] - width * 0.1) <= width * 0.03 and abs(crop["width"] - width * 0.5) <= width * 0.04
    assert abs(crop["y"] - height * 0.3) <= height * 0.03 and abs(crop["height"] - height * 0.6) <= height * 0.04
    # Nothing on the page is wider than the phone's screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "phone-annotate")


def test_installable_pwa_caches_the_shell_only_and_opens_offline(phone, service) -> None:
    phone.goto("/login")
    manifest_href = phone.locator("link[rel=manifest]").get_attribute("href")
    manifest = httpx.get(service.url + manifest_href).json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/annotate"
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        response = httpx.get(service.url + icon["src"])
        assert response.status_code == 200, icon["src"]
        if icon["type"] == "image/png":
            side = int(icon["sizes"].split("x")[0])
            assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
            assert int.from_bytes(response.content[16:20], "big") == side  # the PNG's own width

    # The service worker takes control and precaches the shell: HTML, the hashed bundle, manifest and icons.
    phone.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
    cached = phone.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
        }
        return urls;
    }""")
    assert "/" in cached and "/manifest.webmanifest" in cached
    assert any(path.startswith("/assets/") and path.endswith(".js") for path in cached)
    assert not [path for path in cached if path.startswith("/api/")], cached

    # Signed in, the API's answers stay uncached even after being used.
    sign_in(phone, service, "pwa-shop", "/keys")
    phone.get_by_text("No keys yet.").wait_for()
    cached_after = phone.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
        }
        return urls;
    }""")
    assert not [path for path in cached_after if path.startswith("/api/")], cached_after

    # Offline, the console still opens (from the cached shell) and says the service cannot be reached.
    phone.reload()
    phone.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.context.set_offline(True)
    try:
        phone.reload()
        phone.get_by_role("heading", name="API keys").wait_for()
        assert "Cannot reach the Kalas-Iris service" in phone.get_by_role("alert").inner_text()
    finally:
        phone.context.set_offline(False)
