"""Artifact files: acceptable names, where they are stored, and checking what was uploaded.

A pipeline uploads straight to storage (S3) or through a labelbay link (local folder), so nothing
sees the bytes on the way in; finalising an analysis checks each artifact's size and first bytes.
"""

from __future__ import annotations

import re
import uuid

from labelbay.errors import Invalid
from labelbay.uploads.validate import sniff

_FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
SNIFF_BYTES = 4096

# Extension -> the content type the artifact must turn out to have.
CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "json": "application/json",
    "csv": "text/csv",
    "txt": "text/plain",
    "npy": "application/x-npy",
}


def storage_path(analysis_id: uuid.UUID, filename: str) -> str:
    """The key in the `artifacts` location, as the old system named it."""
    return f"ml_outputs/{analysis_id}/{filename}"


def check_artifact_type(artifact_type: str) -> str:
    if not _TYPE_RE.fullmatch(artifact_type):
        raise Invalid("artifact_type must be 1 to 50 characters of a-z, 0-9 and _, starting a-z")
    return artifact_type


def content_type_for(filename: str, *, max_length: int) -> str:
    """The content type the file's extension promises; `Invalid` for an unacceptable name."""
    if len(filename) > max_length:
        raise Invalid(f"artifact filename is longer than {max_length} characters")
    if not _FILENAME_RE.fullmatch(filename) or ".." in filename:
        raise Invalid(
            "artifact filename may hold only letters, digits, '.', '_' and '-', "
            "and must start with a letter or digit"
        )
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    if ext not in CONTENT_TYPES:
        raise Invalid(
            f"artifact filename must end in one of: {', '.join('.' + e for e in CONTENT_TYPES)}"
        )
    return CONTENT_TYPES[ext]


def sniffed_type(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or None when they show nothing known.

    Text formats (JSON, CSV, plain text) cannot be told apart by their bytes; they are reported
    as `text/*` and matched loosely by `matches`.
    """
    image = sniff(head)
    if image is not None:
        return image[0]
    if head.startswith(b"\x93NUMPY"):
        return "application/x-npy"
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        return "application/json"
    return "text/plain"


def matches(expected: str, sniffed: str | None) -> bool:
    if sniffed is None:
        return False
    if expected in ("text/csv", "text/plain"):
        return sniffed in ("text/plain", "application/json")
    return expected == sniffed
