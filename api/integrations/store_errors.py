"""What a store's failures are: `StoreError` (refused, failed, away: whether trying again can help and how long the store
asked us to wait) and `StoreMoved` (it redirected: its REST API is at another address)."""
from __future__ import annotations

from api.domain.errors import DomainError


class StoreError(DomainError):
    """The store refused or failed a request; `status` None when it could not be reached or did not answer in time.
    It may pass when the store was away, overloaded (429) or failing (5xx)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None,
                 data: dict | None = None, retryable: bool | None = None) -> None:
        if retryable is None:
            retryable = status is None or status == 429 or status >= 500
        super().__init__(message, "store_failed", retryable=retryable, retry_after=retry_after)
        self.status, self.data = status, data or {}  # data: the REST error's own `data` ({"status", "resource_id"})


class StoreMoved(StoreError):
    """The store answered a redirect (`location`, absolute; None without one): its REST API is at another address,
    which the service does not follow with the keys (a signature names the address it was made for)."""

    def __init__(self, message: str, status: int, location: str | None) -> None:
        super().__init__(message, status, retryable=False)
        self.location = location
