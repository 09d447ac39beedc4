"""Annotate a real photo, crop it and annotate the crop, correct the predictions, save the review, find it again."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from kalas.stack.live import wait_for
from tests.support import images as make
from tests.web.conftest import screenshot, shared_photo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def drag(page, selector: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the mouse between two points given as fractions of the element's box."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start[0] + end[0]) / 2, box["y"] + box["height"] * (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=4)
    page.mouse.up()


def test_annotate_crop_correct_and_find_the_review(desktop, service, shared_data: Path) -> None:
    shop = sign_in(desktop, service, "annotator")
    session = {"Authorization": f"Bearer {shop.token}"}
    photo = shared_photo(shared_data, "clothing", 3)
    width, height = Image.open(photo).size

    desktop.get_by_test_id("photo-input").set_input_files(photo)
    scope = desktop.get_by_test_id("annotation-scope")
    scope.wait_for()
    assert "the whole photo" in scope.inner_text()
    category = desktop.get_by_test_id("choice-category")
    assert category.get_by_role("radio").count() >= 2
    assert category.locator(".option-score").first.inner_text().endswith("%")
    assert desktop.get_by_test_id("choice-colours").locator(".swatch").count() >= 1
    screenshot(desktop, "annotate")

    # Draw a box over the middle of the photo and annotate only that part.
    drag(desktop, "[data-testid=crop-surface]", (0.25, 0.2), (0.75, 0.8))
    assert desktop.get_by_test_id("crop-box").is_visible()
    desktop.get_by_role("button", name="Annotate the crop").click()
    desktop.get_by_text("For the crop").wait_for()
    screenshot(desktop, "annotate-crop")
    newest = httpx.get(service.api("/annotations"), params={"limit": 1}, headers=session).json()["items"][0]
    crop = newest["crop"]
    # The box is sent in the photo's own pixels, whatever size the photo is shown at.
    assert abs(crop["x"] - width * 0.25) <= width * 0.02 and abs(crop["width"] - width * 0.5) <= width * 0.03
    assert abs(crop["y"] - height * 0.2) <= height * 0.02 and abs(crop["height"] - height * 0.6) <= height * 0.03

    # Reloaded (or its address kept), the page shows the same annotation, and its photo, fetched back from the
    # service, can be annotated again.
    assert desktop.url.endswith(f"/annotate?annotation={newest['id']}")
    desktop.reload()
    desktop.get_by_text("For the crop").wait_for()
    shown = desktop.get_by_alt_text("The photo to annotate")
    wait_for(lambda: shown.evaluate("image => image.complete && image.naturalWidth > 0"), 10, "the photo shown")
    desktop.get_by_role("button", name="Annotate the whole photo").click()
    desktop.get_by_text("For the whole photo").wait_for()
    again = httpx.get(service.api("/annotations"), params={"limit": 1}, headers=session).json()["items"][0]
    assert again["id"] != newest["id"] and again["crop"] is None
    assert desktop.url.endswith(f"/annotate?annotation={again['id']}")
    desktop.goto(f"/annotate?annotation={'0' * 24}")  # no such annotation (or another shop's)
    desktop.get_by_text(re.compile("^The annotation this page's address names could not be shown")).wait_for()
    assert desktop.url.endswith("/annotate")
    desktop.goto(f"/annotate?annotation={newest['id']}")
    desktop.get_by_text("For the crop").wait_for()

    # Correct it: another category from the taxonomy, one attribute unset, the first colour unticked.
    other = desktop.get_by_label("Category: choose another value")
    # A category the model did not propose (the picker lists only those), whatever the model is.
    chosen = other.locator("option").last.get_attribute("value")
    chosen_name = other.locator("option").last.inner_text()
    other.select_option(chosen)
    colours = desktop.get_by_test_id("choice-colours").get_by_role("checkbox")
    first_colour = desktop.get_by_test_id("choice-colours").locator(".option-name").first.inner_text()
    colours.first.uncheck()
    groups = [g for g, options in newest["attributes"].items() if options]
    if groups:
        desktop.get_by_test_id(f"choice-{groups[0]}").get_by_text("Not set").click()
    desktop.get_by_role("button", name="Save review").click()
    desktop.get_by_text("Review saved.").wait_for()

    saved = httpx.get(service.api("/reviews"), headers=session).json()
    assert saved["total"] == 1
    review = saved["items"][0]
    assert review["annotation_id"] == newest["id"] and review["category"] == chosen
    assert chosen not in [c["label"] for c in newest["category"]]
    assert first_colour.lower() not in [c.lower() for c in review["colours"]]
    if groups:
        assert groups[0] not in review["attributes"]

    desktop.get_by_role("link", name="Past reviews").first.click()
    card = desktop.get_by_test_id("review")
    card.wait_for()
    assert desktop.get_by_test_id("review-category").get_attribute("data-label") == chosen
    assert desktop.get_by_test_id("review-category").inner_text() == chosen_name
    assert card.get_by_role("img").count() >= 1
    assert card.locator(".crop-box").count() == 1  # the reviewed crop is drawn on the photo
    screenshot(desktop, "reviews")


def test_crop_box_from_the_keyboard(desktop, service, shared_data: Path) -> None:
    sign_in(desktop, service, "keyboard")
    desktop.get_by_test_id("photo-input").set_input_files(shared_photo(shared_data, "fashion-products", 0))
    desktop.get_by_test_id("annotation-scope").wait_for()
    surface = desktop.get_by_test_id("crop-surface")
    surface.focus()
    desktop.keyboard.press("Enter")
    box = desktop.get_by_test_id("crop-box")
    before = box.evaluate("b => b.style.left")
    desktop.keyboard.press("ArrowRight")
    desktop.keyboard.press("Shift+ArrowDown")
    assert float(box.evaluate("b => b.style.left").rstrip("%")) > float(before.rstrip("%"))
    desktop.keyboard.press("Delete")
    assert box.count() == 0


def test_wrong_files_get_clear_messages(desktop, service) -> None:
    sign_in(desktop, service, "wrong-files")
    # Refused in the browser: not an image at all.
    desktop.get_by_test_id("photo-input").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 not a photo"})
    assert "is not an image" in desktop.get_by_role("alert").inner_text()
    # Claims to be a JPEG but is not: the API's decoder refuses it and the console shows why.
    desktop.get_by_test_id("photo-input").set_input_files(
        {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff\xe0 truncated"})
    alert = desktop.locator(".alert-error")
    alert.wait_for()
    assert alert.inner_text().strip()
    assert desktop.get_by_test_id("annotation").count() == 0


def test_a_heic_photo_without_a_media_type_is_annotated_and_shown_from_the_services_copy(desktop, service,
                                                                                          shared_data: Path) -> None:
    """An iPhone's HEIC photo chosen in a browser that neither names its type nor draws it (Chromium): the console
    sends it, says why it cannot show it, and shows the service's JPEG of it once it is annotated."""
    sign_in(desktop, service, "heic-shop")
    photo = shared_photo(shared_data, "fashion-products", 1)
    heic = make.heic(photo.read_bytes())
    desktop.get_by_test_id("photo-input").set_input_files(
        {"name": "IMG_0042.HEIC", "mimeType": "application/octet-stream", "buffer": heic})
    desktop.get_by_test_id("annotation-scope").wait_for()
    assert desktop.get_by_test_id("photo-unreadable").count() == 0  # the service's copy is drawn instead
    shown = desktop.get_by_alt_text("The photo to annotate")
    desktop.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=shown.element_handle())
    assert (shown.evaluate("image => [image.naturalWidth, image.naturalHeight]")) == list(Image.open(photo).size)
    assert "/api/v1/images/" in shown.get_attribute("src")


