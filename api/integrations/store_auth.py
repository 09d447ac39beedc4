"""How a WooCommerce store takes its REST API keys, which depends on how WordPress sees the request.

WooCommerce (`WC_REST_Authentication::authenticate`) reads Basic auth, or the keys as `consumer_key` and
`consumer_secret` query parameters, only when WordPress sees the request as HTTPS (`is_ssl()`). Otherwise, and
when those are absent, it checks an OAuth 1.0a "one-legged" signature (RFC 5849: the consumer key, a timestamp
within 15 minutes, an unused nonce, HMAC over the method, the address WordPress rebuilds from its home URL with
the scheme it sees, and the query's parameters, keyed with the consumer secret and an empty token secret). So:

- BASIC: the documented way over HTTPS.
- QUERY_AUTH: PHP under CGI/FastCGI never sees the Authorization header, so Basic auth fails with 401; the keys go
  as query parameters (over HTTPS).
- OAUTH: the documented way over plain HTTP, where the secret must not travel; and the way left for a store behind
  a proxy that ends TLS without telling WordPress (a CDN's "flexible" TLS), which sees plain HTTP and so signs
  over http:// whatever address the client used. The signature and its parameters go in the query, where a host
  that strips the Authorization header cannot lose them.

A store's client tries the ways in `WAYS` order for its address's scheme until the store takes one (answers
something other than 401), and keeps that way for the store; a 401 to the kept way tries the others again. Over
plain HTTP the keys themselves go only to a store the operator let through as an intranet one (`ways_for`): on the
internet anyone on the path could read them, and WooCommerce over HTTP takes the signature anyway.
"""
from __future__ import annotations

import secrets
import time

from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature

BASIC, QUERY_AUTH, OAUTH = "basic auth", "query auth", "oauth"
WAYS = {"https": (BASIC, QUERY_AUTH, OAUTH), "http": (OAUTH, BASIC, QUERY_AUTH)}
ALL_WAYS = frozenset(WAYS["https"])


def ways_for(store_url: str, keys_in_clear: bool) -> tuple[str, ...]:
    """The ways to try for a store at `store_url`; over plain HTTP only the signature unless `keys_in_clear`."""
    if store_url.lower().startswith("https:"):
        return WAYS["https"]
    return WAYS["http"] if keys_in_clear else (OAUTH,)


def oauth_query(consumer_key: str, consumer_secret: str, method: str, address: str,
                params: dict[str, object]) -> dict[str, str]:
    """The OAuth parameters, signature included, for a request to `address` (scheme, host and path) with `params`
    in its query, as WooCommerce checks them where WordPress sees plain HTTP: HMAC-SHA1 over RFC 5849's base string
    (authlib's; its client refuses to sign for http://, WooCommerce's very case), the address signed with http://
    whatever its scheme. A JSON body is not signed: WordPress reads no parameters from it. Made before the request
    is built, not as an httpx Auth: re-parsing the signed URL there cost 0.3 ms a request (docs/woocommerce.md)."""
    oauth = {"oauth_consumer_key": consumer_key, "oauth_nonce": secrets.token_hex(16),
             "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": str(int(time.time()))}
    signed_as = "http://" + address.split("://", 1)[1]
    query = [(name, str(value)) for name, value in params.items()] + list(oauth.items())
    base_string = construct_base_string(method, signed_as, query)
    oauth["oauth_signature"] = hmac_sha1_signature(base_string, consumer_secret, None)
    return oauth
