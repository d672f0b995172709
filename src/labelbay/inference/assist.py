"""Assisted masks that need no weights: GrabCut from a box, a watershed from clicks, a magic wand.

Each tool works on a reduced copy and scales its mask back up, so a 1080p image answers in tens of
milliseconds rather than seconds (`python -m bench --only assist`):

- the region the tool looks at is cut out first (the box with a margin of background for GrabCut's
  colour model, or the whole image for clicks and the wand), then shrunk so its longer side is at
  most `WORK_SIDE` pixels (`GRABCUT_SIDE` for GrabCut, whose graph cut costs most). A JPEG is
  decoded straight at a reduced DCT scale when the cut-out allows it (`imageio.decode_image`), so
  a large photo is never decoded in full;
- the small mask goes back up by a bilinear resize of 0/255 and a threshold at half, which puts the
  edge between the coarse pixels instead of on a staircase. The edge is only as exact as a working
  pixel: there is no full-resolution refinement pass (not tried; GrabCut at full size costs
  seconds, see the benchmark).

Every answer is in the full image's pixels: the mask as COCO RLE (pycocotools, counts as text),
the outline of its largest part as a polygon, its box `[x, y, w, h]` and its area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from labelbay.errors import Invalid
from labelbay.inference.imageio import decode_image, image_size
from labelbay.labels import MaskGeometry, mask_polygon

BoolMask = npt.NDArray[np.bool_]
RGBImage = npt.NDArray[np.uint8]
Point = tuple[float, float]

#: Longest side of the reduced copy a tool runs on (see the module docstring and the benchmark).
WORK_SIDE = 512
#: GrabCut's own, smaller: its graph cut on a textured photo costs ~0.5 s a round at 512 pixels
#: and ~0.12 s at 256 on this machine (`bench/bench_assist.py`), against 300 ms for the answer.
GRABCUT_SIDE = 256
#: GrabCut rounds: on the coins 1, 2, 3 and 5 give the same 21 of 24, and each costs ~0.12 s here.
GRABCUT_ITERATIONS = 1
GRABCUT_SEED = 0
#: Background kept around a box, as a share of its longer side (GrabCut learns the background's
#: colours from it), at least `MIN_MARGIN` working pixels.
BOX_MARGIN = 0.15
MIN_MARGIN = 8
#: Radius of the object / background marker drawn around each click, in working pixels.
SEED_RADIUS = 3
_BACKGROUND, _OBJECT = 1, 2  # watershed marker labels
MAX_TOLERANCE = 255


@dataclass(frozen=True)
class Box:
    """GrabCut initialised from a rectangle `[x, y, w, h]` in image pixels."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Clicks:
    """Positive (label 1) and negative (label 0) clicks, at least one positive."""

    points: Sequence[Point]
    labels: Sequence[int]


@dataclass(frozen=True)
class Wand:
    """A flood fill from `point` over pixels within `tolerance` (0-255 per channel) of its colour."""

    point: Point
    tolerance: int = 24


Tool = Box | Clicks | Wand


@dataclass(frozen=True)
class MaskAnswer:
    """A mask in full-image pixels and what the API answers with."""

    mask: BoolMask

    def to_json(self) -> dict[str, Any]:
        """The mask as the `mask` label kind stores it (COCO RLE), its outline (the largest
        part, simplified to a pixel; holes and smaller parts are in the RLE), box and area."""
        geometry = MaskGeometry.encode(self.mask)
        polygon = mask_polygon(geometry, tolerance=1.0) or []
        x, y, w, h = (int(v) for v in coco_mask.toBbox(geometry.rle))
        return {
            "mask": geometry.model_dump(),
            "polygon": [[int(px), int(py)] for px, py in polygon],
            "box": [x, y, w, h],
            "area": geometry.area,
        }


def assist(data: bytes, tool: Tool) -> MaskAnswer:
    """Run `tool` on the encoded image `data`. `Invalid` when the tool's input does not fit the
    image; `imageio.ImageDecodeError` when the bytes are not a readable image."""
    size = image_size(data)
    if size is None:
        # Not readable by PIL's header parser: decode fully once, which raises a clear error
        # when OpenCV cannot read it either.
        size = decode_image(data).size
    width, height = size
    region = _region(tool, width, height)
    long_side = max(region[2] - region[0], region[3] - region[1])
    side = working_side(tool)
    # Decode only as finely as the working copy of the region needs.
    need = math.ceil(side * max(width, height) / long_side) if long_side > side else None
    decoded = decode_image(data, need)
    return run_tool(decoded.pixels, tool, original_size=(width, height), region=region)


