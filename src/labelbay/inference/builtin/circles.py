"""`circles`: circular objects (coins, cells, wells) by OpenCV's Hough gradient transform.

The circular-detection backend's job, offline. Every parameter is relative to the image's shorter
side, so the same settings work on a 300-pixel scan and a 4K photo. The confidence of a circle is
its edge support: the share of points on its circumference that lie on an image edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from labelbay.inference.base import Model, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections

CLASS_NAMES = ("circle",)
_SAMPLES = 96  # points checked on each circumference
WORKING_SIDE = 480  # shorter side the transform runs at


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
        # size makes one threshold right for every input size.
        factor = min(1.0, WORKING_SIDE / min(gray.shape))
        if factor < 1.0:
            gray = np.asarray(
                cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), np.uint8
            )
        side = min(gray.shape)
        blurred = np.asarray(cv2.GaussianBlur(gray, (0, 0), max(1.0, side / 300)), np.uint8)
        found = cv2.HoughCircles(
            blurred,
            cv2.HOUGH_GRADIENT,
            dp=1.2,
            minDist=max(2.0, side * float(self._opts["min_distance"])),
            param1=float(self._opts["canny_high"]),
            param2=float(self._opts["accumulator"]),
            minRadius=max(2, int(side * float(self._opts["min_radius"]))),
            maxRadius=max(3, int(side * float(self._opts["max_radius"]))),
        )
        if found is None:
            return np.zeros((0, 4), np.float32)
        circles = found[0].astype(np.float32)
        support = _edge_support(blurred, circles, float(self._opts["canny_high"]))
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


def _edge_support(
    gray: npt.NDArray[np.uint8], circles: npt.NDArray[np.float32], canny_high: float
) -> npt.NDArray[np.float32]:
    """Share of circumference samples within two pixels of a Canny edge, per circle."""
    edges = cv2.Canny(gray, canny_high / 2, canny_high)
    near_edge = cv2.dilate(edges, np.ones((5, 5), np.uint8)) > 0
    angles = np.linspace(0, 2 * np.pi, _SAMPLES, endpoint=False)
    xs = circles[:, 0:1] + circles[:, 2:3] * np.cos(angles)
    ys = circles[:, 1:2] + circles[:, 2:3] * np.sin(angles)
    height, width = gray.shape
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    xi = np.clip(xs.astype(np.int64), 0, width - 1)
    yi = np.clip(ys.astype(np.int64), 0, height - 1)
    hits = near_edge[yi, xi] & inside
    support: npt.NDArray[np.float32] = hits.mean(axis=1).astype(np.float32)
    return support
