"""Judging one received file: real type by magic bytes, full decode, pixel and size limits.

Decoding memory is bounded by pixels and bytes per pixel together: an image may have up to
`max_pixels` pixels at 3 bytes each (the RGB every reader here makes), so one that decodes wider
(alpha, a palette, 16-bit samples) must have proportionally fewer. A JPEG whose scan data is too
short to cover the frame its header claims (a few KB "of" 64 megapixels, the rest filled in grey by
the decoder) is refused before it is decoded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# Our own pixel check runs first; PIL's bomb guard is disabled so it can't disagree with the setting.
Image.MAX_IMAGE_PIXELS = None

RGB_BYTES = 3
# Bytes per pixel of the image as decoded, by PIL mode: readers make RGB working copies, and RGBA
# ones of every other mode (alpha, palettes, 16-bit and 1-bit greys).
_RGB_MODES = frozenset({"L", "RGB", "YCbCr"})
# PNG colour type → samples per pixel (IHDR), to count 16-bit samples as the file holds them.
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# A Huffman-coded JPEG spends at least one bit per 8x8 luma block (its DC code), in any mode.
_HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2})

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
        head = handle.read(32)
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
                working = RGB_BYTES if img.mode in _RGB_MODES else 4
                per_pixel = max(working, _png_bytes_per_pixel(head))
                if width * height * per_pixel > max_pixels * RGB_BYTES:
                    raise RejectedFile(
                        f"image has {width}x{height} pixels of {per_pixel} bytes, over the "
                        f"decoding limit of {max_pixels * RGB_BYTES} bytes"
                    )
                if pil_format == "JPEG" and size * 8 < _jpeg_min_bits(path, width, height):
                    raise RejectedFile(
                        f"JPEG data is too short for its {width}x{height} frame (truncated?)"
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


def _png_bytes_per_pixel(head: bytes) -> int:
    """Bytes per pixel a PNG's samples take (from IHDR), 0 for anything else."""
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR" or len(head) < 26:
        return 0
    depth, colour = head[24], head[25]
    return max(1, _PNG_SAMPLES.get(colour, 4) * depth // 8)


def _jpeg_min_bits(path: Path, width: int, height: int) -> int:
    """The fewest bits a complete Huffman-coded JPEG of this frame can have (0 when unknown)."""
    with path.open("rb") as handle:
        data = handle.read(64 * 1024)
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in _HUFFMAN_SOF:
            return ((width + 7) // 8) * ((height + 7) // 8)
        if marker == 0xDA:  # start of scan: no frame header met
            return 0
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return 0
