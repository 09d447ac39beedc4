"""A connected store's existing catalogue, imported: every product with its photos and the merchant's own
categories and tags, into the shop's catalogue and similar-item index, where the shop's own model learns from it.

The `import` job (api/jobs/woocommerce.py) reads the store's products a page at a time, oldest first, and records
after each page where it stands (`integration.import`: next page, pages, products seen, imported, failed): a job
retried after a crash or a store outage goes on from the page it had reached, and re-importing a product replaces
its catalogue entry instead of adding a second. Nothing is written to the store: a product the merchant has
already categorised is recorded as such (the service's own record of writes, state "imported"), so no webhook or
sync annotates it later unless its photos change. At the end the shop's model is trained when it has enough.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time

from api.data import integrations, products
from api.domain import catalogue
from api.domain.embedding import Made
from api.domain.errors import DomainError, StoreEntryTaken
from api.domain.shop_models import retrain_if_due
from api.integrations.languages import in_another_language
from api.integrations.merge import images_fingerprint, merchant_terms
from api.integrations.store_data import not_on_show, photo_url, plain_name, unnamed_title, web_address
from api.integrations.woo_client import WooClient
from api.intake.fetch import FetchError
from api.intake.photo import Photo, check
from api.jobs.runner import Step
from api.services import Services

PAGE_SIZE = 20
MAX_PHOTOS = 8  # a catalogue product's limit (api/schemas.py)
STOPPED = ("state", "reason", "job")  # what a stopped import's progress says of it (`integrations.import_stopped`)


def store_name(product: dict) -> str | None:
    """A store product's name as the catalogue holds it (at most 300 characters), None when it has none."""
    name = product.get("name")
    return (plain_name(name)[:300] or None) if isinstance(name, str) else None


def store_page(product: dict) -> str | None:
    """The web address of a store product's page (its `permalink`), None when it has no http(s) one."""
    return web_address(product.get("permalink"))


def store_fields(integration_id: str, product: dict, written: dict | None = None) -> dict:
    """The catalogue fields of a store product: its name, page, the merchant's own terms and where it came from,
    each as the catalogue's products hold it (a title of at most 300 characters, a page's web address or none)."""
    categories, tags = merchant_terms(product, integration_id, written)
    return {"title": store_name(product) or unnamed_title(product["id"]), "sku": None,
            "url": store_page(product), "categories": categories[:10], "tags": tags[:30],
            "metadata": {"source": "woocommerce", "integration": integration_id,
                         "store_product_id": str(product["id"])},
            "source": {"integration": integration_id, "product_id": int(product["id"])},
            "store_key": products.store_key(integration_id, product["id"]), "store_images": images_fingerprint(product)}


def terms_moved(entry: dict | None, product: dict, integration_id: str,
                written: dict | None) -> tuple[list[str], list[str]] | None:
    """The merchant's (categories, tags) of the store product when they differ from its catalogue entry's (a
    correction in the store); None when they agree, in any order, or the product has no entry."""
    if entry is None:
        return None
    categories, tags = merchant_terms(product, integration_id, written)
    terms = (categories[:10], tags[:30])
    # The same terms in another order are no change: a store lists a product's terms in its own order, and the
    # entry keeps the order a review gave it (its category first: the one the shop's model learns).
    same = all(sorted(entry.get(kind) or []) == sorted(names) for kind, names in zip(("categories", "tags"), terms))
    return None if same else terms


