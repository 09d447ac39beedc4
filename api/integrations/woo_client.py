"""A WooCommerce REST API v3 client: the few calls the integration makes, with the store's ck_/cs_ keys.

The keys travel as the store takes them (api/integrations/store_auth.py); what the store answers is read as the
service keeps it (api/integrations/store_data.py). Failures become `StoreError` (api/integrations/store_errors.py),
which says whether trying again can help (5xx, 429, time-outs, connection errors) and how long the store asked us to
wait (`Retry-After`); a redirect becomes `StoreMoved`, never followed with the keys.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from cachetools import LRUCache

from api.core.limits import whole_number
from api.integrations.store_auth import ALL_WAYS, OAUTH, QUERY_AUTH, oauth_query, ways_for
from api.integrations.store_data import (MAX_ID, NOT_JSON, answer_json, answer_reason, category_paths, error_data,
                                         named_by_path, no_rest_api, plain_name, product_id, retry_after_seconds,
                                         store_product, stored_name, term_name)
from api.integrations.store_errors import StoreError, StoreMoved
from api.intake.fetch import FetchError, read_limited

API_ROUTE = "/wc/v3"
API_PATH = "/wp-json" + API_ROUTE
PAGE_SIZE = 100
# A listing is read no further than this many items: the largest WooCommerce shops hold a few hundred thousand
# products, and a broken store (or a plugin that answers every page with other items) must not hold a job for ever.
MAX_LISTED = 2_000_000
REST_LINK = "https://api.w.org/"  # the relation of the Link header that names a WordPress site's REST API
# A store's categories form a tree ("Herren > Hemden" beside "Damen > Hemden"): the service names each by its path
# from the root (store_data.category_paths), read from the store's category listing, kept this long and read again
# for a category it lacks.
TREE_TTL_S = 600.0
# An answer is read whole within DEADLINE_FACTOR × the client's timeout (which bounds each connect and read, not a
# body that drips for ever) and up to MAX_ANSWER_BYTES (a page of 100 products with long descriptions is a few MiB):
# the store is a peer a shop named, and a broken or hostile one must not hold a worker or its memory.
DEADLINE_FACTOR = 4
MAX_ANSWER_BYTES = 32 * 2**20

# What a store's host needs, learned from its answers and kept per store for the process (WooCommerce's REST API
# documentation names them): how it takes the keys (api/integrations/store_auth.py: BASIC, QUERY_AUTH or OAUTH);
# METHOD_OVERRIDE: a firewall (ModSecurity) answers PUT and DELETE "501 Method Not Implemented", and WordPress reads
# a POST with `?_method=PUT` as the PUT; REST_ROUTE: a site with Plain permalinks (or a server that does not rewrite
# URLs) has no /wp-json/ path, and its REST API answers at `index.php?rest_route=/wc/v3/…` (WordPress's own
# `rest_url()` there).
METHOD_OVERRIDE, REST_ROUTE = "method override", "rest route"
_HOST_NEEDS: LRUCache[str, frozenset[str]] = LRUCache(maxsize=10_000)


def _product(item: object) -> dict:
    """A product as the store sent it, its id checked: a store (or what stands in front of it) that sends another
    shape is a StoreError that says so, not a crash further on."""
    found = item.get("id") if isinstance(item, dict) else item
    if not isinstance(item, dict) or product_id(found) is None:
        raise StoreError(f"the store sent a product without a usable id ({json.dumps(found, default=str)[:40]}): a "
                         f"WooCommerce product id is a whole number from 1 to {MAX_ID}", 200)
    return store_product(item, product_id(found))


@dataclass(frozen=True)
class StorePage:
    """A page of a listing: its items; the pages and items in all when the store said (`X-WP-TotalPages`,
    `X-WP-Total`); whether another page follows."""
    items: list
    pages: int | None
    total: int | None
    more: bool
    # Its REST API's address as the store names it (WordPress's Link header, rel "https://api.w.org/", on every
    # answer): its own home page, however the request reached it (`moved_home` in api/integrations/store.py).
    api_root: str | None = None

    def repeats(self, previous: StorePage | None) -> bool:
        """True when this page holds what the page before did: a store (or a cache in front of it) that ignores
        `page` answers the first page again, and the listing ends instead of looping."""
        return previous is not None and bool(self.items) and self.items == previous.items


def _count(header: str | None) -> int | None:
    return whole_number(header)


class WooClient:
    def __init__(self, store_url: str, consumer_key: str, consumer_secret: str, *, timeout: float = 15.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 on_tree: Callable[[dict[int, str]], Awaitable[None]] | None = None,
                 keys_in_clear: bool = True, language: str | None = None) -> None:
        """`on_tree`: told the categories' paths each time the tree is read (the worker keeps them with the
        integration, where the webhook route names a delivery's categories by them). `keys_in_clear`: whether the
        keys themselves may go over plain HTTP (store_auth.ways_for). `language`: a multilingual store's
        (api/integrations/languages.py), whose terms alone the client reads and makes."""
        self.store_url = store_url.rstrip("/")
        self._keys = {"consumer_key": consumer_key, "consumer_secret": consumer_secret}
        self._deadline_s = DEADLINE_FACTOR * timeout
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport,
                                       headers={"User-Agent": "Kalas-Iris WooCommerce integration"})
        self.ways = ways_for(self.store_url, keys_in_clear)
        # Term ids by (kind, lower-case name; a category's name is its path): a shop's vocabulary is small and
        # stable, and looking each name up again for every product would be most of the requests a job makes.
        self._terms: dict[tuple[str, str], int] = {}
        self._paths: dict[int, str] = {}  # the store's categories' paths, read at `_paths_read` (monotonic)
        self._paths_read = -TREE_TTL_S
        self._absent: set[int] = set()  # ids products name that the last read of the tree did not hold
        self._on_tree = on_tree
        self.language = language

    def forget_terms(self) -> None:
        self._terms.clear()
        self._paths_read = -TREE_TTL_S

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def host_needs(self) -> frozenset[str]:
        """What this store's host was found to need: how it takes the keys (once it took them), METHOD_OVERRIDE and
        REST_ROUTE."""
        return _HOST_NEEDS.get(self.store_url, frozenset())

    async def _send(self, method: str, path: str, needs: frozenset[str], params: dict | None = None,
                    **kwargs) -> httpx.Response:
        params, auth = dict(params or {}), None
        if METHOD_OVERRIDE in needs and method in ("PUT", "DELETE"):
            method, params["_method"] = "POST", method
        address = self.store_url + API_PATH + path
        if REST_ROUTE in needs:
            address, params["rest_route"] = self.store_url + "/index.php", API_ROUTE + path
        way = self._way(needs)
        if way == QUERY_AUTH:
            params |= self._keys
        elif way == OAUTH:
            params |= oauth_query(self._keys["consumer_key"], self._keys["consumer_secret"], method, address, params)
        else:
            auth = (self._keys["consumer_key"], self._keys["consumer_secret"])
        return await self._whole(self._http.build_request(method, address, params=params or None, **kwargs), auth)

    async def _whole(self, request: httpx.Request, auth: tuple[str, str] | None = None) -> httpx.Response:
        """The store's answer to `request`, read whole within the deadline and MAX_ANSWER_BYTES."""
        try:
            async with asyncio.timeout(self._deadline_s):
                response = await self._http.send(request, auth=auth, stream=True)
                try:
                    body = await read_limited(response, MAX_ANSWER_BYTES, "the store's answer")
                finally:
                    await response.aclose()
        except TimeoutError:
            raise httpx.ReadTimeout(f"no whole answer within {self._deadline_s:g} s", request=request) from None
        # The body read is decoded already: the answer is kept without the headers that described its encoding. Kept
        # as the bytes sent: a header with other than ASCII in it (an IDN site's `Link`) is no error.
        headers = [(name, value) for name, value in response.headers.raw
                   if name.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    async def public_json(self, route: str) -> object | None:
        """The JSON a public route of the site's REST API answers (`/pll/v1/languages`); None for any failure. Asked
        without the keys: WordPress takes Basic credentials on a route that is not WooCommerce's for an application
        password, and refuses them there."""
        plain = REST_ROUTE in self.host_needs  # at index.php?rest_route= (`_send`)
        address = self.store_url + ("/index.php" if plain else "/wp-json" + route)
        try:
            response = await self._whole(self._http.build_request("GET", address,
                                                                  params={"rest_route": route} if plain else None))
        except (httpx.HTTPError, FetchError):
            return None
        body = answer_json(response) if response.status_code == 200 else NOT_JSON
        return None if body is NOT_JSON else body

    async def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        needs = self.host_needs
        try:
            response = await self._send(method, path, needs, **kwargs)
            if REST_ROUTE not in needs and no_rest_api(response):  # the site's own "page not found"
                retried = await self._send(method, path, needs | {REST_ROUTE}, **kwargs)
                if not no_rest_api(retried):
                    response, needs = retried, needs | {REST_ROUTE}
                    _HOST_NEEDS[self.store_url] = needs
            if response.status_code in (405, 501) and method in ("PUT", "DELETE") and METHOD_OVERRIDE not in needs:
                retried = await self._send(method, path, needs | {METHOD_OVERRIDE}, **kwargs)
                if retried.status_code != response.status_code:  # refused another way, or answered: not the method
                    response, needs = retried, needs | {METHOD_OVERRIDE}
                    _HOST_NEEDS[self.store_url] = needs
            response = await self._keys_taken(response, method, path, needs, **kwargs)
        except httpx.TimeoutException as error:
            why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise StoreError(f"{method} {path}: the store did not answer in time ({why})") from error
        except httpx.TransportError as error:
            raise StoreError(f"{method} {path}: the store cannot be reached ({type(error).__name__}: {error})") from error
        except FetchError as error:  # a checked transport refused the store's address (api/integrations/store.py)
            raise StoreError(f"{method} {path}: {error.message}", retryable=error.retryable) from None
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location")
            target = str(response.request.url.join(location)) if location else None
            raise StoreMoved(f"{method} {path}: the store answered {response.status_code}, "
                             f"{f'moved to {target}' if target else 'a redirect that names no address'}",
                             response.status_code, target)
        if response.status_code >= 400:
            body = answer_json(response)  # read once for the message and the REST error's data
            raise StoreError(f"{method} {path}: the store answered {response.status_code}: "
                             f"{answer_reason(response, body)}",
                             response.status_code, retry_after_seconds(response.headers.get("Retry-After")),
                             error_data(response, body))
        return response

    def _way(self, needs: frozenset[str]) -> str:
        """How the keys go: the way kept for the store, else the first for its address."""
        return next((way for way in self.ways if way in needs), self.ways[0])

    async def _keys_taken(self, response: httpx.Response, method: str, path: str, needs: frozenset[str],
                          **kwargs) -> httpx.Response:
        """The answer once the store took the keys, and the way it took them kept for the store. A 401 to the way
        tried (the first for the address's scheme, or the one kept, which stops working when a proxy in front starts
        telling WordPress it is HTTPS) sends the request the other ways once each; the first 401 is the answer when
        none is taken (wrong or revoked keys, or a Read-only key's write: two more requests)."""
        known = needs & frozenset(self.ways)
        tried = self._way(needs)
        if response.status_code == 401:
            for way in (way for way in self.ways if way != tried):
                retried = await self._send(method, path, needs - known | {way}, **kwargs)
                if retried.status_code != 401:
                    response, tried, known = retried, way, frozenset()
                    break
        if not known and response.status_code < 400:
            _HOST_NEEDS[self.store_url] = needs - ALL_WAYS | {tried}
        return response

    async def _json(self, method: str, path: str, **kwargs) -> tuple[httpx.Response, object]:
        """The answer and its JSON body. A 2xx that is not JSON (a security plugin's challenge page, a site whose REST
        API is switched off and answers its home page) is a StoreError that says so, not a crash."""
        response = await self._call(method, path, **kwargs)
        if (body := answer_json(response)) is NOT_JSON:  # JSON after PHP's displayed notices is read (`answer_json`)
            raise StoreError(f"{method} {path}: the store answered {response.status_code} with {answer_reason(response)}; "
                             f"is {self.store_url} a WooCommerce store with its REST API on?",
                             response.status_code)
        return response, body

    async def get_product(self, product_id: int) -> dict | None:
        try:
            return await self._named(_product((await self._json("GET", f"/products/{product_id}"))[1]))
        except StoreError as error:
            if error.status == 404:
                return None
            raise

    async def update_product(self, product_id: int, changes: dict) -> dict:
        return await self._named(_product((await self._json("PUT", f"/products/{product_id}", json=changes))[1]))

    async def category_paths(self, refresh: bool = False) -> dict[int, str]:
        """The paths of the store's categories by id (`category_paths`), read from the store when older than
        TREE_TTL_S or when `refresh`; each path's id is remembered as the category's term id."""
        if refresh or time.monotonic() - self._paths_read > TREE_TTL_S:
            self._paths = category_paths(await self._listing("/products/categories", self._in_language()))
            self._paths_read, self._absent = time.monotonic(), set()
            self._terms = {key: term_id for key, term_id in self._terms.items()  # a category deleted since: forgotten
                           if key[0] != "categories" or term_id in self._paths}
            self._terms.update({("categories", path.lower()): term_id for term_id, path in self._paths.items()})
            if self._on_tree is not None:
                await self._on_tree(self._paths)
        return self._paths

    async def _named(self, product: dict) -> dict:
        """The product with each category named by its path in the store's tree: the tree is read again when it
        lacks one of them (a category made since), once for an id that the listing does not hold at all."""
        ids = {product_id(c.get("id")) for c in product.get("categories", [])} - {None}
        if not ids:
            return product
        paths = await self.category_paths()
        if unknown := ids - paths.keys() - self._absent:
            paths = await self.category_paths(refresh=True)
            self._absent |= unknown - paths.keys()
        return named_by_path(product, paths)

    async def products_modified_after(self, modified_after: str | None) -> AsyncIterator[dict]:
        """Every product modified after the ISO 8601 UTC time (all products when None), page by page."""
        async for product in self.products(
                {"modified_after": modified_after, "dates_are_gmt": "true"} if modified_after else {}):
            yield product

    async def products(self, params: dict[str, object]) -> AsyncIterator[dict]:
        """Every product the listing's `params` select (`status`, `include`, …), oldest first, page by page."""
        page, previous = 1, None
        while True:
            found = await self.products_page(page, params=params)
            if found.repeats(previous):
                return
            for product in found.items:
                yield product
            if not found.more:
                return
            page, previous = page + 1, found

    async def products_page(self, page: int, per_page: int = PAGE_SIZE, params: dict | None = None,
                            named: bool = True) -> StorePage:
        """Page `page` of the store's products, oldest first; `named`: their categories named by path (a read of the tree)."""
        listed = await self._page("/products", page, per_page, {"orderby": "id", "order": "asc", **(params or {})})
        items = [_product(item) for item in listed.items]
        return StorePage([await self._named(item) for item in items] if named else items, listed.pages, listed.total,
                         listed.more, listed.api_root)

    async def webhooks(self) -> list[dict]:
        return await self._listing("/webhooks")

    def _in_language(self) -> dict[str, str]:
        """The parameter that asks a multilingual store for its language's terms alone: Polylang lists and makes
        terms of every language unless a request names one; WPML, the request's language (its default when none)."""
        return {"lang": self.language} if self.language else {}

    async def _listing(self, path: str, params: dict | None = None) -> list:
        """Every item of a listing, page by page."""
        found: list = []
        page, previous = 1, None
        while True:
            listed = await self._page(path, page, PAGE_SIZE, params)
            if listed.repeats(previous):
                return found
            found += listed.items
            if not listed.more:
                return found
            page, previous = page + 1, listed

    async def _page(self, path: str, page: int, per_page: int, params: dict | None = None) -> StorePage:
        """One page of a listing. Whether another follows is WordPress's `X-WP-TotalPages`; where a proxy or a
        cache dropped WordPress's headers, pages follow while they come back full."""
        if (page - 1) * per_page >= MAX_LISTED:
            raise StoreError(f"GET {path}: the store is still listing past {MAX_LISTED:,} items (page {page:,}); a "
                             f"listing that does not end is stopped here", retryable=False)
        response, items = await self._json("GET", path, params={**(params or {}), "per_page": per_page, "page": page})
        if not isinstance(items, list):
            raise StoreError(f"GET {path}: the store answered a {type(items).__name__} where a list was expected",
                             response.status_code)
        pages, total = (_count(response.headers.get(name)) for name in ("X-WP-TotalPages", "X-WP-Total"))
        return StorePage(items, pages, total, page < pages if pages is not None else len(items) >= per_page,
                         response.links.get(REST_LINK, {}).get("url"))

    async def create_webhook(self, fields: dict) -> dict:
        """The store pings the delivery URL when it creates the webhook (and keeps it whatever the ping's answer)."""
        return (await self._json("POST", "/webhooks", json=fields))[1]

    async def update_webhook(self, webhook_id: int, changes: dict) -> dict:
        return (await self._json("PUT", f"/webhooks/{webhook_id}", json=changes))[1]

    async def delete_webhook(self, webhook_id: int) -> None:
        await self._call("DELETE", f"/webhooks/{webhook_id}", params={"force": "true"})  # webhooks are not trashed

    async def term_id(self, kind: str, name: str) -> int:
        """The id of the product category or tag (`kind`: categories | tags) named `name`, created if missing."""
        key = (kind, plain_name(name).lower())
        if key not in self._terms:
            self._terms[key] = await self._find_or_create(kind, name)
        return self._terms[key]

    async def existing_term_id(self, kind: str, name: str) -> int | None:
        """The id of the store's own category or tag named `name`; None when the store has none (nothing created)."""
        key = (kind, plain_name(name).lower())
        if key not in self._terms:
            found = await self._find_term(kind, name)
            if found is None:
                return None
            self._terms[key] = found
        return self._terms[key]

    async def _find_or_create(self, kind: str, name: str) -> int:
        found = await self._find_term(kind, name)
        if found is not None:
            return found
        try:  # a category made here sits at the root of the tree: its path is its name
            response, made = await self._json("POST", f"/products/{kind}", params=self._in_language() or None,
                                              json={"name": name})
            made_id = product_id(made.get("id")) if isinstance(made, dict) else None
            if made_id is None:
                raise StoreError(f"POST /products/{kind}: the store answered {response.status_code} without the new "
                                 f"term's id", response.status_code)
            return made_id
        except StoreError as error:
            # A term the search could not find, or one created meanwhile by a concurrent job: WordPress answers 400
            # term_exists with the existing term's id.
            existing = product_id(error.data.get("resource_id")) if error.status == 400 else None
            if existing is None and error.status == 400:
                existing = await self._find_term(kind, name)
            if existing is not None:
                return existing
            raise

    async def _find_term(self, kind: str, name: str) -> int | None:
        """The term named `name` (unescaped, any case): a category by its path in the store's tree, read again; a tag
        by the store's search. WordPress searches the names as stored (`LIKE`, escaped), so the stored form is
        searched first; a store that keeps names as written is searched by them next."""
        wanted = plain_name(name).lower()
        if kind == "categories":
            await self.category_paths(refresh=True)
            return self._terms.get((kind, wanted))
        for search in dict.fromkeys((stored_name(name), name.strip())):
            _, listed = await self._json("GET", f"/products/{kind}", params={"search": search, "per_page": PAGE_SIZE,
                                                                             **self._in_language()})
            for term in listed if isinstance(listed, list) else []:
                if isinstance(term, dict) and term_name(term).lower() == wanted and product_id(term.get("id")):
                    return product_id(term["id"])
        return None
