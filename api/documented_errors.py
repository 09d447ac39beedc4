"""The error answers the API documents in OpenAPI: what each status means, and for each route the codes it may
answer with, each with an example message the API really gives (tests/api/test_bad_input.py checks the codes). The
error's shape is api/schemas.py's `ErrorOut`."""
from __future__ import annotations

import copy

from api.schemas import ErrorOut

ERROR_STATUSES = {
    400: "the photo, URL or Idempotency-Key cannot be used (see the code)",
    401: "missing, unknown or expired credentials",
    404: "no such object in this shop",
    409: "conflicts with what already exists (see the code)",
    413: "too large: over the upload limit, too many pixels, or too many images in one request",
    415: "the body is not in the media type the route reads (multipart/form-data for uploads, JSON otherwise)",
    422: "the request does not match the schema, or a crop box or fetched URL is unusable",
    429: "rate limit exceeded; retry after the Retry-After header's seconds",
    503: "not available now: the model server (down or failing) or the demo gallery (not built yet); see the code",
    504: "the image URL did not answer in time",
}
# (status, code, an example message) of the errors every route, a route taking a photo, and one taking an image
# URL may answer with; each example is an answer the API really gives (tests/api/test_bad_input.py checks the codes).
COMMON_ERRORS = (
    (401, "unauthorized", "the API key is unknown or revoked: create a new one in the console under Keys"),
    (422, "invalid_request", "unknown field 'colour' (remove it; see the schema in /api/v1/docs)"),
    (429, "rate_limited", "rate limit exceeded for this credential; retry in 2.5 s"),
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
PHOTO_ERRORS = (*IMAGE_ERRORS, MULTIPART_EXPECTED)
URL_ERRORS = (
    *IMAGE_ERRORS,
    JSON_EXPECTED,
    (400, "url_not_allowed", "127.0.0.1 resolves to a private, loopback or link-local address (127.0.0.1); only "
                             "public http(s) URLs are fetched"),
    (422, "fetch_failed", "https://shop.example/img/tee.jpg answered HTTP 404, not an image"),
    (504, "fetch_timeout", "the URL did not answer in full within 10 s; host the file somewhere faster"),
)
SKU_TAKEN = (409, "sku_taken", "this shop already has a product with SKU 'TEE-NAVY-M': update that one instead")
EMAIL_TAKEN = (409, "email_taken", "an account with the e-mail 'owner@shop.example' already exists: log in instead")
TOO_MANY_GUESSES = (429, "too_many_guesses", "too many failed attempts with wrong credentials from this address; try "
                                             "again in 8 s")
PRODUCT_NOT_FOUND = (404, "product_not_found", "no product with id '6650c3f2a1b4c5d6e7f80912' in this shop")
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
BATCH_TOO_LARGE = (413, "too_large", "20 images in one batch; the limit is 16: split it into several requests")


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
