"""Label Studio tasks with pre-annotations, one task per image, and the labeling config they fit.

Model labels go in `predictions` (Label Studio shows them as suggestions), people's annotations in
`annotations`. Coordinates are percentages of the image, as Label Studio stores them. Each kind of
region has its own control tag, named after it, because Label Studio ties a result to one control by
`from_name` and a control has one type: boxes are `rectanglelabels` from `box`, circles
`ellipselabels` from `circle`, polygons `polygonlabels` from `polygon`, masks `brushlabels` from
`brush` (Label Studio's own RLE, `brush_rle.py`, pixel for pixel), text lines `rectanglelabels`
from `text_line` plus a per-region `textarea` from `transcription` (same region id), and an image
class `choices` from `class`. `labeling_config` writes the config with those
names, listing the project's classes. The task's image URL is the caller's (`image_url`): the API
writes signed links that open the image without sign-in (`security/signed_urls.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from labelbay import brush_rle
from labelbay.exports.base import ExportImage, Origin, Sink
from labelbay.labels import CircleGeometry, Label, MaskGeometry

TO_NAME = "image"
# from_name of each control: one control tag per region type.
BOX, CIRCLE, POLYGON, BRUSH, TEXT_LINE, TRANSCRIPTION, CLASS = (
    "box",
    "circle",
    "polygon",
    "brush",
    "text_line",
    "transcription",
    "class",
)


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
                "labelbay_id": None if image.id is None else str(image.id),
            }
        }
        predicted, annotated = image.predicted, image.annotated
        if predicted:
            scores = [x.score for x in predicted if x.score is not None]
            task["predictions"] = [
                {
                    "model_version": self._model_version,
                    "score": round(min(scores), 4) if scores else None,
                    "result": _results(image, predicted, "prediction"),
                }
            ]
        if annotated:
            task["annotations"] = [{"result": _results(image, annotated, "annotation")}]
        self._sink.write(("\n" if self._count == 0 else ",\n") + json.dumps(task))
        self._count += 1

    def close(self) -> None:
        self._sink.write("\n]\n")


def _results(image: ExportImage, labels: Sequence[Label], origin: Origin) -> list[dict[str, Any]]:
    return [region for i, label in enumerate(labels) for region in result(image, label, origin, i)]


def result(image: ExportImage, label: Label, origin: Origin, index: int) -> list[dict[str, Any]]:
    """The Label Studio result regions of a label (two for a text line: its box and its text);
    boxes are clipped to the image as in every other format."""
    w, h = image.width, image.height
    value: dict[str, Any]
    box = label.box_in(w, h)
    g = label.geometry
    if box is None:
        kind, from_name, value = "choices", CLASS, {"choices": [label.label]}
    elif isinstance(g, MaskGeometry) and (mask := label.mask_in(w, h)) is not None:
        rle = list(brush_rle.encode(mask.decode()))
        kind, from_name = "brushlabels", BRUSH
        value = {"format": "rle", "rle": rle, "brushlabels": [label.label]}
    elif label.kind == "polygon" and (outline := label.outline_in(w, h)) is not None:
        points = [[100 * x / w, 100 * y / h] for x, y in outline]
        kind, from_name = "polygonlabels", POLYGON
        value = {"points": points, "polygonlabels": [label.label]}
    elif isinstance(g, CircleGeometry):
        kind, from_name = "ellipselabels", CIRCLE
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
        kind, from_name = "rectanglelabels", TEXT_LINE if label.kind == "text" else BOX
        value = {
            "x": 100 * x1 / w,
            "y": 100 * y1 / h,
            "width": 100 * (x2 - x1) / w,
            "height": 100 * (y2 - y1) / h,
            "rotation": 0,
            "rectanglelabels": [label.label],
        }
    region = {
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
        region["score"] = round(label.score, 4)
    regions = [region]
    if label.kind == "text" and label.text is not None:
        # The transcription is a second result on the same region (same id), as Label Studio's
        # OCR template stores it.
        geometry = {k: v for k, v in value.items() if k != "rectanglelabels"}
        text = {**region, "type": "textarea", "from_name": TRANSCRIPTION}
        regions.append(text | {"value": geometry | {"text": [label.text]}})
    return regions


def labeling_config(classes: Sequence[str]) -> str:
    """The labeling config the tasks fit: one control per region type, the classes in each."""
    labels = "".join(f"\n    <Label value={quoteattr(name)}/>" for name in classes)
    choices = "".join(f"\n    <Choice value={quoteattr(name)}/>" for name in classes)
    to = f'toName="{TO_NAME}"'
    return (
        "<View>\n"
        f'  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
        f'  <RectangleLabels name="{BOX}" {to}>{labels}\n  </RectangleLabels>\n'
        f'  <EllipseLabels name="{CIRCLE}" {to}>{labels}\n  </EllipseLabels>\n'
        f'  <PolygonLabels name="{POLYGON}" {to}>{labels}\n  </PolygonLabels>\n'
        f'  <BrushLabels name="{BRUSH}" {to}>{labels}\n  </BrushLabels>\n'
        f'  <RectangleLabels name="{TEXT_LINE}" {to}>{labels}\n  </RectangleLabels>\n'
        f'  <TextArea name="{TRANSCRIPTION}" {to} perRegion="true" editable="true"'
        ' displayMode="region-list"/>\n'
        f'  <Choices name="{CLASS}" {to} choice="single">{choices}\n  </Choices>\n'
        "</View>\n"
    )
