"""Bytes from anywhere (a form upload, a bucket object) to a hashed temp file, the shape
`services.images.store_upload` validates and stores, so every way in is judged the same."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from labelbay.uploads.multipart import FilePart


def spool(
    chunks: Iterable[bytes], *, filename: str, max_bytes: int, field_name: str = "files"
) -> FilePart:
    """Write the chunks to a temp file while hashing them; stop writing past `max_bytes` (the part
    is then marked too large). The caller hands the part on or calls `discard()`."""
    fd, name = tempfile.mkstemp(prefix="labelbay-spool-")
    digest = hashlib.sha256()
    size = 0
    too_large = False
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    too_large = True
                    break
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return FilePart(
        field_name=field_name,
        filename=filename,
        content_type="application/octet-stream",
        path=Path(name),
        size=size,
        sha256=digest.hexdigest(),
        too_large=too_large,
    )


def head(part: FilePart, length: int = 16) -> bytes:
    """The first bytes of a spooled part (for sniffing its type)."""
    if part.path is None:
        return b""
    with part.path.open("rb") as handle:
        return handle.read(length)
