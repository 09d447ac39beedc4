"""The error answers the API documents in OpenAPI: what each status means, and for each route the codes it may
answer with, each with an example message the API really gives (tests/api/test_bad_input.py checks the codes). The
error's shape is api/schemas.py's `ErrorOut`."""
from __future__ import annotations

import copy

from api.core.errors import not_found
from api.schemas import MAX_BATCH, ErrorOut

ERROR_STATUSES = {
    400: "the photo, URL, body or Idempotency-Key cannot be used, or the request cannot be done so (see the code)",
    401: "missing, unknown or expired credentials (or a webhook delivery's missing or wrong signature)",
    403: "the credentials are fine but not for this: a wrong password entered again, or a signed link's bad signature",
    404: "no such object in this shop",
    409: "conflicts with what already exists (see the code)",
    410: "the shop's account was deleted while the request ran: nothing it made was kept",
    413: "too large: over the body or upload limit, too many pixels, or too many images in one request",
    415: "the body is not in the media type the route reads (multipart/form-data for uploads, JSON otherwise)",
    422: "the request does not match the schema, or a crop box or fetched URL is unusable",
    429: "rate limit exceeded (the shop's, shared by all its keys and sessions), or too many wrong credentials from "
         "this address; retry after the Retry-After header's seconds",
    503: "not available now: the model server (down or failing) or the demo gallery (not built yet); see the code",
    504: "the image URL did not answer in time",
}
# (status, code, an example message) of the errors every route, a route taking a photo, and one taking an image
# URL may answer with; each example is an answer the API really gives (tests/api/test_bad_input.py checks the codes).
TOO_MANY_GUESSES = (429, "too_many_guesses", "too many failed attempts with wrong credentials from this address; try "
                                             "again in 8 s")
COMMON_ERRORS = (
    (401, "unauthorized", "the API key is unknown or revoked: create a new one in the console under Keys"),
    (422, "invalid_request", "unknown field 'colour' (remove it; see the schema in /api/v1/docs)"),
    (429, "rate_limited", "rate limit exceeded for this shop (all its keys and sessions together); retry in 2.5 s"),
    TOO_MANY_GUESSES,  # an unknown API key, from an address that sent many (api/deps.py)
)
IMAGE_ERRORS = (
    (400, "not_an_image", "the data is not an image Pillow can read (send JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP or TIFF)"),
    # A photo whose header passes goes to the model while the API checks it; what the model's decoder refuses then:
    (400, "invalid_image", "the model refused the image: the image is truncated or corrupt (OSError: image file is "
                           "truncated (12 bytes not processed))"),
    (413, "too_large", "'tee.jpg' is 14.2 MiB; the limit is 10.0 MiB"),
    (422, "crop_outside_image", "the crop box (x=200, y=0, width=300, height=100) reaches outside the 400×533 image: "
                                "keep x+width ≤ 400 and y+height ≤ 533"),
    (503, "inference_failed", "the model server failed (503: TorchServe at http://torchserve:8080 did not answer: "
                              "ConnectionRefusedError); retry shortly"),
    (503, "unavailable", "no model is configured on this server: set KALAS_INFERENCE_URL or KALAS_MODEL_STORE"),
)
MULTIPART_EXPECTED = (415, "unsupported_media_type", "POST /api/v1/annotations takes a multipart/form-data body "
                                                     "(fields 'file', 'crop'); the request was sent as image/jpeg")
JSON_EXPECTED = (415, "unsupported_media_type", "POST /api/v1/annotations/url takes a JSON body (Content-Type: "
                                                "application/json); the request was sent as multipart/form-data")
FILE_NAME_REFUSED = (422, "invalid_file_name", "the file name holds the bidirectional override U+202E at position 1: "
                                               "rename the file")
PHOTO_ERRORS = (*IMAGE_ERRORS, FILE_NAME_REFUSED, MULTIPART_EXPECTED)
# A create that was still running when its shop deleted its account keeps nothing (api/data/accounts.py).
ACCOUNT_DELETED = (410, "account_deleted", "the shop's account was deleted while this request ran: nothing it made was "
                                           "kept")
URL_NOT_ALLOWED = (400, "url_not_allowed", "127.0.0.1 resolves to a private, loopback or link-local address "
                                           "(127.0.0.1); only public http(s) URLs are fetched")
URL_ERRORS = (
    *IMAGE_ERRORS,
    JSON_EXPECTED,
    URL_NOT_ALLOWED,
    (422, "fetch_failed", "https://shop.example/img/tee.jpg answered HTTP 404, not an image"),
    (504, "fetch_timeout", "the URL did not answer in full within 10 s; host the file somewhere faster"),
)
SKU_TAKEN = (409, "sku_taken", "this shop already has a product with SKU 'TEE-NAVY-M': update that one instead")
EMAIL_TAKEN = (409, "email_taken", "an account with the e-mail 'owner@shop.example' already exists: log in instead")
EXAMPLE_ID = "6650c3f2a1b4c5d6e7f80912"


def not_found_error(kind: str) -> tuple[int, str, str]:
    """The 404 of a path's id that names nothing of this shop (api/core/errors.py, `not_found`)."""
    error = not_found(kind, EXAMPLE_ID)
    return error.status, error.code, error.message


