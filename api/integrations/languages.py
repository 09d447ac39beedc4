"""Multilingual stores: a product and its translations, annotated once.

WPML's WooCommerce Multilingual keeps each translation of a product as a product of its own, with its own id and
its own categories and tags (the same terms, translated: each a term of its own too). Its REST API support
(woocommerce-multilingual, classes/rest-api-support) adds to every product `lang`, the product's language, and
`translations`, the ids of its translations by language, and lists products and terms in the language of the
request: the site's default language, or the language of the address the store was connected at (a domain per
language); `lang=xx` lists another, `lang=all` every one. Creating a translation fires `product.created` like any
product. Polylang for WooCommerce gives products the same two fields (polylang-wc, `PLLWC_REST_Product`) but lists
every language unless a request names one: the service works in the site's default language, which Polylang
(3.7 and later) lists on a public route, the import and the sync leave the other languages' products out
themselves, and the store's client asks for terms with `lang` (WooClient's `language`).

The service works in the language its requests see: it lists the store's products and terms, imports, learns,
annotates and writes terms in it, and WPML copies a product's categories and tags to its translations (its
"synchronise taxonomies" setting, on by default). So a product in another language is left alone, as a variation
is: its version in the service's language is the one annotated. Annotating it as well would write terms of the
wrong language onto it, put the same photo twice into the shop's similar-item search and run the model for nothing.
"""
from __future__ import annotations

from api.data import integrations
from api.integrations.store_data import product_id
from api.integrations.woo_client import WooClient

LANGUAGES_ROUTE = "/pll/v1/languages"  # Polylang's: each language's `slug`, and `is_default`


def language_of(product: dict) -> str | None:
    """The store product's language code ("de", "pt-br"), where a multilingual plugin gives it."""
    lang = product.get("lang")
    return lang.strip().lower() if isinstance(lang, str) and lang.strip() else None


def in_another_language(product: dict, language: str | None) -> str | None:
    """Why the product is left to its version in `language` (the store's, as the service's requests see it), or
    None when it is in that language, carries none, or the store's language is not known."""
    lang = language_of(product)
    if lang is None or language is None or lang == language:
        return None
    translations = product.get("translations")
    original = product_id(translations.get(language)) if isinstance(translations, dict) else None
    if original is not None:
        return (f"a translation ({lang}) of product {original}, which is annotated itself: the store copies a "
                f"product's categories and tags to its translations")
    return (f"in {lang}, with no {language} version: the service reads and writes the store's terms in {language}, "
            f"the language its requests get, and annotates the {language} version once there is one")


async def listed_language(store: WooClient, products: list[dict]) -> str | None:
    """The language the service works in with a store whose listed `products` (the first page, oldest first) carry
    a multilingual plugin's `lang`: the site's default where Polylang says it (`GET /wp-json/pll/v1/languages`,
    public since Polylang 3.7: Polylang lists every language, and its oldest product may be a translation or a test
    in another one), else the first product's (with WPML, the request's language). None for a store whose products
    carry no language: no request is made for it."""
    listed = next((lang for lang in map(language_of, products) if lang is not None), None)
    if listed is None:
        return None
    languages = await store.public_json(LANGUAGES_ROUTE)
    default = next((language for language in languages if isinstance(language, dict)
                    and language.get("is_default") is True), None) if isinstance(languages, list) else None
    return (language_of({"lang": default.get("slug")}) if default else None) or listed


async def store_language(db, integration: dict, store: WooClient) -> str | None:
    """The language the service's requests to the store get: as recorded (at the connect or by an earlier job),
    else found from the first product the store lists (`listed_language`), and recorded. None for a store without
    a multilingual plugin."""
    if integration.get("store_language"):
        return integration["store_language"]
    language = await listed_language(store, (await store.products_page(1, 1)).items)
    if language is not None:
        await integrations.set_store_language(db, integration["_id"], language)
        store.language = language  # its terms from now on: the tree and names it holds are read again
        store.forget_terms()
    return language
