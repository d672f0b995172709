"""Image bytes to RGB pixels, fast, and pixels to model input tensors.

Decoding is often as costly as a small model, so a JPEG is decoded at a reduced DCT scale (1/2, 1/4,
1/8 — libjpeg skips the work, it does not decode and shrink) whenever the model will shrink the image
at least that much anyway. `DecodedImage.scale` maps decoded pixels back to the original image.

EXIF orientation is ignored on purpose: coordinates refer to the stored pixel grid, the same grid whose
width and height are recorded for the image (and what PIL reports).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

RGBImage = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

_JPEG_MAGIC = b"\xff\xd8\xff"
# IMREAD_REDUCED_GRAYSCALE_<n> carries the reduction bits; IMREAD_COLOR_RGB turns it into colour RGB
# without a cvtColor pass.
_REDUCED_FLAGS = {
    1: 0,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
_RGB_FLAGS = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION
# Modes whose RGB conversion matches OpenCV's (alpha dropped, 8-bit samples).
_PIL_REDUCIBLE = frozenset({"RGB", "RGBA", "L", "LA"})
_INV_255 = np.float32(1 / 255)


class ImageDecodeError(ValueError):
    """Bytes that are not an image this decoder can read."""


@dataclass(frozen=True)
class DecodedImage:
    """RGB pixels plus how they map back to the original image (original = decoded * scale)."""

    pixels: RGBImage
    scale: float
    original_size: tuple[int, int]  # (width, height) of the image as stored

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def choose_reduction(width: int, height: int, min_side: int | None, *, cover: bool = False) -> int:
    """Largest DCT reduction (1, 2, 4 or 8) that keeps enough pixels for the model.

    By default the decoded image's longer side stays >= `min_side`: what a letterbox into a
    `min_side` square needs. With `cover=True` both sides stay >= `min_side` (a stretch resize).
    """
    if not min_side or min_side <= 0:
        return 1
    side = min(width, height) if cover else max(width, height)
    reduction = 1
    for candidate in (2, 4, 8):
        # libjpeg rounds scaled sizes up.
        if -(-side // candidate) >= min_side:
            reduction = candidate
    return reduction


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None when PIL cannot read the header."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def decode_image(data: bytes, min_side: int | None = None, *, cover: bool = False) -> DecodedImage:
    """Decode bytes to RGB uint8, at a reduced scale for JPEGs when `min_side` allows it.

    See `choose_reduction` for what `min_side` and `cover` mean. Other formats decode at full size
    (OpenCV's reduced modes for them decode fully and then resize) and, with `min_side`, are
    reduced by PIL before any full-size copy is made.
    """
    if data[:3] != _JPEG_MAGIC and min_side:
        reduced = _reduced_with_pil(data, min_side, cover=cover)
        if reduced is not None:
            return reduced
    buffer = np.frombuffer(data, dtype=np.uint8)
    reduction = 1
    size = None
    if data[:3] == _JPEG_MAGIC and min_side:
        size = image_size(data)
        if size is not None:
            reduction = choose_reduction(size[0], size[1], min_side, cover=cover)
    pixels = cv2.imdecode(buffer, _REDUCED_FLAGS[reduction] | _RGB_FLAGS) if len(data) else None
    if pixels is None:
        raise ImageDecodeError("not a readable image (JPEG, PNG, WebP, BMP, TIFF ...)")
    if pixels.ndim != 3 or pixels.dtype != np.uint8:  # defensive: IMREAD_COLOR_RGB gives 8-bit RGB
        raise ImageDecodeError(f"unexpected decoded layout {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    original = size if size is not None else (width, height)

    return DecodedImage(
        pixels=np.asarray(pixels, dtype=np.uint8), scale=float(reduction), original_size=original
    )


def _reduced_with_pil(data: bytes, min_side: int, *, cover: bool) -> DecodedImage | None:
    """A PNG or WebP decoded once at full size by PIL and reduced before any copy is made: OpenCV
    would hold two full-size buffers (its decode and the colour conversion), which for a
    64-megapixel image is most of the memory a worker has. None when PIL cannot do it."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in _PIL_REDUCIBLE:
                return None
            width, height = im.size
            reduction = choose_reduction(width, height, min_side, cover=cover)
            if reduction == 1:
                return None
            small = im.reduce(reduction)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    pixels = np.asarray(small.convert("RGB"), dtype=np.uint8)
    return DecodedImage(pixels=pixels, scale=float(reduction), original_size=(width, height))


class Letterboxed(NamedTuple):
    """A CHW float32 tensor in [0, 1], and how its pixels map back: original = (x - pad) / scale."""

    tensor: FloatArray
    scale: tuple[float, float]  # (x, y): resized size / source size
    pad: tuple[int, int]  # (left, top) in tensor pixels


def _resize_into(
    image: RGBImage, out: FloatArray, size: tuple[int, int], pad_value: int
) -> tuple[tuple[float, float], tuple[int, int]]:
    """Letterbox `image` into the preallocated CHW `out`; returns (scale, pad)."""
    target_w, target_h = size
    height, width = image.shape[:2]
    ratio = min(target_w / width, target_h / height)
    new_w = max(1, round(width * ratio))
    new_h = max(1, round(height * ratio))
    left = (target_w - new_w) // 2
    top = (target_h - new_h) // 2
    resized = (
        image
        if (new_w, new_h) == (width, height)
        else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    if (new_w, new_h) != (target_w, target_h):
        out.fill(pad_value / 255)
    # One pass: HWC uint8 -> CHW float32 scaled, written straight into the batch buffer.
    np.multiply(
        resized.transpose(2, 0, 1),
        _INV_255,
        out=out[:, top : top + new_h, left : left + new_w],
        dtype=np.float32,
    )
    return (new_w / width, new_h / height), (left, top)


def letterbox(image: RGBImage, size: tuple[int, int], pad_value: int = 114) -> Letterboxed:
    """Resize keeping aspect ratio into `size` (width, height), centred, padded with `pad_value`."""
    out = np.empty((3, size[1], size[0]), dtype=np.float32)
    scale, pad = _resize_into(image, out, size, pad_value)
    return Letterboxed(out, scale, pad)


def letterbox_batch(
    images: Sequence[RGBImage], size: tuple[int, int], pad_value: int = 114
) -> tuple[FloatArray, list[tuple[float, float]], list[tuple[int, int]]]:
    """Letterbox several images into one NCHW float32 array; per-image scales and pads."""
    batch = np.empty((len(images), 3, size[1], size[0]), dtype=np.float32)
    scales: list[tuple[float, float]] = []
    pads: list[tuple[int, int]] = []
    for i, image in enumerate(images):
        scale, pad = _resize_into(image, batch[i], size, pad_value)
        scales.append(scale)
        pads.append(pad)
    return batch, scales, pads


def resize_batch(
    images: Sequence[RGBImage], size: tuple[int, int]
) -> tuple[FloatArray, list[tuple[float, float]]]:
    """Stretch each image to exactly `size` (no padding, as DETR-style models expect); NCHW in [0, 1].

    The scales are (x, y) factors: resized / source.
    """
    width, height = size
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    scales: list[tuple[float, float]] = []
    for i, image in enumerate(images):
        src_h, src_w = image.shape[:2]
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        np.multiply(resized.transpose(2, 0, 1), _INV_255, out=batch[i], dtype=np.float32)
        scales.append((width / src_w, height / src_h))
    return batch, scales


def boxes_from_letterbox(
    boxes: npt.ArrayLike, scale: tuple[float, float], pad: tuple[int, int]
) -> FloatArray:
    """Map xyxy boxes from letterboxed tensor pixels back to the source image's pixels."""
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0::2] = (out[:, 0::2] - pad[0]) / scale[0]
    out[:, 1::2] = (out[:, 1::2] - pad[1]) / scale[1]
    return out


def normalise(
    batch: FloatArray, mean: Sequence[float] | None, std: Sequence[float] | None
) -> FloatArray:
    """Per-channel `(x - mean) / std` in place on an NCHW batch in [0, 1] (e.g. ImageNet stats)."""
    if mean is not None:
        batch -= np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    if std is not None:
        batch /= np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return batch
