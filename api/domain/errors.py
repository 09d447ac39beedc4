"""The failures domain code raises: a stable code, a message that says what was wrong and how to fix it, and
whether trying again may help.

Nothing here knows HTTP. The API maps a code to its status in one place (api/core/errors.py, `DOMAIN_STATUS`);
the job runner (api/jobs/runner.py) retries what is `retryable` and dead-letters the rest.
"""
from __future__ import annotations

from difflib import get_close_matches
from typing import Iterable, Self


def near_names(value: str, names: Iterable[str], most: int = 3) -> list[str]:
    """The names `value` comes nearest to in any case (a plural, a typo, a hyphen: "T-Shirts" for "T-Shirt"),
    nearest first, by difflib's similarity of at least 0.7 (its default, 0.6, offered "Kids" for "Kleid"); for an
    error that names what was probably meant."""
    folded: dict[str, str] = {}
    for name in names:
        folded.setdefault(name.casefold(), name)
    return [folded[near] for near in get_close_matches(value.casefold(), folded, n=most, cutoff=0.7)]


class DomainError(Exception):
    def __init__(self, message: str, code: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.retryable, self.retry_after = message, code, retryable, retry_after

    def about(self, what: str) -> Self:
        """The same failure, its message prefixed with which of several things it concerns ("image 2")."""
        error = type(self).__new__(type(self))
        DomainError.__init__(error, f"{what}: {self.message}", self.code, retryable=self.retryable,
                             retry_after=self.retry_after)
        return error


class PhotoRejected(DomainError):
    """A photo that cannot be used: not an image, too large, corrupt, or a crop box outside it."""


class ModelUnavailable(DomainError):
    """The models could not answer (not configured, down, failing): nothing was wrong with the request."""

    def __init__(self, message: str, code: str = "inference_failed") -> None:
        super().__init__(message, code, retryable=True)


class AccountGone(DomainError):
    """The shop's account was deleted while the request ran: what it made was not kept."""

    def __init__(self) -> None:
        super().__init__("the shop's account was deleted while this request ran: nothing it made was kept",
                         "account_deleted")


class SkuTaken(DomainError):
    def __init__(self, sku: str | None) -> None:
        super().__init__(f"this shop already has a product with SKU {sku!r}: update that one instead", "sku_taken")


class StoreEntryTaken(DomainError):
    """A store product's catalogue entry was made by another process meanwhile (its `store_key` is unique): the
    maker brings that one up to date instead; a job that still meets it is tried again, and finds it."""

    def __init__(self, store_key: str) -> None:
        super().__init__(f"the store product {store_key} was given its catalogue entry by another worker meanwhile",
                         "store_entry_taken", retryable=True)


class UnknownShopTerm(DomainError):
    """A review named a category or tag that none of the shop's products carries (the shop's terms are its store's
    existing ones: a review never makes a new one)."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        if near := near_names(name, known):
            use = f"did you mean {', '.join(map(repr, near))}? (GET /api/v1/shop-model lists them all)"
        else:
            shown = ", ".join(repr(k) for k in known[:12]) + (", ..." if len(known) > 12 else "")
            use = f"use one its products carry ({shown or 'none yet'}; GET /api/v1/shop-model lists them)"
        super().__init__(f"the shop has no {kind} {name!r}: {use}, or give a product that {kind} first",
                         "unknown_shop_term")


class NotAStoreProduct(DomainError):
    def __init__(self) -> None:
        super().__init__("the shop's own terms are taught through a store product's annotation (the review queue); "
                         "this annotation has no catalogue product: give the product its terms with PATCH "
                         "/api/v1/products/{id}", "not_a_store_product")


def model_refusal(status: int, message: str) -> DomainError:
    """What the model server's answer for one photo means: a refused photo, or the models unavailable."""
    if 400 <= status < 500 and status != 429:
        return PhotoRejected(f"the model refused the image: {message}", "too_large" if status == 413 else "invalid_image")
    return ModelUnavailable(f"the model server failed ({status}: {message}); retry shortly")
