"""Strict state-dict key checks, with an error that names the keys (shared by every checkpoint loader)."""
from __future__ import annotations

from typing import Iterable


def key_mismatch(expected: Iterable[str], found: Iterable[str], shown: int = 20) -> str | None:
    """`"missing keys [...], unexpected keys [...]"` when the two key sets differ, else None.

    At most `shown` keys of each kind are listed (an ellipsis says more were left out): a wrong checkpoint can
    differ in hundreds of keys, and the first few say which file it is.
    """
    expected, found = set(expected), set(found)
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if not missing and not unexpected:
        return None

    def listed(keys: list[str]) -> str:
        return f"{keys[:shown]}{' …' if len(keys) > shown else ''}"

    return f"missing keys {listed(missing)}, unexpected keys {listed(unexpected)}"
