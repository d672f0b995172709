"""Label Studio tasks with pre-annotations: one task per image, written one at a time.

Model detections go in `predictions` (Label Studio shows them as suggestions), people's annotations
in `annotations`. Coordinates are percentages of the image, as Label Studio stores them; boxes are
`rectanglelabels`, circles `ellipselabels`, polygons `polygonlabels`, an image class `choices`.
The labeling config these fit names the image `image` and the tags `label` / `choice`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from labelbay.exports.base import ExportImage, Origin, Sink
from labelbay.labels import CircleGeometry, Label

FROM_NAME = "label"
CHOICE_NAME = "choice"
TO_NAME = "image"


class LabelStudioWriter:
    def __init__(
        self, sink: Sink, *, image_url: Callable[[ExportImage], str], model_version: str
    ) -> None:
        self._sink = sink
        self._image_url = image_url
        self._model_version = model_version
        self._count = 0
        sink.write("[")

    def add(self, image: ExportImage) -> None:
        task: dict[str, Any] = {
            "data": {
                TO_NAME: self._image_url(image),
                "file_name": image.file_name,
                "labelbay_id": str(image.id),
            }
        }
        predicted, annotated = image.predicted, image.annotated
        if predicted:
            scores = [x.score for x in predicted if x.score is not None]
            task["predictions"] = [
                {
                    "model_version": self._model_version,
                    "score": round(min(scores), 4) if scores else None,
                    "result": [result(image, x, "prediction", i) for i, x in enumerate(predicted)],
                }
            ]
        if annotated:
            task["annotations"] = [
                {"result": [result(image, x, "annotation", i) for i, x in enumerate(annotated)]}
            ]
        self._sink.write(("\n" if self._count == 0 else ",\n") + json.dumps(task))
        self._count += 1

    def close(self) -> None:
        self._sink.write("\n]\n")


def result(image: ExportImage, label: Label, origin: Origin, index: int) -> dict[str, Any]:
    """One Label Studio result region for a label; boxes clipped to the image as everywhere."""
    w, h = image.width, image.height
    value: dict[str, Any]
    box = label.box_in(w, h)
    g = label.geometry
    if box is None:
        kind, from_name, value = "choices", CHOICE_NAME, {"choices": [label.label]}
    elif label.kind == "polygon" and label.points is not None:
        points = [[100 * x / w, 100 * y / h] for x, y in label.points]
        kind, from_name = "polygonlabels", FROM_NAME
        value = {"points": points, "polygonlabels": [label.label]}
    elif isinstance(g, CircleGeometry):
        kind, from_name = "ellipselabels", FROM_NAME
        value = {
            "x": 100 * g.cx / w,
            "y": 100 * g.cy / h,
            "radiusX": 100 * g.r / w,
            "radiusY": 100 * g.r / h,
            "rotation": 0,
            "ellipselabels": [label.label],
        }
    else:
        x1, y1, x2, y2 = box
        kind, from_name = "rectanglelabels", FROM_NAME
        value = {
            "x": 100 * x1 / w,
            "y": 100 * y1 / h,
            "width": 100 * (x2 - x1) / w,
            "height": 100 * (y2 - y1) / h,
            "rotation": 0,
            "rectanglelabels": [label.label],
        }
    out: dict[str, Any] = {
        "id": f"{origin[0]}{index}",
        "type": kind,
        "from_name": from_name,
        "to_name": TO_NAME,
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": value,
    }
    if origin == "prediction" and label.score is not None:
        out["score"] = round(label.score, 4)
    return out
