"""Assisted masks without weights on skimage's coins(): GrabCut from each coin's box, a watershed
from one click on it, and the wand; answers in full-image pixels read back by pycocotools.

Ground truth is the `circles` test's hand-checked coins (tests/inference/builtin/test_circles.py):
each hand-marked centre picks its coin's thresholded region, and the coin's disk is centred on that
region's extent with the mean of its half-width and half-height as radius. (The coins are not
quite round — up to 41 x 36 pixels — so the disk of the longer side is a circle around the coin,
not the coin: against it even the thresholded coin itself reaches IoU 0.9 for only 16 of 24. Both
figures are printed by `coin_scores` for the record; the acceptance uses the mean radius.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from pycocotools import mask as coco_mask

from labelbay.errors import Invalid
from labelbay.inference import assist
from labelbay.inference.imageio import ImageDecodeError
from tests.inference.builtin import samples
from tests.inference.builtin.test_circles import COIN_CENTRES, coin_regions

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Coin:
    centre: tuple[float, float]  # the hand-marked point
    box: tuple[float, float, float, float]  # [x, y, w, h] of the disk
    disk: Mask


@cache
def coins() -> tuple[Coin, ...]:
    labels, _ = coin_regions()
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    found = []
    for x, y in COIN_CENTRES:
        region_ys, region_xs = np.nonzero(labels == labels[int(y), int(x)])
        x0, x1 = region_xs.min(), region_xs.max() + 1
        y0, y1 = region_ys.min(), region_ys.max() + 1
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        radius = ((x1 - x0) + (y1 - y0)) / 4
        disk = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        box = (cx - radius, cy - radius, 2 * radius, 2 * radius)
        found.append(Coin((float(x), float(y)), box, disk))
    return tuple(found)


def iou(a: Mask, b: Mask) -> float:
    return float((a & b).sum() / (a | b).sum())


def coin_scores(tool_of: type[assist.Box] | type[assist.Clicks]) -> list[float]:
    image = samples.coins()
    scores = []
    for coin in coins():
        tool = assist.Box(*coin.box) if tool_of is assist.Box else assist.Clicks([coin.centre], [1])
        scores.append(iou(assist.run_tool(image, tool).mask, coin.disk))
    print(tool_of.__name__, " ".join(f"{s:.2f}" for s in scores))
    return scores


def test_grabcut_from_each_coins_box() -> None:
    """Acceptance: IoU >= 0.9 for at least 20 of the 24 coins (21 today). Three coins of the top
    row, on the brightest part of the uneven background, are lost: GrabCut finds no foreground
    in their boxes (with the box of the coin's longer side instead: 22)."""
    scores = np.array(coin_scores(assist.Box))
    assert (scores >= 0.9).sum() >= 20, scores.round(2)
    assert np.median(scores) >= 0.92


def test_one_click_in_each_coin() -> None:
    """Acceptance: IoU >= 0.85 for at least 18 of the 24 coins (23 today)."""
    scores = np.array(coin_scores(assist.Clicks))
    assert (scores >= 0.85).sum() >= 18, scores.round(2)
    assert np.median(scores) >= 0.9


def test_a_negative_click_takes_a_part_away() -> None:
    """Two coins clicked as one object, then the second clicked as background: it leaves."""
    image = samples.coins()
    first, second = coins()[6], coins()[7]
    both = assist.run_tool(image, assist.Clicks([first.centre, second.centre], [1, 1])).mask
    assert iou(both, first.disk | second.disk) >= 0.85
    one = assist.run_tool(image, assist.Clicks([first.centre, second.centre], [1, 0])).mask
    assert iou(one, first.disk) >= 0.85
    assert not (one & second.disk).any()


def test_the_same_box_on_a_1080p_canvas() -> None:
    """The reduced copy and the scale back up: on coins() enlarged into 1920x1080 the box covers
    ~250 pixels, worked on at most 512 and answered in full-size pixels."""
    big = samples.to_1080p(samples.coins())
    found = 0
    for coin in coins():
        x, y, w, h = coin.box
        box = assist.Box(x * big.scale + big.offset[0], y * big.scale + big.offset[1],
                         w * big.scale, h * big.scale)  # fmt: skip
        mask = assist.run_tool(big.image, box).mask
        assert mask.shape == (1080, 1920)
        height, width = coin.disk.shape
        disk = np.zeros((1080, 1920), bool)
        ys, xs = np.nonzero(coin.disk)
        small = np.zeros((height, width), np.uint8)
        small[ys, xs] = 255
        enlarged = cv2.resize(small, None, fx=big.scale, fy=big.scale) >= 128
        x0, y0 = big.offset
        disk[y0 : y0 + enlarged.shape[0], x0 : x0 + enlarged.shape[1]] = enlarged
        found += iou(mask, disk) >= 0.9
    assert found >= 20


def _ring_image() -> npt.NDArray[np.uint8]:
    """A grey field with a red disk (radius 40 at (100, 80)) and a gradient band that creeps."""
    image = np.full((200, 300, 3), 128, np.uint8)
    ys, xs = np.mgrid[0:200, 0:300]
    image[(xs - 100) ** 2 + (ys - 80) ** 2 < 40**2] = (200, 30, 30)
    image[:, 200:] = np.linspace(128, 255, 100, dtype=np.uint8)[None, :, None]
    return image


def test_the_wand_fills_the_colour_it_starts_on() -> None:
    image = _ring_image()
    ys, xs = np.mgrid[0:200, 0:300]
    disk = (xs - 100) ** 2 + (ys - 80) ** 2 < 40**2
    mask = assist.run_tool(image, assist.Wand((100, 80), tolerance=10)).mask
    assert np.array_equal(mask, disk)
    # A fixed range against the seed's colour: the gradient band stops at the tolerance.
    grey = assist.run_tool(image, assist.Wand((10, 10), tolerance=20)).mask
    band = image[0, 200:, 0]
    assert np.array_equal(grey[0, 200:], band <= 148)
    assert not (grey & disk).any()


# pycocotools 2.0.x's decode passes copy=False to numpy 2's __array__ protocol.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_the_answer_reads_back_with_pycocotools() -> None:
    image = _ring_image()
    answer = assist.run_tool(image, assist.Wand((100, 80), tolerance=10))
    body = answer.to_json()
    decoded = coco_mask.decode({"size": body["mask"]["size"], "counts": body["mask"]["counts"]})
    assert np.array_equal(decoded.astype(bool), answer.mask)
    assert body["mask"]["size"] == [200, 300]
    assert body["area"] == int(answer.mask.sum())
    assert body["box"] == [61, 41, 79, 79]  # the disk's pixels: x 61..139, y 41..119
    polygon = np.array(body["polygon"])
    assert len(polygon) >= 8
    assert (np.abs(np.hypot(polygon[:, 0] - 100, polygon[:, 1] - 80) - 39.5) < 2).all()


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (assist.Box(-5, 10, 20, 20), r"box corner \(-5, 10\) is outside the 300x200 image"),
        (assist.Box(290, 10, 20, 20), r"box corner \(310, 30\) is outside"),
        (assist.Box(10, 10, 0, 20), "box must be at least 1 pixel wide and high"),
        (assist.Box(10, 10, float("nan"), 20), "outside"),
        (assist.Clicks([(10, 10)], [0]), "at least one positive click"),
        (assist.Clicks([(10, 10), (20, 20)], [1]), "same length"),
        (assist.Clicks([(10, 10)], [2]), "labels are 1"),
        (assist.Clicks([(300, 10)], [1]), r"click \(300, 10\) is outside"),
        (assist.Wand((10, 200)), r"wand point \(10, 200\) is outside"),
        (assist.Wand((10, 10), tolerance=256), "tolerance must be between 0 and 255"),
        (assist.Wand((10, 10), tolerance=-1), "tolerance must be between 0 and 255"),
    ],
)
def test_input_that_does_not_fit_the_image_is_refused(tool: assist.Tool, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        assist.run_tool(_ring_image(), tool)


def test_bytes_that_are_no_image_are_refused() -> None:
    with pytest.raises(ImageDecodeError):
        assist.assist(b"\x89PNG\r\n\x1a\nnot really", assist.Wand((1, 1)))


def test_a_jpeg_is_decoded_at_a_reduced_scale_and_answered_at_full_size() -> None:
    """A 1920x1080 JPEG: the wand's working copy is 512 wide, so libjpeg decodes at 1/2 (960
    wide >= 512) and the answer is still 1920x1080."""
    image = np.full((1080, 1920, 3), 60, np.uint8)
    image[300:700, 500:1100] = 220
    answer = assist.assist(samples.encode(image, ".jpg"), assist.Wand((800, 500), tolerance=30))
    assert answer.mask.shape == (1080, 1920)
    expected = np.zeros((1080, 1920), bool)
    expected[300:700, 500:1100] = True
    # The edge is placed to within a working pixel (3.75 full-size pixels) by the upscale.
    assert iou(answer.mask, expected) > 0.98