async def import_catalogue(services: Services, integration: dict, store: WooClient, step: Step) -> str:
    db, integration_id = services.db, integration["_id"]
    progress = dict(integration.get("import") or {})
    if progress.get("state") == "done":
        return "the store's catalogue was imported already"
    progress = {"next_page": 1, "pages": None, "total": None, "seen": 0, "imported": 0,
                "failed": 0, "started": time.time(), **{k: v for k, v in progress.items() if k not in STOPPED},
                "state": "running"}
    previous = None
    while True:
        if not await integrations.still_connected(db, integration):  # its progress is no longer this import's
            return "the store was disconnected while its catalogue was imported: the import stopped"
        page = progress["next_page"]
        listed = await store.products_page(page, PAGE_SIZE)
        if listed.repeats(previous):  # a store that ignores `page`: its first page again
            break
        pages, total = listed.pages, listed.total
        for product in listed.items:
            progress["seen"] += 1
            if created_since_connect(product, integration):
                continue  # a product made after the connect is the webhooks' (annotated and written like any new one)
            if in_another_language(product, integration.get("store_language")):
                progress["translations"] = progress.get("translations", 0) + 1  # Polylang lists every language
                continue
            try:  # the service's record of a write: a store connected again may have dropped its marker
                written = await integrations.our_write(db, integration_id, int(product["id"]))
                if await import_product(services, integration, product, written) is None and not_on_show(product):
                    progress["not_shown"] = progress.get("not_shown", 0) + 1
                else:
                    progress["imported"] += 1
            except DomainError as error:  # one product's photo: the rest go on; the count says how many failed
                progress["failed"] += 1
                await step("product skipped", f"store product {product.get('id')}: {error.message}")
        progress |= {"next_page": page + 1, "pages": pages, "total": total}
        await integrations.record_import(db, integration_id, progress)
        await step("page imported", f"page {page} of {pages or '?'}: {progress['imported']} of {total or '?'} products "
                                    f"imported", fence=True)
        if not listed.more:
            break
        previous = listed
    progress |= {"state": "done", "finished": time.time()}
    await integrations.record_import(db, integration_id, progress)
    trained = await retrain_if_due(db, integration["account"])
    return (f"{progress['imported']} of {progress['total'] or progress['seen']} products imported "
            f"({progress['failed']} failed)"
            + (f"; {progress['translations']} in another language than {integration['store_language']} left out"
               if progress.get("translations") else "")
            + (f"; {progress['not_shown']} not on show to customers (drafts, private or hidden) kept out of "
               f"similar-item search until they are" if progress.get("not_shown") else "")
            + ("; the shop's model is being trained" if trained else ""))


def created_since_connect(product: dict, integration: dict) -> bool:
    """True for a store product created at or after the store was connected (to the second). A product's
    `date_created_gmt` is WordPress's post date, which for a scheduled product is the hour it is to be published:
    its last save (`date_modified_gmt`) counts where it is earlier, so that a drop made before the connect is the
    import's."""
    connected = integration.get("created")
    dates = [d for d in (product.get("date_created_gmt"), product.get("date_modified_gmt")) if isinstance(d, str) and d]
    if connected is None or not dates:
        return False
    return min(dates) >= connected.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def entry_lock(services: Services, integration_id: str, product_id: int) -> asyncio.Lock:
    """One maker at a time of a store product's catalogue entry in this process: the import and a webhook's job
    for the same product would otherwise both embed its photos for one entry. Across processes the entry's unique
    store key decides (`store_entry`)."""
    return services.memory.store_entries.setdefault((integration_id, int(product_id)), asyncio.Lock())


async def store_entry(services: Services, account_id: str, integration_id: str, product_id: int, fields: dict,
                      photos: list[Photo], made: Made | None = None) -> dict | None:
    """The store product's catalogue entry made of these fields and photos (`made`: their embeddings, made already),
    or its existing entry given them (the fields, then the photos, replaced); None when that entry was deleted
    meanwhile. One entry per store product, however many worker processes make it: its store key is unique
    (api/data/products.py), so when another process made the entry since the lookup, that one is given them."""
    db = services.db
    existing = await integrations.catalogue_product(db, account_id, integration_id, product_id)
    if existing is None:
        try:
            return await catalogue.create_product(db, services.images, services.catalogues, services.models,
                                                  account_id, fields, photos, made)
        except StoreEntryTaken:
            existing = await integrations.catalogue_product(db, account_id, integration_id, product_id)
            if existing is None:  # made and deleted meanwhile: the job is tried again
                raise
    await products.update(db, account_id, existing["_id"], _without_photos(fields))
    return await catalogue.replace_images(db, services.images, services.catalogues, services.models, account_id,
                                          existing, photos, made)


async def one_entry_per_store_product(services: Services) -> int:
    """How many catalogue entries of store products made twice were deleted (with their photos and their places in
    the similar-item index; each product's newest kept), after which the entries' store key is made unique; 0 when
    it is already. Entries were made twice by two worker processes racing, before the key was unique."""
    if await products.unique_store_keys(services.db):
        return 0
    deleted = 0
    for account_id, product_id in await products.store_duplicates(services.db):
        deleted += await catalogue.delete_product(services.db, services.images, services.catalogues, account_id,
                                                  product_id) is not None
    await products.unique_store_keys(services.db)
    return deleted


