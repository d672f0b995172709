"""Checking posted annotations against their image: known types, geometry inside it, confidences.

Coordinates are pixels of the original image, origin top left, so a point (x, y) is inside when
0 <= x <= width and 0 <= y <= height. `data` is stored as posted; only what is checked here must be
present, other keys (a track id, a colour) ride along. This module reads the contract's field
names (`x_min`, `radius`, ...); a box, polygon, circle or classification then becomes a
`labelbay.labels.Label`, checked against the image by the label model, like every other label, and
stored beside the posted data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelbay import labels
from labelbay.errors import Invalid

MAX_POINTS = 10_000
MAX_CLASS_NAME = 200


@dataclass(frozen=True)
class Frame:
    """The image the coordinates refer to."""

    width: int
    height: int


@dataclass(frozen=True)
class AnnotationInput:
    annotation_type: str
    class_name: str | None
    confidence: float | None
    data: Mapping[str, Any]
    storage_path: str | None


def _number(data: Mapping[str, Any], name: str, where: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{where}: data.{name} must be a number")
    if not math.isfinite(value):
        raise Invalid(f"{where}: data.{name} must be finite")
    return float(value)


def _points(data: Mapping[str, Any], where: str, *, minimum: int) -> list[tuple[float, float]]:
    points = data.get("points")
    if not isinstance(points, list) or not minimum <= len(points) <= MAX_POINTS:
        raise Invalid(f"{where}: data.points must be a list of {minimum} to {MAX_POINTS} points")
    out = []
    for index, point in enumerate(points):
        at = f"{where}: data.points[{index}]"
        if isinstance(point, Mapping):
            x, y = _number(point, "x", at), _number(point, "y", at)
        elif isinstance(point, Sequence) and not isinstance(point, str) and 2 <= len(point) <= 3:
            x, y = _number({"x": point[0]}, "x", at), _number({"y": point[1]}, "y", at)
        else:
            raise Invalid(f"{at} must be [x, y], [x, y, visibility] or {{'x': .., 'y': ..}}")
        out.append((x, y))
    return out


def _bounding_box(item: AnnotationInput, where: str) -> dict[str, Any]:
    x_min, y_min, x_max, y_max = (
        _number(item.data, name, where) for name in ("x_min", "y_min", "x_max", "y_max")
    )
    if x_min >= x_max or y_min >= y_max:
        raise Invalid(f"{where}: a box needs x_min < x_max and y_min < y_max")
    return {"kind": "box", "geometry": {"x1": x_min, "y1": y_min, "x2": x_max, "y2": y_max}}


def _heatmap(item: AnnotationInput, where: str, _frame: Frame) -> None:
    for name in ("width", "height"):
        value = item.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise Invalid(f"{where}: data.{name} must be a whole number of pixels (1 to 100000)")
    if not artifact_path(item):
        raise Invalid(f"{where}: a heatmap needs the storage_path of its uploaded artifact")


def _polygon(item: AnnotationInput, where: str) -> dict[str, Any]:
    return {"kind": "polygon", "geometry": {"points": _points(item.data, where, minimum=3)}}


def _circle(item: AnnotationInput, where: str) -> dict[str, Any]:
    x, y = _number(item.data, "x", where), _number(item.data, "y", where)
    radius = _number(item.data, "radius", where)
    if radius <= 0:
        raise Invalid(f"{where}: data.radius must be positive")
    return {"kind": "circle", "geometry": {"cx": x, "cy": y, "r": radius}}


def _classification(item: AnnotationInput, where: str) -> dict[str, Any]:
    if not item.class_name:
        raise Invalid(f"{where}: a classification needs a class_name")
    return {"kind": "classification", "geometry": {}}


def _keypoints(item: AnnotationInput, where: str, frame: Frame) -> None:
    points = _points(item.data, where, minimum=1)
    labels.check_points_inside(points, frame.width, frame.height, where=where)


def artifact_path(item: AnnotationInput) -> str | None:
    """The artifact an annotation cites: `storage_path` beside `data`, or inside it."""
    if item.storage_path is not None:
        return item.storage_path
    inner = item.data.get("storage_path")
    return inner if isinstance(inner, str) else None


# Types the label model has: the contract's fields as a label's kind and geometry.
AS_LABEL: dict[str, Callable[[AnnotationInput, str], dict[str, Any]]] = {
    "bounding_box": _bounding_box,
    "polygon": _polygon,
    "circle": _circle,
    "classification": _classification,
}
# Types it has not: checked here.
OTHER_CHECKS: dict[str, Callable[[AnnotationInput, str, Frame], None]] = {
    "heatmap": _heatmap,
    "keypoints": _keypoints,
}
ANNOTATION_TYPES: tuple[str, ...] = (
    "bounding_box",
    "heatmap",
    "polygon",
    "circle",
    "classification",
    "keypoints",
)


def check_annotation(
    item: AnnotationInput, *, index: int, frame: Frame, artifact_paths: set[str]
) -> labels.Label | None:
    """The annotation as a label (None for a type the label model has not, or one without a
    class), or `Invalid` naming `annotations[index]` and the problem."""
    where = f"annotations[{index}]"
    if item.annotation_type not in ANNOTATION_TYPES:
        raise Invalid(
            f"{where}: unknown annotation_type {item.annotation_type!r}; "
            f"known types: {', '.join(ANNOTATION_TYPES)}"
        )
    if item.confidence is not None and not (
        math.isfinite(item.confidence) and 0.0 <= item.confidence <= 1.0
    ):
        raise Invalid(f"{where}: confidence {item.confidence:g} is outside [0, 1]")
    if item.class_name is not None and (
        not item.class_name.strip()
        or len(item.class_name) > MAX_CLASS_NAME
        or any(ord(ch) < 0x20 for ch in item.class_name)
    ):
        raise Invalid(f"{where}: class_name must be 1 to {MAX_CLASS_NAME} printable characters")
    path = artifact_path(item)
    if path is not None and path not in artifact_paths:
        raise Invalid(
            f"{where}: storage_path {path!r} is not an artifact of this analysis (presign it first)"
        )
    other = OTHER_CHECKS.get(item.annotation_type)
    if other is not None:
        other(item, where, frame)
        return None
    shape = AS_LABEL[item.annotation_type](item, where)
    label = labels.parse(
        {**shape, "label": item.class_name or "object", "score": item.confidence}, where=where
    )
    try:
        label.check_inside(frame.width, frame.height)
    except Invalid as error:
        raise Invalid(f"{where}: {error}") from None
    return label if item.class_name else None
