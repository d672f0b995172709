"""`faces`: frontal faces with the Haar cascade that ships inside the opencv-python-headless 4.x wheel.

The cascade gives no probability. With `outputRejectLevels`, OpenCV reports for each face the vote
sum of the cascade's last stage (the "level weight"); a window passes that stage when the sum is at
least the stage's threshold (-2.99 in this cascade), so the sum says how far past the final test it
got. Confidence here is that weight squashed monotonically into (0, 1) by a logistic: higher means
more face-like, and 0.5 sits between what faces and false windows measured (see WEIGHT_CENTRE), but
it is not a calibrated probability: the only labelled faces offline (skimage's lfw_subset) give
too few false detections to fit one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from labelbay.inference.base import Model, ModelError, ModelSpec, Prepared, RGBImage
from labelbay.inference.detections import Detections

CLASS_NAMES = ("face",)
CASCADE = "haarcascade_frontalface_default.xml"
# Measured with this cascade: on the 100 faces of skimage's lfw_subset() the final-stage weight has
# 10th percentile 2.7 and median 6.0. Windows it wrongly takes for faces in skimage's other photos
# (asking 1 neighbour instead of 5) have median weight 1.1, but a quarter reach 3 to 5.6: the
# weight alone separates faces only roughly; the neighbour count removes most false windows.
WEIGHT_CENTRE = 2.0
WEIGHT_SCALE = 1.0


def spec() -> ModelSpec:
    return ModelSpec(
        name="faces",
        format="builtin",
        task="detect",
        version="1",
        class_names=CLASS_NAMES,
        confidence_threshold=0.5,
        options={"min_size": 0.06, "neighbours": 5},
    )


def cascade_path() -> Path:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not (Path(folder) / CASCADE).is_file():
        raise ModelError(
            "the faces model needs OpenCV's Haar cascades, which the opencv-python-headless 4.x "
            "wheels carry (5.x wheels do not)"
        )
    return Path(folder) / CASCADE


class FacesModel(Model):
    preferred_side = 800

    def __init__(self, model_spec: ModelSpec | None = None) -> None:
        super().__init__(model_spec or spec())
        self._opts: dict[str, Any] = {**spec().options, **self.spec.options}
        self._cascade = cv2.CascadeClassifier(str(cascade_path()))
        if self._cascade.empty():
            raise ModelError(f"could not load {CASCADE}")

    def pre_process(self, images: Sequence[RGBImage]) -> Prepared:
        grays = [
            cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY))
            for img in images
        ]
        return Prepared(inputs=grays, meta=[{} for _ in grays])

    def forward(self, prepared: Prepared) -> list[tuple[Any, Any]]:
        out = []
        for gray in prepared.inputs:
            side = max(16, int(min(gray.shape) * float(self._opts["min_size"])))
            boxes, _levels, weights = self._cascade.detectMultiScale3(
                gray,
                scaleFactor=1.1,
                minNeighbors=int(self._opts["neighbours"]),
                minSize=(side, side),
                outputRejectLevels=True,
            )
            out.append((np.asarray(boxes, np.float32), np.asarray(weights, np.float32)))
        return out

    def post_process(self, outputs: Any, prepared: Prepared) -> list[Detections]:
        results = []
        for boxes, weights in outputs:
            boxes = boxes.reshape(-1, 4)
            margin = (weights.reshape(-1) - WEIGHT_CENTRE) / WEIGHT_SCALE
            scores = 1.0 / (1.0 + np.exp(-margin))
            keep = scores >= self.spec.confidence_threshold
            boxes, scores = boxes[keep], scores[keep]
            order = np.argsort(-scores)[: self.spec.max_detections]
            xyxy = boxes[order].copy()
            xyxy[:, 2:] += xyxy[:, :2]
            results.append(
                Detections.create(
                    xyxy, scores[order], np.zeros(len(order)), class_names=CLASS_NAMES
                )
            )
        return results