async def import_product(services: Services, integration: dict, product: dict, written: dict | None = None,
                         record: bool = True) -> dict | None:
    """The store product in the shop's catalogue (created, or its entry brought up to date); None without photos,
    and for a product not on show (a draft, private or hidden: `not_on_show`), which has no entry until it is.
    `written`: the service's own record of its last write to the product (its terms are not the merchant's);
    `record`: a product the merchant categorised is recorded as imported (not when the service annotated it), on show
    or not, so that no webhook annotates it later unless its photos change."""
    if not product.get("images"):
        return None
    if not_on_show(product):
        if record:
            await _record_categorised(services, integration, product, written)
        return None
    async with entry_lock(services, integration["_id"], product["id"]):
        return await _import_product(services, integration, product, written, record)


async def _record_categorised(services: Services, integration: dict, product: dict, written: dict | None) -> None:
    """A product the merchant already categorised, recorded as imported: the service writes nothing to it."""
    if merchant_terms(product, integration["_id"], written)[0]:
        await integrations.record_write(services.db, integration["_id"], int(product["id"]),
                                        {"images": images_fingerprint(product), "imported": True}, "imported")


async def _import_product(services: Services, integration: dict, product: dict, written: dict | None,
                          record: bool) -> dict | None:
    db, account_id = services.db, integration["account"]
    fields = store_fields(integration["_id"], product, written)
    existing = await integrations.catalogue_product(db, account_id, integration["_id"], int(product["id"]))
    if existing is not None and existing.get("store_images") == fields["store_images"]:
        return await products.update(db, account_id, existing["_id"], _without_photos(fields))
    photos, _ = await store_photos(services, product)
    stored = await store_entry(services, account_id, integration["_id"], int(product["id"]), fields, photos)
    if record:
        await _record_categorised(services, integration, product, written)
    return stored


async def store_photos(services: Services, product: dict, first: bytes | None = None,
                       strict: bool = True) -> tuple[list[Photo], list[str]]:
    """The store product's photos (at most MAX_PHOTOS, the main one first, each address once: a store may list one
    upload several times), fetched and checked, and what was left out. `first`: the main photo's bytes, fetched
    already. `strict`: a photo that cannot be fetched or read fails the whole (an import stores a product whole or
    not); else it is left out, and said why in the second list."""
    photos: list[Photo] = []
    left_out: list[str] = []
    max_bytes = services.settings.max_upload_bytes
    distinct: dict[str, dict] = {}
    for image in product.get("images", []):
        distinct.setdefault(image["src"], image)  # the store data's photos have a `src` (api/integrations/store_data.py)
    for position, image in enumerate(list(distinct.values())[:MAX_PHOTOS]):
        try:
            data = first if position == 0 and first is not None else (await fetch_store_photo(services, image))[0]
            photos.append(await check(data, None, max_bytes))
        except DomainError as error:
            if strict or position == 0:
                raise
            left_out.append(f"photo {position + 1}: {error.message}")
    return photos, left_out


async def usable_photo(services: Services, product: dict) -> tuple[bytes, str, dict]:
    """The bytes, address and entry of the product's first photo that can be fetched and read, the main one first:
    a product whose main photo is gone (a 404) or is no image is annotated from its next one. The main photo's
    failure is raised when none can be used (retried as it says)."""
    first: DomainError | None = None
    distinct = {image["src"]: image for image in product["images"]}
    for image in list(distinct.values())[:MAX_PHOTOS]:
        try:
            data, source = await fetch_store_photo(services, image)
            await check(data, None, services.settings.max_upload_bytes)
            return data, source, image
        except DomainError as error:
            first = first or error
    assert first is not None  # the product has a photo (the caller's check)
    raise first


async def fetch_store_photo(services: Services, image: dict) -> tuple[bytes, str]:
    """A store photo's bytes and the address they came from: the size of it fit for the work (`photo_url`), else,
    when that size cannot be had (deleted by a plugin that regenerates sizes, or left behind by one that moved the
    uploads), the upload itself."""
    max_bytes = services.settings.max_upload_bytes
    source = photo_url(image)
    try:
        return (await services.http.get(source, max_bytes=max_bytes)).body, source
    except FetchError as error:
        if source == image["src"]:
            raise error.about(f"photo {source} could not be fetched") from None
    try:
        return (await services.http.get(image["src"], max_bytes=max_bytes)).body, image["src"]
    except FetchError as error:
        raise error.about(f"photo {image['src']} could not be fetched (nor its size {source})") from None


def _without_photos(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if k not in ("sku", "source", "store_key")}
