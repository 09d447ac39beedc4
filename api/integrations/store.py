"""A store a shop gave the service: its address (`store_home`), and the one way the service opens a WooCommerce REST
client for it. Every request that client sends is checked against private networks where it leaves
(`CheckedTransport`, the photo fetcher's policy), so a store whose DNS answer changes after it was connected cannot
turn the shop's keys against the service's own network."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from api.integrations.vault import Vault
from api.integrations.woo_client import WooClient
from api.intake.fetch import SafeHttp

# Where a merchant is when making the keys (WooCommerce → Settings → Advanced → REST API is under /wp-admin/), the
# login page, and the REST API itself: an address pasted from one of them names the site before that segment.
_SITE_SEGMENTS = frozenset({"wp-admin", "wp-json", "wp-login.php"})


def store_home(url: str) -> str:
    """The store's home page from an address a merchant gave: cut before a `wp-admin`, `wp-json` or `wp-login.php`
    segment, without query, fragment or trailing slash. A site in a folder keeps it ("https://x.example/shop"), and
    so does a site whose permalinks go through index.php (its REST API is under /index.php/wp-json)."""
    parts = urlsplit(url.strip())
    segments = parts.path.split("/")
    cut = next((i for i, segment in enumerate(segments) if segment.lower() in _SITE_SEGMENTS), len(segments))
    host = parts.netloc if "@" in parts.netloc else parts.netloc.lower()  # one store, however its name is cased
    return urlunsplit((parts.scheme.lower(), host, "/".join(segments[:cut]).rstrip("/"), "", ""))


def store_names(given: str, answered: str, api_root: str | None) -> list[str]:
    """The home pages one store is known by: the address the shop gave, the one the store answered at (it may
    redirect), and the one it names itself by in its answers (`api_root`, its REST API's address): a site that
    answers at both its bare domain and www, which WordPress does not redirect for the REST API, is one store."""
    return sorted({store_home(given), answered} | ({named} if (named := moved_home(api_root)) else set()))


def moved_home(location: str | None) -> str | None:
    """The store's home that a redirect of one of its REST API requests names (a site moved to HTTPS, or from its
    bare domain to www, keeps the path), or None when it names no REST API address."""
    if not location:
        return None
    parts = urlsplit(location)
    segments = [segment.lower() for segment in parts.path.split("/")]
    if "wp-json" in segments:
        return store_home(location)
    if segments[-1] == "index.php" and "rest_route=" in parts.query:  # Plain permalinks' address of the REST API
        return store_home(location).removesuffix("/index.php")
    return None


def store_client(http: SafeHttp, store_url: str, consumer_key: str, consumer_secret: str, **options) -> WooClient:
    """A client for the store at `store_url` with these keys (`options`: WooClient's `timeout`, `on_tree`,
    `language`). Over plain HTTP the keys themselves go only to a store the operator let through
    (`KALAS_FETCH_ALLOW_ORIGINS`, an intranet store); any other gets the signature alone."""
    return WooClient(store_url, consumer_key, consumer_secret, transport=http.transport(),
                     keys_in_clear=http.lets_through(store_url), **options)


def integration_client(http: SafeHttp, vault: Vault, integration: dict, **options) -> WooClient:
    """A client for an integration's store, its keys opened from the vault, in the store's language where it has
    one (api/integrations/languages.py)."""
    return store_client(http, integration["store_url"], vault.open(integration["consumer_key"]),
                        vault.open(integration["consumer_secret"]), language=integration.get("store_language"),
                        **options)
