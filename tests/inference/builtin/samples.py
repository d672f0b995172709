"""Sample images for the built-in model tests, and their 1920x1080 versions.

A 1080p version keeps the sample's aspect (circles must stay circles): it is scaled to fit and centred
on a grey canvas, so a box found on it maps back by `(box - offset) / scale`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data

Image = npt.NDArray[np.uint8]


def rgb(gray: Image) -> Image:
    return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))


def page() -> Image:
    return rgb(data.page())


def coins() -> Image:
    return rgb(data.coins())


def astronaut() -> Image:
    return np.ascontiguousarray(data.astronaut())


def chelsea() -> Image:
    return np.ascontiguousarray(data.chelsea())


def coffee() -> Image:
    return np.ascontiguousarray(data.coffee())


def uniform_noise(width: int, height: int, seed: int) -> Image:
    """Every pixel and channel drawn uniformly from 0..255."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(image: Image, extension: str) -> bytes:
    """The image as a file would be uploaded (".jpg" at OpenCV's default quality 95, ".png")."""
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def plain_grey(width: int = 640, height: int = 480) -> Image:
    return np.full((height, width, 3), 128, np.uint8)


@dataclass(frozen=True)
class Letterboxed:
    image: Image
    scale: float
    offset: tuple[int, int]  # (x, y) of the sample's top-left corner on the canvas

    def to_sample(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Boxes found on the canvas, in the original sample's pixels."""
        shift = np.array(self.offset * 2, np.float32)
        return ((xyxy - shift) / self.scale).astype(np.float32)


def to_1080p(image: Image) -> Letterboxed:
    height, width = image.shape[:2]
    scale = min(1920 / width, 1080 / height)
    new_w, new_h = round(width * scale), round(height * scale)
    big = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    x, y = (1920 - new_w) // 2, (1080 - new_h) // 2
    canvas[y : y + new_h, x : x + new_w] = big
    # The resize rounds the size; use the scale actually applied along x.
    return Letterboxed(canvas, new_w / width, (x, y))
