"""Callback URLs' request and response bodies (api/routes/callbacks.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas import HttpUrl, Request, Response

CallbackEvent = Literal["annotation.created", "annotation.reviewed"]


class CallbackIn(Request):
    url: HttpUrl
    events: list[CallbackEvent] = Field(default_factory=lambda: ["annotation.created"], min_length=1, max_length=2)


class CallbackOut(Response):
    id: str
    url: str
    events: list[str]
    created: datetime


class CallbackCreated(CallbackOut):
    secret: str = Field(description="verifies `X-Kalas-Signature`; shown only in this response")


class DeliveryOut(Response):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    response_status: int | None
    last_error: str | None
    created: datetime
    delivered: datetime | None
