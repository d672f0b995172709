"""`circles`: circular objects (coins, cells, wells) by OpenCV's Hough gradient transform.

The circular-detection backend's job, offline. Every parameter is relative to the image's shorter
side, so the same settings work on a 300-pixel scan and a 4K photo. The confidence of a circle is
its edge support: the share of points on its circumference that lie on an edge running along it and
standing out of the texture around it. The Hough transform proposes chance circles in noise, fur or
fabric; that contrast test is what turns them down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from labelbay.inference.base import Model, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections

_Index = npt.NDArray[np.intp]

CLASS_NAMES = ("circle",)
_SAMPLES = 96  # points checked on each circumference
_RADIAL = 0.8  # |cos| between an edge's gradient and the radius: within ~37 degrees
WORKING_SIDE = 480  # shorter side the transform runs at
# Rings (in radii) where the texture around a circle is measured: clear of the rim's own gradient.
_INSIDE = (0.45, 0.6, 0.75)
_OUTSIDE = (1.25, 1.4, 1.55)
# An edge is this many times steeper than the texture: the image's median gradient for Canny, the
# rings' for a rim. In uniform noise a chance circle's rim reaches about 2x; the rims of coins, eyes
# and badges 3x to 10x and more.
_CONTRAST = 3.0


def spec() -> ModelSpec:
    return ModelSpec(
        name="circles",
        format="builtin",
        task="detect",
        version="1",
        class_names=CLASS_NAMES,
        confidence_threshold=0.3,
        options={
            "min_radius": 0.035,  # of the shorter side
            "max_radius": 0.12,
            "min_distance": 0.06,
            "accumulator": 35,
            "canny_high": 120,
        },
    )


class CirclesModel(Model):
    preferred_side = 640

    def __init__(self, model_spec: ModelSpec | None = None) -> None:
        super().__init__(model_spec or spec())
        defaults = spec().options
        self._opts: dict[str, Any] = {**defaults, **self.spec.options}

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        grays = [cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) for img in images]
        return Prepared(inputs=grays, meta=[{"shape": g.shape} for g in grays])

    def forward(self, prepared: Prepared) -> list[npt.NDArray[np.float32]]:
        return [self._hough(gray) for gray in prepared.inputs]

    def _hough(self, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        # The accumulator threshold counts votes, which grow with the radius: working at a fixed
        # size makes one threshold right for every input size. Small images are enlarged (up to
        # 4x) for the same reason: a 10-pixel rim gives too few votes to pass that threshold.
        factor = min(4.0, WORKING_SIDE / min(gray.shape))
        if factor != 1.0:
            interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
            gray = np.asarray(
                cv2.resize(gray, None, fx=factor, fy=factor, interpolation=interpolation), np.uint8
            )
        side = min(gray.shape)
        blurred = np.asarray(cv2.GaussianBlur(gray, (0, 0), max(1.0, side / 300)), np.uint8)
        gradient = _Gradient.of(blurred)
        # Edges must stand out of the image's texture: in noise, grass or gravel Canny's fixed
        # threshold passes a fifth of all pixels, and the transform spends up to a second voting
        # for chance circles. Photos and scans have a median gradient far below the fixed one.
        canny_high = max(float(self._opts["canny_high"]), _CONTRAST * gradient.median())
        found = cv2.HoughCircles(
            blurred,
            cv2.HOUGH_GRADIENT,
            dp=1.2,
            minDist=max(2.0, side * float(self._opts["min_distance"])),
            param1=canny_high,
            param2=float(self._opts["accumulator"]),
            minRadius=max(2, int(side * float(self._opts["min_radius"]))),
            maxRadius=max(3, int(side * float(self._opts["max_radius"]))),
        )
        if found is None:
            return np.zeros((0, 4), np.float32)
        circles = found[0].astype(np.float32)
        support = _edge_support(blurred, gradient, circles, canny_high)
        return np.column_stack([circles / factor, support]).astype(np.float32)

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        results = []
        for found in outputs:
            keep = found[:, 3] >= self.spec.confidence_threshold
            found = found[keep][np.argsort(-found[keep][:, 3])][: self.spec.max_detections]
            cx, cy, r, score = found[:, 0], found[:, 1], found[:, 2], found[:, 3]
            boxes = np.column_stack([cx - r, cy - r, cx + r, cy + r])
            results.append(
                Detections.create(
                    boxes,
                    score,
                    np.zeros(len(found)),
                    class_names=CLASS_NAMES,
                    circles=found[:, :3],
                )
            )
        return results


class _Gradient(NamedTuple):
    """Sobel derivatives of an image and their magnitude."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.float32]
    magnitude: npt.NDArray[np.float32]

    @classmethod
    def of(cls, gray: npt.NDArray[np.uint8]) -> _Gradient:
        gx = np.asarray(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), np.float32)
        gy = np.asarray(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3), np.float32)
        return cls(gx, gy, np.asarray(cv2.magnitude(gx, gy), np.float32))

    def median(self) -> float:
        """The image's typical gradient (every other pixel is plenty to estimate it)."""
        return float(np.median(self.magnitude[::2, ::2]))


