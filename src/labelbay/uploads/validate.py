"""Judging one received file: real type by magic bytes, full decode, pixel and size limits."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# Our own pixel check runs first; PIL's bomb guard is disabled so it can't disagree with the setting.
Image.MAX_IMAGE_PIXELS = None

_SIGNATURES: list[tuple[bytes, int, str, str, str]] = [
    # magic, offset, mime, extension, PIL format name
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png", "PNG"),
    (b"WEBP", 8, "image/webp", "webp", "WEBP"),
]


class RejectedFile(ValueError):
    """A file we won't store; the message is the reason the uploader sees."""


@dataclass(frozen=True)
class ImageFacts:
    mime_type: str
    extension: str
    width: int
    height: int


def sniff(head: bytes) -> tuple[str, str, str] | None:
    """(mime, extension, PIL format) from the first bytes of a file, or None if not a known image."""
    for magic, offset, mime, ext, pil_format in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic and (ext != "webp" or head[:4] == b"RIFF"):
            return mime, ext, pil_format
    return None


def inspect_image(path: Path, *, size: int, max_bytes: int, max_pixels: int) -> ImageFacts:
    """Facts about a valid image at `path`, or `RejectedFile` saying what is wrong with it."""
    if size == 0:
        raise RejectedFile("file is empty")
    if size > max_bytes:
        raise RejectedFile(f"file is larger than the limit of {max_bytes} bytes")
    with path.open("rb") as handle:
        head = handle.read(16)
    kind = sniff(head)
    if kind is None:
        raise RejectedFile("not a JPEG, PNG or WebP image (judged by content, not the extension)")
    mime, ext, pil_format = kind
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with Image.open(path, formats=[pil_format]) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise RejectedFile("image has no pixels")
                if width * height > max_pixels:
                    raise RejectedFile(
                        f"image has {width}x{height} pixels, over the limit of {max_pixels}"
                    )
                img.load()  # full decode: truncated or corrupt data fails here
            if pil_format == "PNG":
                # load() stops as soon as it has the pixels, so a PNG cut off after its image data
                # (checksum and IEND gone) or with a damaged chunk checksum would pass; verify()
                # walks every chunk to IEND and checks each CRC. It needs a fresh open.
                with Image.open(path, formats=[pil_format]) as img:
                    img.verify()
    except RejectedFile:
        raise
    except UnidentifiedImageError as exc:
        raise RejectedFile(f"{pil_format} header is corrupt") from exc
    except (OSError, SyntaxError, ValueError, Warning) as exc:
        raise RejectedFile(f"image data is corrupt or truncated ({exc})") from exc
    return ImageFacts(mime_type=mime, extension=ext, width=width, height=height)