def test_drop_a_photo_on_the_page(desktop, service, shared_data: Path) -> None:
    sign_in(desktop, service, "dropper")
    photo = shared_photo(shared_data, "fashion-products", 2)
    transfer = desktop.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [photo.name, base64.b64encode(photo.read_bytes()).decode()],
    )
    zone = desktop.get_by_test_id("dropzone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    assert "dragging" in zone.get_attribute("class")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    desktop.get_by_test_id("annotation-scope").wait_for()
    assert desktop.get_by_role("img", name="The photo to annotate").is_visible()


def test_a_photo_sent_again_after_its_answer_was_lost_is_annotated_once(desktop, service, shared_data: Path) -> None:
    """A phone's connection drops after the upload landed: the console says it could not reach the service, the
    person taps again, and the retry (the same Idempotency-Key) is answered with the first annotation, not a second."""
    shop = sign_in(desktop, service, "retrier")
    session = {"Authorization": f"Bearer {shop.token}"}
    photo = shared_photo(shared_data, "clothing", 5)
    keys: list[str] = []
    answered: list[httpx.Response] = []

    def lose_the_first_answer(route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:  # the service receives the photo and annotates it; its answer never reaches the page
            # (sent from here: Chromium hands an intercepted upload's body to Playwright empty)
            headers = {name: value for name, value in route.request.headers.items()
                       if name in ("authorization", "idempotency-key")}
            answered.append(httpx.post(service.api("/annotations"), headers=headers,
                                       files={"file": (photo.name, photo.read_bytes(), "image/jpeg")}))
            route.abort("connectionreset")
        else:
            route.continue_()

    desktop.route("**/api/v1/annotations", lose_the_first_answer)
    desktop.get_by_test_id("photo-input").set_input_files(photo)
    desktop.get_by_text("Cannot reach the Kalas-Iris service").wait_for()
    listed = httpx.get(service.api("/annotations"), headers=session).json()
    assert answered[0].status_code == 201, answered[0].text
    assert listed["total"] == 1  # it was done

    desktop.get_by_role("button", name="Annotate the whole photo").click()
    desktop.get_by_test_id("annotation-scope").wait_for()
    assert len(keys) == 2 and keys[0] and keys[1] == keys[0]
    again = httpx.get(service.api("/annotations"), headers=session).json()
    assert again["total"] == 1 and again["items"][0]["id"] == listed["items"][0]["id"]

    # Choosing the photo again is a new attempt: a new key, a new annotation.
    with desktop.expect_response(lambda r: r.url.endswith("/api/v1/annotations") and r.request.method == "POST") as made:
        desktop.get_by_test_id("photo-input").set_input_files(photo)
    assert made.value.status == 201 and "idempotent-replayed" not in made.value.headers
    assert len(keys) == 3 and keys[2] != keys[0]
    assert httpx.get(service.api("/annotations"), headers=session).json()["total"] == 2