PRODUCT_NOT_FOUND = not_found_error("product")
DEMO_NOT_BUILT = (503, "demo_not_built", "this server has no demo gallery yet: the run command builds it in the "
                                          "background on its first start (about a minute), or build it with python -m "
                                          "scripts.demo_gallery; search your own catalogue meanwhile")
# What a create sent with an Idempotency-Key may answer besides (api/idempotency.py).
IDEMPOTENCY_ERRORS = (
    (400, "invalid_idempotency_key", "the Idempotency-Key header must be 1 to 255 printable ASCII characters (a UUID, "
                                     "say); got 300 characters"),
    (409, "idempotency_key_in_use", "a request with the Idempotency-Key 'order-5521' is still being answered; send it "
                                    "again in a second to get its answer"),
    (422, "idempotency_key_reused", "the Idempotency-Key 'order-5521' was used for another request (another route, "
                                    "query or body) in the last 24 hours: a new request needs a new key"),
)
BATCH_TOO_LARGE = (413, "too_large", f"20 images in one batch; the limit is {MAX_BATCH}: split it into several requests")


# Any route that reads a body (JSON or a form): one its parser cannot read, one over the limit (api/core/limits.py),
# and one in another media type than the route reads.
BODY_UNREADABLE = (400, "bad_request", "the body is not UTF-8 text (byte 10 is b'\\xff'): a JSON body must be UTF-8")
BODY_TOO_LARGE = (413, "too_large", "the request body is 14.2 MiB; the limit is 10.0 MiB (shrink the image, or send "
                                    "several requests)")
JSON_BODY_ERRORS = (BODY_UNREADABLE, BODY_TOO_LARGE, JSON_EXPECTED)
FORM_BODY_ERRORS = (
    (400, "bad_request", "the multipart/form-data body could not be read: a part's header line is over 4224 bytes "
                         "(a very long file name?) or the body is malformed; send the photo as the form field 'file' "
                         "with a file name under 255 characters"),
    BODY_TOO_LARGE,
    MULTIPART_EXPECTED,
)
# A URL a shop registers (a callback, a store), checked when it is given (api/deps.py, `checked_url`).
CHECKED_URL_ERRORS = (
    URL_NOT_ALLOWED,
    (422, "fetch_failed", "the host 'shop.example' does not resolve"),
    (422, "fetch_timeout", "the URL did not answer in full within 10 s; host the file somewhere faster"),
)
WRONG_PASSWORD = (403, "wrong_password", "the password is wrong: the account was not deleted")
BAD_CREDENTIALS = (401, "bad_credentials", "wrong e-mail or password")
LOGOUT_WITH_KEY = (400, "bad_request", "logout ends a console session; this request used an API key (revoke it "
                                       "under /keys)")
BAD_SIGNATURE = (403, "bad_signature", "this image link has expired or its signature is wrong: read the annotation "
                                       "or product again for a fresh link")
ALREADY_CONNECTED = (409, "already_connected", "the store at https://shop.example is connected already (integration "
                                               "6650c3f2a1b4c5d6e7f80912): change its keys or webhook secret there, "
                                               "or disconnect it first")
STORE_ERRORS = (
    (422, "store_refused", "the store at https://shop.example refused a product read with these keys, so it was not "
                           "connected: 401 woocommerce_rest_cannot_view"),
    (422, "store_unreachable", "the store at https://shop.example did not answer a product read within 25 s, so it "
                               "was not connected: try again when it answers sooner"),
)
NOT_RETRIED = (409, "conflict", "job 6650c3f2a1b4c5d6e7f80912 changed while being retried; list the jobs and try again")
TOO_MANY_KEYS = (409, "too_many_keys", "this shop has 20 live API keys, the most it may hold: revoke one it no longer "
                                       "uses (DELETE /api/v1/keys/{key_id}) before creating another")  # MAX_KEYS
WEBHOOK_ERRORS = (
    (400, "bad_request", "a product.updated delivery must be the product as a JSON object with its id, a whole number "
                         "from 1 to 9223372036854775807; this one's id is null"),
    (401, "bad_signature", "X-WC-Webhook-Signature is missing or does not match the body: the webhook's Secret in "
                           "WooCommerce must equal the webhook secret registered here"),
    (404, "integration_not_found", "no integration '6650c3f2a1b4c5d6e7f80912': register the store first and use the "
                                   "delivery URL it shows"),
)


def error_responses(*errors: tuple[int, str, str]) -> dict[int | str, dict]:
    """OpenAPI `responses` for the common errors and these: per status the error shape, what the status means,
    and an example answer for each code. (A route's entry for a status replaces the app's whole entry for it, so
    each carries the common ones too.)"""
    return with_errors({}, *COMMON_ERRORS, *errors)


def with_errors(responses: dict[int | str, dict], *errors: tuple[int, str, str]) -> dict[int | str, dict]:
    """A copy of a route's `responses` with these errors' examples added."""
    merged = copy.deepcopy(responses)
    for status, code, message in errors:
        entry = merged.setdefault(status, {"model": ErrorOut, "description": ERROR_STATUSES[status]})
        examples = entry.setdefault("content", {}).setdefault("application/json", {}).setdefault("examples", {})
        examples[code] = {"value": {"error": {"code": code, "message": message}}}
    return merged
EMPTY_QUERY = (422, "empty_query", "the query has no words to search for")
TEXT_SEARCH_UNAVAILABLE = (503, "text_search_unavailable", "no text encoder, or one trained for another embedder")
