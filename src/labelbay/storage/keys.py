"""Object keys: how new ones are named and which ones are acceptable.

Keys are date-partitioned (`images/2024/05/01/<uuid>.jpg`) so a bucket can be listed, backed up or
expired one day at a time, and end in a fresh UUID so two uploads never collide and a key reveals
nothing about the original filename (which is user input and lives only in SQL).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

# Kinds and extensions end up in paths on disk and in URLs, so they are kept to a dull alphabet.
_KIND_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_EXT_RE = re.compile(r"[a-z0-9]{1,16}")


def dated_key(kind: str, ext: str, now: datetime | None = None, id: uuid.UUID | None = None) -> str:
    """`<kind>/YYYY/MM/DD/<uuid>.<ext>`, dated in UTC.

    `now` must be timezone-aware when given (a naive time is ambiguous across servers);
    `ext` may be given with or without its dot and in any case.
    """
    if not _KIND_RE.fullmatch(kind):
        raise ValueError(f"invalid key kind {kind!r}")
    ext = ext.removeprefix(".").lower()
    if not _EXT_RE.fullmatch(ext):
        raise ValueError(f"invalid extension {ext!r}")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    day = now.astimezone(UTC)
    object_id = id if id is not None else uuid.uuid4()
    return f"{kind}/{day:%Y/%m/%d}/{object_id}.{ext}"


def new_image_key(ext: str, now: datetime | None = None, id: uuid.UUID | None = None) -> str:
    """`images/YYYY/MM/DD/<uuid>.<ext>` for an uploaded image."""
    return dated_key("images", ext, now=now, id=id)


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe relative key, else raise `ValueError`.

    Rejected: empty keys, a leading `/`, `.` or `..` segments, empty segments (`a//b`, a
    trailing `/`), backslashes, NUL and other control characters. These are what could escape a
    local folder or make the same key mean different objects on the two backends.
    """
    _check_text(key, "key")
    if key.startswith("/") or key.endswith("/"):
        raise ValueError(f"invalid key {key!r}: must not start or end with '/'")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid key {key!r}: empty, '.' or '..' segment")
    return key


def validate_prefix(prefix: str) -> str:
    """Like `validate_key`, but a listing prefix may be empty, end with `/` or end mid-segment."""
    if prefix == "":
        return prefix
    _check_text(prefix, "prefix")
    if prefix.startswith("/"):
        raise ValueError(f"invalid prefix {prefix!r}: must not start with '/'")
    segments = prefix.split("/")
    # The last segment is a partial name (`images/20` matches `images/2024/...`) and may be "".
    for segment in segments[:-1]:
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid prefix {prefix!r}: empty, '.' or '..' segment")
    if segments[-1] in (".", ".."):
        raise ValueError(f"invalid prefix {prefix!r}: '.' or '..' segment")
    return prefix


def _check_text(value: str, what: str) -> None:
    if not value:
        raise ValueError(f"{what} must not be empty")
    if "\\" in value:
        raise ValueError(f"invalid {what} {value!r}: backslash")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"invalid {what} {value!r}: NUL or control character")
