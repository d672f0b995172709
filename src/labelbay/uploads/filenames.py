"""What we keep of a client's file name. Storage keys never use it; it is display text only."""

from __future__ import annotations

import unicodedata


class BadFilename(ValueError):
    pass


def clean_filename(raw: str, *, max_length: int) -> str:
    """The last path component of `raw`, NFC-normalised; `BadFilename` when nothing sane is left.

    Control characters (NUL included) are refused rather than stripped: a name carrying them was made
    to confuse something, and silently changing it would hide that from the uploader.
    """
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise BadFilename("file name contains control characters")
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in {"", ".", ".."}:
        raise BadFilename("file name is empty")
    if len(name) > max_length:
        raise BadFilename(f"file name is longer than {max_length} characters")
    return name
