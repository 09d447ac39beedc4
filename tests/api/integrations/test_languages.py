"""A multilingual store (WPML's WooCommerce Multilingual, Polylang for WooCommerce): which products the service
leaves to their version in the store's language, how it learns that language from the store, and the store's terms
in it."""
import asyncio

import pytest

from api.data import integrations
from api.integrations.languages import in_another_language, language_of, store_language
from api.integrations.sync import left_alone, sync_store
from api.integrations.woo_client import WooClient
from tests.api.conftest import on_database


@pytest.mark.parametrize("lang, found", [("de", "de"), (" PT-BR ", "pt-br"), ("", None), (None, None), (7, None)])
def test_a_products_language_is_its_lang_where_a_plugin_gives_one(lang, found):
    assert language_of({"id": 1, "lang": lang}) == found
    assert language_of({"id": 1}) is None


def test_a_product_in_another_language_is_left_to_its_version_in_the_stores():
    translation = {"id": 42, "lang": "de", "translations": {"en": 41, "fr": 43}}
    assert in_another_language(translation, "en") == (
        "a translation (de) of product 41, which is annotated itself: the store copies a product's categories and "
        "tags to its translations")
    # WPML answers a product without translations with PHP's empty array, `[]`; an id that is no store id is none.
    for alone in ({"id": 44, "lang": "de", "translations": []}, {"id": 44, "lang": "de", "translations": {"en": "x"}}):
        assert in_another_language(alone, "en") == (
            "in de, with no en version: the service reads and writes the store's terms in en, the language its "
            "requests get, and annotates the en version once there is one")
    # In the store's language, without a language, or where the store's is not known: the service's own.
    assert in_another_language({"id": 41, "lang": "en", "translations": {"de": 42}}, "en") is None
    assert in_another_language({"id": 41}, "en") is None
    assert in_another_language(translation, None) is None
    # A variation is left to its parent whatever its language.
    variation = {"id": 45, "type": "variation", "parent_id": 41, "lang": "en"}
    assert left_alone(variation, "en") == "a variation of product 41, which is annotated itself"
    assert left_alone(translation, "en").startswith("a translation (de)")


def _languages(mongo_server, mongo_database, store) -> tuple[str | None, str | None, str | None, int]:
    """The store's language as a new integration's first job finds it, as then recorded with the integration, as
    found again from that record, and how many requests that second look took."""
    async def scenario(db):
        integration = await integrations.create(db, "a1b2c3", {"store_url": store.url})
        client = WooClient(store.url, store.consumer_key, store.consumer_secret, timeout=2)
        try:
            first = await store_language(db, integration, client)
            asked = len(store.api_requests)
            kept = (await integrations.by_id(db, integration["_id"])).get("store_language")
            again = await store_language(db, {**integration, "store_language": kept}, client)
            return first, kept, again, len(store.api_requests) - asked
        finally:
            await client.aclose()

    return on_database(mongo_server, mongo_database, scenario)


def test_the_stores_language_is_read_once_from_its_listing_and_kept(mongo_server, mongo_database, woo_store):
    woo_store.catalogue.languages = ("en", "de")
    original = woo_store.create_product("Wool coat")
    woo_store.translate_product(original["id"], "de", "Wollmantel")
    assert _languages(mongo_server, mongo_database, woo_store) == ("en", "en", "en", 0)


@pytest.mark.parametrize("before_3_7, found", [(False, "en"), (True, "de")], ids=["polylang 3.7", "older polylang"])
def test_a_polylang_stores_language_is_its_default_where_polylang_says_it(mongo_server, mongo_database, woo_store,
                                                                          before_3_7, found):
    """The shop's first product was a German one, but the site's default language is English: Polylang 3.7 and
    later say so on their public languages route (asked without the keys, which WordPress would refuse there as an
    application password); an older Polylang has no such route, and the oldest product's language is taken."""
    woo_store.catalogue.languages, woo_store.catalogue.lists_every_language = ("en", "de"), True
    woo_store.polylang_before_3_7 = before_3_7
    woo_store.create_product("Lederjacke", lang="de")
    original = woo_store.create_product("Wool coat")
    woo_store.translate_product(original["id"], "de", "Wollmantel")
    assert _languages(mongo_server, mongo_database, woo_store)[:3] == (found, found, found)


def test_a_store_without_a_multilingual_plugin_has_no_language(mongo_server, mongo_database, woo_store):
    woo_store.create_product("Wool coat")
    assert _languages(mongo_server, mongo_database, woo_store)[:3] == (None, None, None)


def test_a_sync_of_a_store_that_lists_every_language_queues_only_the_stores_own(mongo_server, mongo_database,
                                                                                woo_store):
    """Polylang for WooCommerce lists a store's products in every language: the sync queues the coat, not its German
    translation nor a product that exists in German only."""
    woo_store.catalogue.languages, woo_store.catalogue.lists_every_language = ("en", "de"), True
    original = woo_store.create_product("Wool coat", [b"\xff\xd8 a photo"])
    woo_store.translate_product(original["id"], "de", "Wollmantel")
    woo_store.create_product("Lederjacke", [b"\xff\xd8 another photo"], lang="de")

    async def scenario(db):
        integration = await integrations.create(db, "a1b2c3", {"store_url": woo_store.url, "store_language": "en"})
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2)
        try:
            summary = await sync_store(db, integration, client)
        finally:
            await client.aclose()
        return summary, [job["product_id"] async for job in db.jobs.find({"integration": integration["_id"]})]

    summary, queued = on_database(mongo_server, mongo_database, scenario)
    assert (summary["listed"], summary["queued"]) == (3, 1)
    assert queued == [original["id"]]


@pytest.mark.parametrize("lists_every_language", [True, False], ids=["polylang", "wpml"])
def test_a_client_in_the_stores_language_finds_and_makes_that_languages_terms(woo_store, lists_every_language):
    """A store with a "Sale" category and a "Summer" tag in English and in German (Polylang lists both to a request
    that names no language): the client in English finds the English ones, and a term it makes is English."""
    catalogue = woo_store.catalogue
    catalogue.languages, catalogue.lists_every_language = ("en", "de"), lists_every_language
    english = {kind: catalogue.create_term(kind, name, lang="en")["id"] for kind, name in
               (("categories", "Sale"), ("tags", "Summer"))}
    german = {kind: catalogue.create_term(kind, name, lang="de")["id"] for kind, name in
              (("categories", "Sale"), ("tags", "Summer"))}
    assert english.keys() == german.keys() and not set(english.values()) & set(german.values())

    async def go():
        client = WooClient(woo_store.url, woo_store.consumer_key, woo_store.consumer_secret, timeout=2, language="en")
        try:
            return ({kind: await client.term_id(kind, name) for kind, name in (("categories", "Sale"),
                                                                                ("tags", "Summer"))},
                    await client.term_id("categories", "Neu"), await client.existing_term_id("tags", "Winter"))
        finally:
            await client.aclose()

    found, made, absent = asyncio.run(go())
    assert found == english and absent is None
    assert catalogue._term_language[made] == "en"
    assert {t["id"] for t in catalogue.search_terms("categories", "Neu", "de")} == set()