def _edge_support(
    gray: npt.NDArray[np.uint8],
    gradient: _Gradient,
    circles: npt.NDArray[np.float32],
    canny_high: float,
) -> npt.NDArray[np.float32]:
    """Share of circumference samples that sit on a rim: a Canny edge, radial, above the texture.

    Each sample looks a few pixels in and out along its radius (a coin is never a perfect circle)
    and counts an edge only when its gradient points along that radius (texture inside a coin or a
    straight edge crossing the circle is not support) and is `_CONTRAST` times the texture around
    the circle. That texture is the median gradient on rings inside and outside the rim, whichever
    side is quieter: a coin on a plain table or an eye in fur stands out of one side; a chance
    circle in noise, grass or fabric has the same texture on both sides and no support.
    """
    edges = cv2.Canny(gray, canny_high / 2, canny_high) > 0
    gx, gy, magnitude = gradient
    angles = np.linspace(0, 2 * np.pi, _SAMPLES, endpoint=False)
    cos, sin = np.cos(angles), np.sin(angles)
    radius = circles[:, 2:3]

    def ring(distance: npt.NDArray[np.float32]) -> tuple[_Index, _Index, npt.NDArray[np.bool_]]:
        """Pixel rows, columns and an in-image mask of the samples `distance` from the centre."""
        xs = circles[:, 0:1] + distance * cos
        ys = circles[:, 1:2] + distance * sin
        height, width = gray.shape
        inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
        rows = np.clip(np.rint(ys).astype(np.intp), 0, height - 1)
        cols = np.clip(np.rint(xs).astype(np.intp), 0, width - 1)
        return rows, cols, inside

    def texture(scales: tuple[float, ...]) -> npt.NDArray[np.float32]:
        samples = [magnitude[ring(radius * scale)[:2]] for scale in scales]
        median: npt.NDArray[np.float32] = np.median(np.concatenate(samples, axis=1), axis=1)
        return median[:, None]

    floor = _CONTRAST * np.minimum(texture(_INSIDE), texture(_OUTSIDE))
    tolerance = np.maximum(1.5, 0.05 * radius)
    hits = np.zeros((len(circles), _SAMPLES), bool)
    for step in np.linspace(-1.0, 1.0, 5):
        rows, cols, inside = ring(radius + step * tolerance)
        radial = np.abs(gx[rows, cols] * cos + gy[rows, cols] * sin)
        on_rim = (radial > _RADIAL * magnitude[rows, cols]) & (radial > floor)
        hits |= edges[rows, cols] & on_rim & inside
    support: npt.NDArray[np.float32] = hits.mean(axis=1).astype(np.float32)
    return support
