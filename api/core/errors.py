"""One error shape for every failure: `{"error": {"code": "...", "message": "..."}}`.

Routes raise `ApiError` (or the helpers below); domain code raises `DomainError`s, whose codes are mapped to
HTTP statuses here and nowhere else (`DOMAIN_STATUS`); FastAPI's own validation errors and Starlette's HTTP errors
are rewritten into the same shape so that a client needs one parser. Messages say what was wrong and how to fix it.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.request_ids import HEADER as REQUEST_ID_HEADER, request_id
from api.domain.errors import DomainError

log = logging.getLogger(__name__)
MULTIPART_HEADER_LIMIT = 4096 + 128  # python-multipart's longest header line in a part

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          408: "timeout", 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
          429: "rate_limited", 502: "bad_gateway", 503: "unavailable", 504: "upstream_timeout"}


# The HTTP status of each domain error code; a code not listed is 503 when it may pass, 500 otherwise.
DOMAIN_STATUS = {
    "not_an_image": 400, "invalid_image": 400, "too_large": 413, "crop_outside_image": 422,
    "url_not_allowed": 400, "fetch_failed": 422, "too_many_redirects": 422, "fetch_timeout": 504,
    "sku_taken": 409, "inference_failed": 503, "models_not_configured": 503,
    "empty_query": 422, "text_search_unavailable": 503, "unknown_shop_term": 422, "not_a_store_product": 422,
    "account_deleted": 410, "invalid_file_name": 422,
}


def domain_status(error: DomainError) -> int:
    return DOMAIN_STATUS.get(error.code) or (503 if error.retryable else 500)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.headers = headers


def not_found(kind: str, object_id: str) -> ApiError:
    # The same answer for "does not exist" and "belongs to another shop": ids of other shops must not leak.
    return ApiError(404, f"no {kind} with id {object_id!r} in this shop", code=f"{kind.replace(' ', '_')}_not_found")


def error_body(status: int, message: str, code: str | None = None) -> dict:
    return {"error": {"code": code or _CODES.get(status, "error"), "message": message}}


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)] or ["body"]
    return ".".join(parts)


def _validation_message(error: RequestValidationError) -> str:
    return "; ".join(validation_problems(error.errors())) or "the request does not match the schema"


def validation_problems(items: list) -> list[str]:
    """One phrase per pydantic error item, named by where it is (`'crop.width': Input should be ...`)."""
    problems = []
    for item in items:
        where = _location(tuple(item.get("loc", ())))
        if item.get("type") == "json_invalid":
            position = item.get("loc", ("body", "?"))[-1]
            reason = (item.get("ctx") or {}).get("error", "not JSON")
            problems.append(f"the body is not valid JSON: {reason} at character {position} (send a JSON object, "
                            f"e.g. {{\"name\": \"value\"}}, with Content-Type: application/json)")
        elif item.get("type") == "string_pattern_mismatch" and item.get("loc", ("",))[0] == "path":
            problems.append(f"'{item['loc'][-1]}' must be an id as the API gives them: 24 lowercase hexadecimal "
                            f"characters; got {str(item.get('input'))[:40]!r}")
        elif item.get("type") == "extra_forbidden":
            problems.append(f"unknown field '{where}' (remove it; see the schema in /api/v1/docs)")
        elif item.get("type") == "missing":
            problems.append(f"'{where}' is required")
        else:
            problems.append(f"'{where}': {item.get('msg')}")
    return problems


def _media_type_mismatch(request: Request) -> str | None:
    """What was wrong when a request that failed validation sent its body in another media type than its route
    reads (an image as the raw body, a form to a JSON route), or None. Asked only after validation failed, so a
    request that validates is never refused for its Content-Type."""
    body = getattr(request.scope.get("route"), "body_field", None)
    if body is None:
        return None
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if isinstance(body.field_info, params.Form):  # File is a Form: uploads need multipart
        accepted = {"multipart/form-data"} | (set() if isinstance(body.field_info, params.File)
                                              else {"application/x-www-form-urlencoded"})
        if sent in accepted:
            return None
        fields = ", ".join(repr(field.alias) for field in request.scope["route"].dependant.body_params)
        wanted = f"a multipart/form-data body (fields {fields})"
    else:
        if sent == "application/json" or sent.endswith("+json"):  # without a Content-Type, nothing reads it as JSON
            return None
        wanted = "a JSON body (Content-Type: application/json)"
    return f"{request.method} {request.url.path} takes {wanted}; the request was sent as {sent or 'no Content-Type'}"


def _unparsed(cause: BaseException | None) -> str:
    """What was wrong with a body FastAPI's parser could not read (it says only "There was an error parsing the
    body"), from the error it raised it from."""
    if isinstance(cause, UnicodeDecodeError):
        return (f"the body is not UTF-8 text (byte {cause.start} is {cause.object[cause.start:cause.start + 1]!r}): "
                "a JSON body must be UTF-8")
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply to be read"
    return "the body could not be read" + (f" ({type(cause).__name__}: {cause})"[:200] if cause else "")


DATABASE_RETRY_S = 5  # what a client is told to wait when the database cannot be reached


def _database_away(request: Request, exc: ConnectionFailure) -> JSONResponse:
    """The database could not be reached (down, restarting, a network partition): a 503 the client can retry, one
    log line rather than a traceback per request while it lasts. The API needs no restart when it is back."""
    log.warning("the database could not be reached on %s %s (%s)", request.method, request.url.path,
                type(exc).__name__)
    return JSONResponse(error_body(503, "the service's database cannot be reached right now; retry in "
                                        f"{DATABASE_RETRY_S} s", "database_unavailable"),
                        status_code=503, headers={"Retry-After": str(DATABASE_RETRY_S)})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ConnectionFailure, _database_away)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message, exc.code), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = domain_status(exc)
        return JSONResponse(error_body(status, exc.message, exc.code), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        wrong_type = _media_type_mismatch(request)
        if wrong_type is not None:
            return JSONResponse(error_body(415, wrong_type), status_code=415)
        return JSONResponse(error_body(422, _validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 400 and message == "Invalid multipart data.":  # what Starlette says for any parse error
            message = (f"the multipart/form-data body could not be read: a part's header line is over "
                       f"{MULTIPART_HEADER_LIMIT} bytes (a very long file name?) or the body is malformed; send the "
                       "photo as the form field 'file' with a file name under 255 characters")
        elif exc.status_code == 400 and message == "There was an error parsing the body":  # FastAPI's, for any
            message = _unparsed(exc.__cause__)  # failure but a JSON syntax error, raised from the parser's own
        elif exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; the API is documented at /api/v1/docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ConnectionFailure):  # raised by a middleware (the shared rate limits), not a route
            return _database_away(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Answered outside the request-id middleware (Starlette's outermost layer), so the id is set here. Closed
        # after the answer, and said so: a client reusing a connection the server drops would get a reset.
        rid = request_id() or "-"
        return JSONResponse(error_body(500, f"internal error; it has been logged as request {rid}: quote it when "
                                            "you ask about it", "internal"), status_code=500,
                            headers={"Connection": "close", REQUEST_ID_HEADER: rid})