def run_tool(
    pixels: RGBImage,
    tool: Tool,
    *,
    original_size: tuple[int, int] | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> MaskAnswer:
    """Run `tool` on decoded pixels, which may be a reduced copy of an image of `original_size`
    (width, height); `region` is the part to look at in original pixels (default: the tool's)."""
    width, height = original_size or (pixels.shape[1], pixels.shape[0])
    region = region or _region(tool, width, height)
    x0, y0, x1, y1 = region
    # original -> decoded pixels, then the region's crop -> its working copy
    to_decoded = pixels.shape[1] / width
    scale = min(1.0, working_side(tool) / max(x1 - x0, y1 - y0))
    crop = pixels[
        round(y0 * to_decoded) : max(round(y1 * to_decoded), round(y0 * to_decoded) + 1),
        round(x0 * to_decoded) : max(round(x1 * to_decoded), round(x0 * to_decoded) + 1),
    ]
    work_w = max(1, round((x1 - x0) * scale))
    work_h = max(1, round((y1 - y0) * scale))
    work: RGBImage = (
        crop
        if crop.shape[1] == work_w and crop.shape[0] == work_h
        else np.asarray(cv2.resize(crop, (work_w, work_h), interpolation=cv2.INTER_AREA))
    )
    sx, sy = work_w / (x1 - x0), work_h / (y1 - y0)

    def to_work(point: Point) -> tuple[int, int]:
        return (
            min(work_w - 1, max(0, int((point[0] - x0) * sx))),
            min(work_h - 1, max(0, int((point[1] - y0) * sy))),
        )

    if isinstance(tool, Box):
        corner = to_work((tool.x, tool.y))
        far = to_work((tool.x + tool.w, tool.y + tool.h))
        small = grabcut_box(work, (corner[0], corner[1], far[0] - corner[0], far[1] - corner[1]))
    elif isinstance(tool, Clicks):
        small = watershed_clicks(work, [to_work(p) for p in tool.points], tool.labels)
    else:
        small = flood(work, to_work(tool.point), tool.tolerance)
    full = np.zeros((height, width), dtype=bool)
    full[y0:y1, x0:x1] = _upscale(small, (x1 - x0, y1 - y0))
    return MaskAnswer(full)


def working_side(tool: Tool) -> int:
    return GRABCUT_SIDE if isinstance(tool, Box) else WORK_SIDE


def grabcut_box(image: RGBImage, rect: tuple[int, int, int, int]) -> BoolMask:
    """GrabCut from a rectangle `(x, y, w, h)`: outside is background, inside is to be decided."""
    x, y, w, h = rect
    if w < 2 or h < 2:
        # Too small for GrabCut's models at this scale: the rectangle is the answer.
        out = np.zeros(image.shape[:2], dtype=bool)
        out[y : y + max(h, 1), x : x + max(w, 1)] = True
        return out
    mask = np.zeros(image.shape[:2], np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models' k-means from OpenCV's thread-local random state: a fixed
    # seed makes the same box give the same mask, whatever ran on this thread before.
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(image, mask, rect, *models, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    return _foreground(mask)


def watershed_clicks(
    image: RGBImage, points: Sequence[tuple[int, int]], labels: Sequence[int]
) -> BoolMask:
    """A marker watershed: a small disk around each positive click floods as the object, the
    negative clicks and a frame one pixel inside the region's edge flood as background, and the
    two meet where the colour changes most steeply between them — the object's outline.

    Watershed rather than GrabCut with seeds: with only a few seed pixels GrabCut's foreground
    colour model is learnt from a few dozen pixels and, everything else being "probable
    background", it spreads over every patch of a similar colour (on the coins: 11 of 24 right,
    against 23 of 24 for this; tests/inference/test_assist.py).
    """
    height, width = image.shape[:2]
    markers = np.zeros((height, width), np.int32)
    # OpenCV's watershed keeps the outermost pixels as its own boundary; the frame goes inside.
    cv2.rectangle(markers, (1, 1), (max(1, width - 2), max(1, height - 2)), _BACKGROUND, 1)
    for (x, y), label in zip(points, labels, strict=True):
        if not label:
            cv2.circle(markers, (x, y), SEED_RADIUS, _BACKGROUND, -1)
    for (x, y), label in zip(points, labels, strict=True):
        if label:  # drawn last: a positive click wins over a frame or negative disk it touches
            cv2.circle(markers, (x, y), SEED_RADIUS, _OBJECT, -1)
    cv2.watershed(np.ascontiguousarray(image), markers)
    return np.asarray(markers == _OBJECT)


def flood(image: RGBImage, point: tuple[int, int], tolerance: int) -> BoolMask:
    """Pixels 8-connected to `point` whose colour is within `tolerance` of the seed's, per channel
    (a fixed range: compared with the seed, not with each neighbour, so it cannot creep)."""
    height, width = image.shape[:2]
    mask = np.zeros((height + 2, width + 2), np.uint8)
    diff = (tolerance, tolerance, tolerance)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    cv2.floodFill(np.ascontiguousarray(image), mask, point, (0, 0, 0), diff, diff, flags)
    return mask[1:-1, 1:-1].astype(bool)


def _foreground(grabcut_mask: npt.NDArray[np.uint8]) -> BoolMask:
    return np.asarray((grabcut_mask == cv2.GC_FGD) | (grabcut_mask == cv2.GC_PR_FGD))


def _upscale(small: BoolMask, size: tuple[int, int]) -> BoolMask:
    """A working-resolution mask at `size` (width, height): bilinear on 0/255, cut at half."""
    if (small.shape[1], small.shape[0]) == size:
        return small
    grey = cv2.resize(small.astype(np.uint8) * 255, size, interpolation=cv2.INTER_LINEAR)
    return np.asarray(grey >= 128)


def _region(tool: Tool, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of the image (x0, y0, x1, y1) a tool looks at, after checking its input fits."""
    if isinstance(tool, Box):
        _check_inside("box corner", (tool.x, tool.y), width, height, closed=True)
        _check_inside("box corner", (tool.x + tool.w, tool.y + tool.h), width, height, closed=True)
        if tool.w < 1 or tool.h < 1:
            raise Invalid("box must be at least 1 pixel wide and high")
        margin = max(BOX_MARGIN * max(tool.w, tool.h), MIN_MARGIN)
        return _clipped(tool.x - margin, tool.y - margin, tool.x + tool.w + margin,
                        tool.y + tool.h + margin, width, height)  # fmt: skip
    if isinstance(tool, Clicks):
        check_clicks(tool.points, tool.labels, width, height)
        return 0, 0, width, height
    _check_inside("wand point", tool.point, width, height)
    if not 0 <= tool.tolerance <= MAX_TOLERANCE:
        raise Invalid(f"tolerance must be between 0 and {MAX_TOLERANCE}")
    return 0, 0, width, height


def check_clicks(points: Sequence[Point], labels: Sequence[int], width: int, height: int) -> None:
    """Invalid unless every click is inside the image, labelled 0 or 1, one of them positive."""
    if len(points) != len(labels):
        raise Invalid("points and labels must have the same length")
    if any(label not in (0, 1) for label in labels):
        raise Invalid("labels are 1 (object) or 0 (background)")
    if not any(labels):
        raise Invalid("at least one positive click (label 1) is needed")
    for point in points:
        _check_inside("click", point, width, height)


def _check_inside(
    what: str, point: Point, width: int, height: int, *, closed: bool = False
) -> None:
    x, y = point
    inside = (
        (0 <= x <= width and 0 <= y <= height) if closed else (0 <= x < width and 0 <= y < height)
    )
    if not (math.isfinite(x) and math.isfinite(y) and inside):
        raise Invalid(f"{what} ({x:g}, {y:g}) is outside the {width}x{height} image")


def _clipped(
    x0: float, y0: float, x1: float, y1: float, width: int, height: int
) -> tuple[int, int, int, int]:
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(width, math.ceil(x1)),
        min(height, math.ceil(y1)),
    )
