"""What a WooCommerce store's REST answers and webhook bodies hold, read as the service keeps it: product ids, term
names as the merchant wrote them, categories named by their path in the store's tree, and which size of a photo to
fetch."""
from __future__ import annotations

import email.utils
import html
import math
import re
import time
from collections.abc import Mapping

import httpx

from api.core.limits import json_value, whole_number
from api.core.text import forbidden
from api.schemas import MAX_URL  # a longer "address" in a srcset is none the API would take either

# A store's categories form a tree ("Herren > Hemden" beside "Damen > Hemden"): the service names each by its path.
PATH_SEPARATOR = " > "

MAX_ID = 2**63 - 1  # MongoDB keeps 8-byte integers; WordPress's ids are BIGINT UNSIGNED
# A store asking to be left alone longer than this (a misconfigured or hostile Retry-After: a year, "1e309") is
# asked again after it: a job must not be parked for ever.
MAX_RETRY_AFTER_S = 3600.0

# A store photo is fetched at the smallest of its sizes at least this wide: the model sees 224 pixels and the console
# shows a few hundred, while `src` is the full upload (up to 2,560 pixels, a PNG of it often over the upload limit).
PHOTO_WIDTH = 1024


def product_id(value: object) -> int | None:
    """A store product's id as the service keeps it: a whole number from 1 to 2^63 − 1 (its ASCII digits as a
    string are taken too, `whole_number`); None for anything else."""
    if isinstance(value, str):
        value = whole_number(value) if value.strip() == value else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ID else None


def unnamed_title(product_id: object) -> str:
    """The catalogue title of a store product that has no name (a catalogue product's title may not be empty)."""
    return f"WooCommerce product {product_id}"


def is_unnamed(product: dict) -> bool:
    """Whether a catalogue product is a store product whose title only stands in for a name it does not have."""
    source = product.get("source") or {}
    return "product_id" in source and product.get("title") == unnamed_title(source["product_id"])


def plain_name(name: str) -> str:
    """A term's or product's name as written: WordPress's entities ("&amp;") decoded, spaces around trimmed, and a
    character the API refuses in a shop's text (a control character, a bidirectional override: a store or a plugin
    may send them) read as a space, so that nothing the service keeps or shows holds one."""
    return "".join(" " if forbidden(character) else character for character in html.unescape(name)).strip()


def stored_name(name: str) -> str:
    """A term's name as WordPress stores it and searches it: `_wp_specialchars` turns "&", "<" and ">" into entities
    ("Tops &amp; Tees")."""
    return html.escape(plain_name(name), quote=False)


def term_name(term: object) -> str:
    """A category's or tag's name as the merchant wrote it. WordPress answers term names HTML-escaped, in its term
    listings and in each product's `categories` and `tags` (woocommerce/woocommerce#40029): the service reads,
    shows, learns and compares the names unescaped, and WordPress escapes them again when a term is created."""
    name = term.get("name") if isinstance(term, dict) else None
    return plain_name(name) if isinstance(name, str) else ""


def store_product(item: dict, found_id: int) -> dict:
    """A product as the service reads it, from the REST API or a webhook's body: its id checked by the caller, its
    terms' names unescaped (`term_name`), its photos those with an address (anything else in `images` is no photo
    the service could fetch), its `meta_data` the entries that are objects; terms that are no list are none, and the
    words it is compared by (`status`, `type`, `catalog_visibility`) text."""
    plain = {kind: [{**term, "name": term_name(term)} for term in item[kind] if isinstance(term, dict)]
             if isinstance(item[kind], list) else [] for kind in ("categories", "tags") if kind in item}
    words = {key: f"{item[key]!s:.40}" for key in ("status", "type", "catalog_visibility")
             if key in item and not isinstance(item[key], str)}
    images, meta = item.get("images"), item.get("meta_data")
    photos = [image for image in images if isinstance(image, dict) and isinstance(image.get("src"), str)] \
        if isinstance(images, list) else []
    fields = [entry for entry in meta if isinstance(entry, dict)] if isinstance(meta, list) else []
    return {**item, **plain, **words, "images": photos, "meta_data": fields, "id": found_id}


def category_paths(categories: list) -> dict[int, str]:
    """Each category's path from the root of the store's tree, by id, from the categories' `parent` ids (a parent
    missing from the listing, or a loop, ends the path there)."""
    by_id = {product_id(t.get("id")): t for t in categories if isinstance(t, dict) and product_id(t.get("id"))}
    paths = {}
    for term_id in by_id:
        names, seen, at = [], set(), term_id
        while at in by_id and at not in seen:
            seen.add(at)
            names.append(term_name(by_id[at]))
            at = product_id(by_id[at].get("parent"))
        paths[term_id] = PATH_SEPARATOR.join(reversed(names))
    return paths


def named_by_path(product: dict, paths: Mapping[int, str]) -> dict:
    """The product with each category named by its path (`paths`, by id; a category missing there keeps its name)."""
    if not product.get("categories"):
        return product
    return {**product, "categories": [{**c, "name": paths.get(product_id(c.get("id")), c["name"])}
                                      for c in product["categories"]]}


