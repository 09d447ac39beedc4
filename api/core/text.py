"""Plain text a shop may send: which characters its text may not carry, and where the first of them is. One home for
the request schemas (api/schemas.py, refused), upload file names (api/intake/sources.py, refused) and store product
names (api/integrations/store_data.py, blanked)."""
from __future__ import annotations

# Characters a shop's text may not carry: C0 and C1 controls (NUL, ESC, CR, LF, …) and the bidirectional overrides that
# make a title read differently from what it holds (U+202A–U+202E, U+2066–U+2069).
_CONTROLS = {*range(0x00, 0x20), *range(0x7F, 0xA0)}
_BIDI_OVERRIDES = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def forbidden(character: str) -> str | None:
    """What `character` is when a shop's text may not carry it ("control character", "bidirectional override")."""
    code = ord(character)
    return "control character" if code in _CONTROLS else "bidirectional override" if code in _BIDI_OVERRIDES else None


def unplain(value: str) -> str | None:
    """What makes `value` no plain text a shop may send ("holds the control character U+001B at position 3"), or
    None: the first character `forbidden` names."""
    for position, character in enumerate(value):
        if kind := forbidden(character):
            return f"holds the {kind} U+{ord(character):04X} at position {position}"
    return None
