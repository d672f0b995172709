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

from labelbay.exports.project import ExportImage, ExportObject, Sink

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
        predicted = [o for o in image.objects if o.origin == "prediction"]
        annotated = [o for o in image.objects if o.origin == "annotation"]
        if predicted:
            scores = [o.score for o in predicted if o.score is not None]
            task["predictions"] = [
                {
                    "model_version": self._model_version,
                    "score": round(min(scores), 4) if scores else None,
                    "result": [result(image, o, i) for i, o in enumerate(predicted)],
                }
            ]
        if annotated:
            task["annotations"] = [
                {"result": [result(image, o, i) for i, o in enumerate(annotated)]}
            ]
        self._sink.write(("\n" if self._count == 0 else ",\n") + json.dumps(task))
        self._count += 1

    def close(self) -> None:
        self._sink.write("\n]\n")


def result(image: ExportImage, obj: ExportObject, index: int) -> dict[str, Any]:
    """One Label Studio result region for an object."""
    w, h = image.width, image.height
    value: dict[str, Any]
    if obj.kind == "classification" or obj.box is None:
        kind, from_name, value = "choices", CHOICE_NAME, {"choices": [obj.label]}
    elif obj.points is not None:
        points = [[100 * x / w, 100 * y / h] for x, y in obj.points]
        kind, from_name = "polygonlabels", FROM_NAME
        value = {"points": points, "polygonlabels": [obj.label]}
    elif obj.circle is not None and obj.kind == "circle":
        cx, cy, r = obj.circle
        kind, from_name = "ellipselabels", FROM_NAME
        value = {
            "x": 100 * cx / w,
            "y": 100 * cy / h,
            "radiusX": 100 * r / w,
            "radiusY": 100 * r / h,
            "rotation": 0,
            "ellipselabels": [obj.label],
        }
    else:
        x1, y1, x2, y2 = obj.box
        kind, from_name = "rectanglelabels", FROM_NAME
        value = {
            "x": 100 * x1 / w,
            "y": 100 * y1 / h,
            "width": 100 * (x2 - x1) / w,
            "height": 100 * (y2 - y1) / h,
            "rotation": 0,
            "rectanglelabels": [obj.label],
        }
    out: dict[str, Any] = {
        "id": f"{obj.origin[0]}{index}",
        "type": kind,
        "from_name": from_name,
        "to_name": TO_NAME,
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": value,
    }
    if obj.score is not None:
        out["score"] = round(obj.score, 4)
    return out