def not_on_show(product: dict) -> str | None:
    """What the store product is instead of on show to customers ("a draft", "private", "hidden from the shop"), or
    None when it is on show (published, and not hidden from the shop's catalogue): only a product on show is among
    the shop's similar items, which a storefront shows its customers."""
    status = product.get("status", "publish")
    if status != "publish":
        return {"draft": "a draft", "pending": "pending review", "private": "private",
                "future": "scheduled", "trash": "in the trash"}.get(status, f"{status!s:.40}")
    if product.get("catalog_visibility") == "hidden":
        return "hidden from the shop"
    return None


def web_address(value: object) -> str | None:
    """`value` when it is an http(s) address the API would take (at most MAX_URL characters), else None: a store's
    answer may hold anything where an address should be."""
    return value if isinstance(value, str) and len(value) <= MAX_URL \
        and value.lower().startswith(("http://", "https://")) else None


def photo_url(image: dict, width: int = PHOTO_WIDTH) -> str:
    """Where to fetch a product photo (an item of a product's `images`): the smallest of the sizes WordPress made of it
    that is at least `width` pixels wide, from `srcset` (WooCommerce 10.2 and later answer it: every size of the
    photo's shape up to 2,048 pixels), else `src`, the photo as uploaded."""
    srcset = image.get("srcset")
    sizes = sorted(_candidates(srcset)) if isinstance(srcset, str) else []
    return next((url for w, url in sizes if w >= width), image["src"])


def _candidates(srcset: str) -> list[tuple[int, str]]:
    """(width, address) of each "address 1024w" in a srcset, split in linear time (a store's answer is no place for
    a backtracking pattern); anything else in it is passed over."""
    found = []
    for candidate in srcset.split(","):
        parts = candidate.split()
        width = whole_number(parts[1][:-1], max_digits=6) if len(parts) == 2 and parts[1][-1:].lower() == "w" \
            else None
        if width is not None and web_address(parts[0]):
            found.append((width, parts[0]))
    return found


# What a store's error answer says. A page in WooCommerce's place is read for its title within its first 64 KiB (the
# title is at its top, and a hostile answer of up to 32 MiB is no text to read whole), in linear time: a tag ends at
# the next "<" as well as at ">", so that no match scans on to the end of the text.
_TAG = re.compile(r"<[^<>]*>")
PAGE_READ = 65_536


def no_rest_api(response: httpx.Response) -> bool:
    """A 404 that is not the REST API's JSON: no REST route answered at that address at all."""
    return response.status_code == 404 and "json" not in response.headers.get("Content-Type", "")


NOT_JSON = object()  # what `answer_json` gives for an answer that is no JSON it can read
_UNREAD = object()


def error_data(response: httpx.Response, body: object = _UNREAD) -> dict:
    """The REST error's `data` object (`{"code", "message", "data": {...}}`), empty when the answer has none.
    `body`: the answer's JSON, read already (`answer_json`)."""
    body = answer_json(response) if body is _UNREAD else body
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


# What PHP prints before a page when the site displays its errors (display_errors on, as on many live sites): a
# notice, warning or deprecation each, in HTML ("<br />\n<b>Deprecated</b>:  … in <b>/x.php</b> on line <b>9</b><br />")
# or as text ("PHP Warning:  … on line 9"). WooCommerce's JSON follows them whole.
_PHP_NOTICES = re.compile(rb"(?:\s*(?:<br\s*/?>\s*)?(?:<b>)?(?:PHP )?(?:Deprecated|Notice|Warning|Strict Standards)"
                          rb"(?:</b>)?:[^\n]*?on line\s*(?:<b>)?\d+(?:</b>)?(?:<br\s*/?>)?)+\s*")


def answer_json(response: httpx.Response) -> object:
    """The answer's JSON, or NOT_JSON when it is none (a page, or JSON nested too deeply to read). JSON after PHP's
    displayed notices and warnings (`_PHP_NOTICES`) is read: the store works, its PHP speaks first."""
    try:
        return json_value(response.content)
    except ValueError:
        pass
    if (notices := _PHP_NOTICES.match(response.content)) is not None:
        try:
            return json_value(response.content[notices.end():])
        except ValueError:
            pass
    return NOT_JSON


def answer_reason(response: httpx.Response, body: object = _UNREAD) -> str:
    """What the store said: the REST error's message, or what a page in its place shows (its title, else its text).
    `body`: the answer's JSON, read already (`answer_json`)."""
    body = answer_json(response) if body is _UNREAD else body
    if body is NOT_JSON:
        text = response.text[:PAGE_READ]
        shown = " ".join(_TAG.sub(" ", _title(text) or text).split())
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        return f"a {kind} page, not WooCommerce's JSON: {shown[:120] or response.reason_phrase}"
    return str(body.get("message") or body.get("code") or body)[:200] if isinstance(body, dict) else str(body)[:200]


def _title(page: str) -> str | None:
    """The text of a page's `<title>` element, found by plain searches (each once over the page)."""
    lowered = page.lower()
    opened = lowered.find("<title")
    start = lowered.find(">", opened) + 1 if opened >= 0 else 0
    end = lowered.find("</title>", start) if start else -1
    return page[start:end] if end >= 0 else None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` is either seconds or an HTTP date (RFC 9110 §10.2.3), up to MAX_RETRY_AFTER_S; None when it is
    neither (a proxy's "soon")."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return None if math.isnan(seconds) else min(MAX_RETRY_AFTER_S, max(0.0, seconds))
