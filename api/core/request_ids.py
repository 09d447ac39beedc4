"""Every request has an id, answered in `X-Request-ID` and written in each log line it causes.

A shop that writes in about a failed request quotes the id from its answer (a 500 also names it in its message);
the operator finds that request's log lines by it. A proxy's own id (nginx's `$request_id`, 32 hex digits, or a
UUID) is kept when it sends one, so the two logs meet; anything else in the header is replaced by a new id, never
written to the logs as sent. `asgi-correlation-id` does the middleware and the log filter.
"""
from __future__ import annotations

import logging

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI
from uvicorn.logging import AccessFormatter

HEADER = "X-Request-ID"
# The service's own lines: when, how bad, which request ("-" outside one), where from, what.
FORMAT = "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"
ACCESS_FORMAT = '%(levelprefix)s [%(correlation_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'


def install_request_ids(app: FastAPI) -> None:
    """The middleware that gives each request its id; added last, so it wraps every other (a 413 of the body limit
    carries an id too)."""
    app.add_middleware(CorrelationIdMiddleware, header_name=HEADER)
    configure_logging()


def request_id() -> str | None:
    """The id of the request being answered (None outside one)."""
    return correlation_id.get()


def configure_logging() -> None:
    """The service's log lines with their request's id, where nothing configured logging yet (pytest and an
    operator's `--log-config` do, and are left alone), and uvicorn's access lines likewise. Idempotent."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(CorrelationIdFilter(default_value="-"))
        root.addHandler(handler)
    for handler in logging.getLogger("uvicorn.access").handlers:
        # Only uvicorn's own access handler: another one there (pytest's capture) is shared with other loggers,
        # whose lines have none of an access line's fields.
        ours = any(isinstance(f, CorrelationIdFilter) for f in handler.filters)
        if isinstance(handler.formatter, AccessFormatter) and not ours:
            handler.addFilter(CorrelationIdFilter(default_value="-"))
            handler.setFormatter(AccessFormatter(ACCESS_FORMAT, use_colors=handler.formatter.use_colors))
