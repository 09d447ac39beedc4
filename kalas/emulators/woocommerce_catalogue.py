"""The WooCommerce store's data, as its REST API v3 shows it: products, categories, tags, webhooks.

Plain in-memory state behind one lock; `kalas/emulators/woocommerce.py` puts HTTP in front of it. Field names and
shapes follow the documented v3 resources (woocommerce.github.io/woocommerce-rest-api-docs), only the subset the
integration reads and writes.
"""
from __future__ import annotations

import copy
import datetime as dt
import html
import itertools
import re
import threading
from dataclasses import dataclass, field


class StoreError(Exception):
    """An error the REST API answers as `{"code", "message", "data": {"status"}}`."""

    def __init__(self, status: int, code: str, message: str, **data: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def wc_date(moment: dt.datetime) -> str:
    """WooCommerce's date format: ISO 8601 to the second, no zone (the `_gmt` twin is UTC; this site runs on UTC)."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", html.unescape(name).lower()).strip("-")


def stored_term_name(name: str) -> str:
    """A term's name as WordPress keeps and answers it: `pre_term_name` runs `_wp_specialchars`, so "&", "<" and ">"
    come back as entities ("Tops &amp; Tees"; an entity already written stays as it is), in every listing and in
    each product's `categories` and `tags` (woocommerce/woocommerce#16250, #40029)."""
    return re.sub(r"&(?!#?\w+;)", "&amp;", name.strip()).replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Webhook:
    id: int
    topic: str
    delivery_url: str
    secret: str
    status: str = "active"
    failure_count: int = 0

    def view(self) -> dict:
        return {"id": self.id, "topic": self.topic, "delivery_url": self.delivery_url, "status": self.status,
                "resource": self.topic.split(".")[0], "event": self.topic.split(".")[1]}


@dataclass
class Catalogue:
    products: dict[int, dict] = field(default_factory=dict)
    terms: dict[str, dict[int, dict]] = field(default_factory=lambda: {"categories": {}, "tags": {}})
    webhooks: dict[int, Webhook] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # A store whose plugin drops custom fields on save: `meta_data` written through the API is not kept.
    strips_meta_data: bool = False
    # A plugin filtering product terms: a write's categories and tags are not kept (answered 200 all the same).
    drops_terms: bool = False
    # The category WooCommerce creates at install ("Uncategorized" in the site's language) and gives every product
    # saved without one (WC_Product_Data_Store_CPT::update_terms, option `default_product_cat`); None: no default.
    default_category: str | None = "Uncategorized"
    # WPML with WooCommerce Multilingual: the site's languages, its default first (none: a one-language store). Each
    # product then has a language and belongs to a translation group (WPML's `trid`, here the original's id).
    languages: tuple[str, ...] = ()
    # Polylang for WooCommerce instead: the same `lang` and `translations`, but listings hold every language unless
    # `lang` names one (Polylang Pro's REST `lang` parameter: "By default, results are not filtered by language").
    lists_every_language: bool = False
    # The site's address: a product's `permalink` is its page there (pretty permalinks, WooCommerce's "product"
    # base: /product/<slug>/), a product not on show yet its plain link (?post_type=product&p=<id>), as
    # get_permalink() answers them.
    site_url: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(10))
    _default_id: int | None = None
    _language: dict[int, tuple[str, int]] = field(default_factory=dict)
    _term_language: dict[int, str] = field(default_factory=dict)  # in a multilingual store, each term's language

    def __post_init__(self) -> None:
        if self.default_category:
            self._default_id = self.create_term("categories", self.default_category)["id"]

    def next_id(self) -> int:
        return next(self._ids)

    # Terms (product categories and product tags share one shape; categories form a tree by `parent`).
    def visible(self, item_lang: str | None, lang: str | None) -> bool:
        """Whether a product or term in `item_lang` is listed to a request that names `lang` (or none): in a
        multilingual store WPML lists the request's language (`lang` where it is one of the site's, else the
        default), Polylang every language unless `lang` names one; `lang=all` lists every one."""
        if not self.languages or lang == "all" or (lang is None and self.lists_every_language):
            return True
        return (item_lang or self.languages[0]) == (lang if lang in self.languages else self.languages[0])

    def create_term(self, kind: str, name: str, parent: int = 0, lang: str | None = None) -> dict:
        """A term; in a multilingual store, in `lang` (a request's language; the default when none), and two
        languages may each have a term of the same name."""
        with self.lock:
            if not name or not name.strip():
                raise StoreError(400, "rest_missing_callback_param", "Missing parameter(s): name", params=["name"])
            if self.languages and lang not in self.languages:
                lang = self.languages[0]
            existing = self._named(kind, name, parent, lang)
            if existing is not None:
                # WordPress refuses a second term with the same name under the same parent and says which one exists.
                raise StoreError(400, "term_exists", "A term with the name provided already exists with this parent.",
                                 resource_id=existing["id"])
            slugs, slug = {t["slug"] for t in self.terms[kind].values()}, slugify(name)
            slug = next(f"{slug}-{n}" for n in itertools.count(2) if f"{slug}-{n}" not in slugs) if slug in slugs else slug
            term = {"id": self.next_id(), "name": stored_term_name(name), "slug": slug, "parent": parent, "count": 0}
            self.terms[kind][term["id"]] = term
            if lang is not None:
                self._term_language[term["id"]] = lang
            return dict(term)

    def _named(self, kind: str, name: str, parent: int, lang: str | None = None) -> dict | None:
        wanted = stored_term_name(name).lower()
        in_language = lang or next(iter(self.languages), None)  # a name is taken once per language
        return next((t for t in self.terms[kind].values() if t["name"].lower() == wanted and t["parent"] == parent
                     and self.visible(self._term_language.get(t["id"]), in_language)), None)

    def find_term(self, kind: str, name: str) -> dict | None:
        """The term named `name` as WordPress's `term_exists` finds it (the name as it would be stored, any case); a
        category by its path from the root ("Herren > Hemden")."""
        with self.lock:
            term: dict | None = None
            for part in name.split(" > ") if kind == "categories" else [name]:
                term = self._named(kind, part, term["id"] if term else 0)
                if term is None:
                    return None
            return term

    def term_or_create(self, kind: str, name: str) -> dict:
        """The term, made if missing; a category's path ("Herren > Hemden") makes each category along it."""
        with self.lock:
            term: dict | None = None
            for part in name.split(" > ") if kind == "categories" else [name]:
                parent = term["id"] if term else 0
                term = self._named(kind, part, parent) or self.create_term(kind, part, parent)
            return term

    def search_terms(self, kind: str, search: str | None, lang: str | None = None) -> list[dict]:
        with self.lock:
            terms = sorted((t for t in self.terms[kind].values() if self.visible(self._term_language.get(t["id"]), lang)),
                           key=lambda t: t["name"].lower())
            if search:  # SQL's `name LIKE '%search%'` over the names as stored: "Tops & Tees" does not find "Tops &amp; Tees"
                terms = [t for t in terms if search.lower() in t["name"].lower()]
            return [dict(t) for t in terms]

    def _term_refs(self, kind: str, refs: list[dict]) -> list[dict]:
        # The REST API assigns terms by id only (save_taxonomy_terms plucks 'id'); entries without one are ignored,
        # and an id that is no term (deleted meanwhile) is skipped without a word, as wp_set_object_terms does: the
        # answer (200) lacks it.
        out = []
        for ref in refs:
            term = self.terms[kind].get(int(ref["id"])) if "id" in ref else None
            if term is not None:
                out.append({"id": term["id"], "name": term["name"], "slug": term["slug"]})
        return out

    # Products.
    def create_product(self, fields: dict, images: list[dict], lang: str | None = None,
                       translation_of: int | None = None) -> dict:
        with self.lock:
            now = wc_date(dt.datetime.now(dt.timezone.utc))
            product = {"id": self.next_id(), "name": fields.get("name", "Product"), "slug": slugify(fields.get("name", "")),
                       "status": fields.get("status", "publish"), "catalog_visibility": "visible", "type": "simple",
                       "parent_id": 0,
                       "date_created": now, "date_created_gmt": now, "date_modified": now, "date_modified_gmt": now,
                       "images": images, "categories": [], "tags": [], "meta_data": []}
            if fields.get("date_created_gmt"):  # with status "future": when WordPress's cron publishes it
                product["date_created"] = product["date_created_gmt"] = str(fields["date_created_gmt"])[:19]
            self._apply(product, fields)
            self.products[product["id"]] = product
            if self.languages:
                self._language[product["id"]] = (lang or self.languages[0], translation_of or product["id"])
            return self.view(product["id"])

    def translate_product(self, product_id: int, lang: str, name: str) -> dict:
        """A translation made in WPML's translation editor: a product of its own in `lang`, in the original's group,
        with its photos (WPML Media keeps the same files) and its categories and tags (WooCommerce Multilingual
        synchronises them; the real one assigns each term's translation, here the same terms)."""
        with self.lock:
            original = self.view(product_id)
            refs = {kind: [{"id": t["id"]} for t in original[kind]] for kind in ("categories", "tags")}
            # A product made before WPML was set up is in the default language (WPML's set-up assigns it).
            group = self._language.setdefault(product_id, (self.languages[0], product_id))[1]
            return self.create_product({"name": name, **refs}, copy.deepcopy(original["images"]), lang, group)

    def synchronise_translations(self, product_id: int) -> list[dict]:
        """WooCommerce Multilingual's "synchronise taxonomies" after an original is saved: its categories and tags
        copied to each of its translations, which are returned (each changed)."""
        with self.lock:
            group = self._language.get(product_id, (None, None))[1]
            if group != product_id:  # not an original
                return []
            original = self.get_product(product_id)
            synced = []
            for other, (_, other_group) in self._language.items():
                if other_group == group and other != product_id and other in self.products:
                    synced.append(self.update_product(other, {kind: [{"id": t["id"]} for t in original[kind]]
                                                              for kind in ("categories", "tags")}))
            return synced

    def update_product(self, product_id: int, fields: dict) -> dict:
        with self.lock:
            product = self.get_product(product_id)
            self._apply(product, fields)
            product["date_modified"] = product["date_modified_gmt"] = wc_date(dt.datetime.now(dt.timezone.utc))
            return self.view(product_id)

    def _apply(self, product: dict, fields: dict) -> None:
        for key in ("name", "status", "catalog_visibility", "description", "type", "parent_id"):
            if key in fields:
                product[key] = fields[key]
        for kind in ("categories", "tags"):
            if kind in fields and not (self.drops_terms and kind in product):
                product[kind] = self._term_refs(kind, fields[kind])
        if not product["categories"] and product["type"] != "variation" and self._default_id in self.terms["categories"]:
            product["categories"] = self._term_refs("categories", [{"id": self._default_id}])
        for meta in [] if self.strips_meta_data else fields.get("meta_data", []):
            current = next((m for m in product["meta_data"] if m["key"] == meta["key"]), None)
            if current is None:
                product["meta_data"].append({"id": self.next_id(), "key": meta["key"], "value": meta["value"]})
            else:
                current["value"] = meta["value"]

    def trash_product(self, product_id: int) -> dict:
        """wp-admin's "Move to Trash", and the REST API's DELETE without `force`: still there, read by its id, with
        status "trash"; left out of product lists."""
        return self.update_product(product_id, {"status": "trash"})

    def delete_product(self, product_id: int) -> dict:
        """Deleted for good (DELETE with `force=true`, or emptying the trash): its id then answers 404."""
        with self.lock:
            return self.products.pop(self.get_product(product_id)["id"])

    def get_product(self, product_id: int) -> dict:
        product = self.products.get(product_id)
        if product is None:
            raise StoreError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return product

    def view(self, product_id: int) -> dict:
        """The product as the REST API answers it; in a WPML store with its `lang` and the ids of its `translations`
        by language (WooCommerce Multilingual's `append_product_language_and_translations`)."""
        with self.lock:
            return self._view(product_id, self.get_product(product_id))

    def _view(self, key: int, product: dict) -> dict:
        product = copy.deepcopy(product)
        on_show = product["status"] == "publish"
        product["permalink"] = (f"{self.site_url}/product/{product['slug'] or product['id']}/" if on_show
                                else f"{self.site_url}/?post_type=product&p={product['id']}")
        if self.languages:
            lang, group = self._language.get(key, (self.languages[0], key))
            product["lang"] = lang
            product["translations"] = {other_lang: other for other, (other_lang, other_group) in self._language.items()
                                       if other_group == group and other != key and other in self.products}
        return product

    def publish_due(self) -> list[dict]:
        """WordPress's cron publishing the scheduled products whose time has come (`wp_publish_post`): the status
        alone changes, in the database; `date_modified` stays. The products published."""
        with self.lock:
            now = wc_date(dt.datetime.now(dt.timezone.utc))
            due = [key for key, p in self.products.items() if p["status"] == "future" and p["date_created_gmt"] <= now]
            for key in due:
                self.products[key]["status"] = "publish"
            return [self._view(key, self.products[key]) for key in due]

    def list_products(self, modified_after: str | None, order: str, lang: str | None = None,
                      status: str | None = None, include: set[int] | None = None) -> list[dict]:
        with self.lock:
            # The REST API's default `status=any` leaves out what is in the trash, and variations are listed under
            # their parent's /products/<id>/variations.
            listed = sorted(((key, p) for key, p in self.products.items()
                             if (p["status"] == status if status not in (None, "any") else p["status"] != "trash")
                             and p["type"] != "variation" and (include is None or key in include)),
                            key=lambda item: item[1]["id"], reverse=order == "desc")
            if modified_after:
                listed = [(key, p) for key, p in listed if p["date_modified_gmt"] > modified_after[:19]]
            views = [self._view(key, p) for key, p in listed]
            return [view for view in views if self.visible(view.get("lang"), lang)]
