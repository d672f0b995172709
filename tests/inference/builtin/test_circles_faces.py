"""The `circles` and `faces` built-in models on real sample photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as samples

from labelbay.inference.builtin import BUILTIN_NAMES, load_builtin
from labelbay.inference.geometry import box_iou

# Centres of the 24 coins of skimage's coins(), read off the image by hand (x, y).
COIN_CENTRES = np.array(
    [
        [43, 56], [101, 57], [155, 52], [215, 50], [277, 52], [333, 44],
        [44, 124], [103, 125], [155, 127], [206, 124], [267, 119], [337, 125],
        [43, 197], [101, 195], [154, 197], [209, 193], [272, 194], [347, 187],
        [46, 260], [115, 266], [170, 261], [243, 263], [299, 263], [359, 267],
    ],
    dtype=np.float32,
)  # fmt: skip
ASTRONAUT_FACE = np.array([[170, 55, 275, 170]], np.float32)  # x1 y1 x2 y2, by hand


def coins_rgb(scale: float = 1.0) -> np.ndarray:
    gray = samples.coins()
    if scale != 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return np.stack([gray] * 3, axis=-1)


@pytest.mark.parametrize("scale", [1.0, 1920 / 384])
def test_circles_finds_the_coins_and_nothing_else(scale: float) -> None:
    found = load_builtin("circles").predict([coins_rgb(scale)])[0]
    assert found.circles is not None
    centres = found.circles[:, :2] / scale
    radii = found.circles[:, 2] / scale
    distance = np.linalg.norm(centres[:, None, :] - COIN_CENTRES[None, :, :], axis=2)
    nearest = distance.min(axis=1)
    assert (nearest < np.maximum(radii / 2, 4)).all(), "every circle sits on a coin"
    matched = {int(i) for i in distance.argmin(axis=1)}
    assert len(matched) >= 20, f"found {len(matched)} of 24 coins"
    assert len(matched) == len(found), "no coin found twice"
    assert ((found.confidence > 0) & (found.confidence <= 1)).all()
    assert found.confidence.std() > 0, "the confidence is measured, not a constant"
    boxes = found.xyxy / scale
    assert np.allclose(boxes[:, 2] - boxes[:, 0], 2 * radii, atol=0.5)


def test_faces_finds_the_astronaut() -> None:
    found = load_builtin("faces").predict([samples.astronaut()])[0]
    assert len(found) == 1
    assert found.class_names[found.class_id[0]] == "face"
    assert box_iou(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.6


@pytest.mark.parametrize("name", ["circles", "faces"])
def test_plain_grey_image_has_nothing(name: str) -> None:
    grey = np.full((480, 640, 3), 128, np.uint8)
    assert len(load_builtin(name).predict([grey])[0]) == 0


def test_every_builtin_name_is_known() -> None:
    assert set(BUILTIN_NAMES) == {"text", "circles", "faces"}
