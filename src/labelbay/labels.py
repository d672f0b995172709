"""The one label type: what a model found or a person drew on an image, from inference to export.

A `Label` is a kind, a class, an optional score, a geometry in pixels of the original image (origin
top left, so a point is inside when 0 <= x <= width and 0 <= y <= height), where it came from, and
free attributes. Its JSON form (`to_json()`, read back with `parse()`) is what `predictions.detections`
holds per detection, what an annotation row's columns hold, and what analyses store beside the
posted data. Geometry per kind (the same form the annotation API takes):

| kind | geometry |
|---|---|
| box | `{"x1", "y1", "x2", "y2"}` |
| circle | `{"cx", "cy", "r"}` |
| polygon | `{"points": [[x, y], ...]}` (3 or more) |
| text | a box, and optionally its quadrilateral `"points"`; the text in `text` |
| classification | `{}`; the other classes and their scores in `top_k` |
| mask | `{"size": [height, width], "counts": "<COCO compressed RLE>"}` |

A mask is COCO's compressed run-length encoding of a bitmap the size of the image (`pycocotools`
is the codec), so it costs what its runs cost, never a byte a pixel; its box and area come from
the runs. `mask_of` turns any label with an outline into one (a polygon rasterised as COCO does),
`mask_polygon` a mask into the polygon of its largest part (OpenCV's `findContours`).

One validation: numbers are finite, sizes are positive (`parse`); then against the image, model
output is clipped into it (`Label.fitted`) and a person's label that leaves it is refused
(`Label.check_inside`). Every box a reader needs comes from `Label.box_in`, so all formats agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labelbay.errors import Invalid

Kind = Literal["box", "circle", "polygon", "classification", "text", "mask"]
KINDS: tuple[str, ...] = ("box", "circle", "polygon", "classification", "text", "mask")
MAX_POINTS = 10_000
MAX_SIDE = 100_000  # a mask's height or width
MAX_RLE = 4 << 20  # characters of a mask's counts: a worst-case 1080p checkerboard is ~3 MB
MAX_LABEL = 200
Box = tuple[float, float, float, float]  # x1, y1, x2, y2


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if not math.isfinite(value):
        raise ValueError("must be finite")
    return float(value)


Coordinate = Annotated[float, BeforeValidator(_finite)]
# [x, y]: a list (not a tuple) in the schema, so generated clients read and write one type.
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BoxGeometry(_Frozen):
    x1: Coordinate
    y1: Coordinate
    x2: Coordinate
    y2: Coordinate

    @model_validator(mode="after")
    def _positive(self) -> BoxGeometry:
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError("x2 must be greater than x1 and y2 greater than y1")
        return self


class CircleGeometry(_Frozen):
    cx: Coordinate
    cy: Coordinate
    r: Coordinate

    @model_validator(mode="after")
    def _positive(self) -> CircleGeometry:
        if self.r <= 0:
            raise ValueError("r must be positive")
        return self


class PolygonGeometry(_Frozen):
    points: list[Point]

    @field_validator("points", mode="before")
    @classmethod
    def _count(cls, points: Any) -> Any:
        if not isinstance(points, list | tuple) or not 3 <= len(points) <= MAX_POINTS:
            raise ValueError(f"must be a list of 3 to {MAX_POINTS} [x, y] points")
        return points


class TextGeometry(BoxGeometry):
    """A text line: its box, and its quadrilateral (4 points, clockwise from top left) if known."""

    points: list[Point] | None = Field(default=None, min_length=4, max_length=4)


class NoGeometry(_Frozen):
    """A classification: the whole image."""


class MaskGeometry(_Frozen):
    """A bitmap of the image as COCO's compressed RLE: `size` is [height, width], `counts` the
    runs (column-major, background first) in COCO's 6-bit text form."""

    size: list[int] = Field(min_length=2, max_length=2, description="[height, width]")
    counts: str = Field(max_length=MAX_RLE)

    @model_validator(mode="after")
    def _decodable(self) -> MaskGeometry:
        if not all(0 < side <= MAX_SIDE for side in self.size):
            raise ValueError(f"size: must be [height, width], each 1 to {MAX_SIDE}")
        try:
            runs = rle_runs(self.counts)
        except ValueError as error:
            raise ValueError(f"counts: {error}") from None
        if int(runs.sum()) != self.size[0] * self.size[1]:
            raise ValueError(
                f"counts: the runs cover {int(runs.sum())} pixels, not the "
                f"{self.size[0]}x{self.size[1]} of size"
            )
        return self

    @property
    def rle(self) -> dict[str, Any]:
        """The form `pycocotools.mask` takes."""
        return {"size": list(self.size), "counts": self.counts.encode("ascii")}

    @property
    def area(self) -> int:
        """Pixels set: the sum of the odd runs."""
        return int(rle_runs(self.counts)[1::2].sum())

    def decode(self) -> Any:
        """The bitmap, (height, width) uint8 of 0 and 1 (runs are column-major)."""
        import numpy as np

        runs = rle_runs(self.counts)
        values = np.arange(len(runs), dtype=np.uint8) & 1
        height, width = self.size
        return np.ascontiguousarray(np.repeat(values, runs).reshape(width, height).T)

    @classmethod
    def encode(cls, bitmap: Any) -> MaskGeometry:
        """A (height, width) array, nonzero where set (a uint8 array of 0 and 1 in Fortran
        order is encoded as it is, without a copy)."""
        import numpy as np
        from pycocotools import mask as coco_mask

        array = np.asarray(bitmap)
        if array.dtype != np.uint8 or (array.size and array.max() > 1):
            array = (array != 0).astype(np.uint8)
        rle = coco_mask.encode(np.asfortranarray(array))
        return cls(size=[int(v) for v in rle["size"]], counts=rle["counts"].decode("ascii"))


# In this order a plain dict reads as the simplest match (a box before a text line without its
# quadrilateral); a `Label` picks the class by its kind instead.
Geometry = BoxGeometry | CircleGeometry | PolygonGeometry | TextGeometry | MaskGeometry | NoGeometry
GEOMETRY: dict[str, type[_Frozen]] = {
    "box": BoxGeometry,
    "circle": CircleGeometry,
    "polygon": PolygonGeometry,
    "text": TextGeometry,
    "classification": NoGeometry,
    "mask": MaskGeometry,
}


class ClassScore(_Frozen):
    label: str
    score: float = Field(ge=0, le=1)


class Source(_Frozen):
    """Who made a label: a model version (its registry id) or a person (a user id)."""

    model_version_id: int | None = None
    user_id: int | None = None


class Label(_Frozen):
    kind: Kind
    label: str = Field(min_length=1, max_length=MAX_LABEL)
    class_id: int | None = Field(default=None, description="Index in the model's classes.")
    score: float | None = Field(default=None, ge=0, le=1)
    geometry: Geometry = Field(default_factory=NoGeometry)
    text: str | None = Field(default=None, max_length=10_000)
    top_k: list[ClassScore] | None = Field(
        default=None, description="A classifier's best classes with their scores, best first."
    )
    source: Source | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _geometry_of_kind(cls, data: Any) -> Any:
        """The geometry is read as the class its kind names (a box and a text line look alike)."""
        if isinstance(data, Mapping) and data.get("kind") in GEOMETRY:
            geometry = data.get("geometry", {})
            wanted = GEOMETRY[data["kind"]]
            if not isinstance(geometry, wanted):
                if isinstance(geometry, BaseModel):
                    geometry = geometry.model_dump(exclude_none=True)
                try:
                    data = {**data, "geometry": wanted.model_validate(geometry)}
                except ValidationError as error:
                    raise ValueError(f"geometry.{describe(error)}") from None
        return data

    @property
    def box(self) -> Box | None:
        """The box around the geometry (not clipped); None for a classification."""
        g = self.geometry
        if isinstance(g, BoxGeometry):
            return (g.x1, g.y1, g.x2, g.y2)
        if isinstance(g, CircleGeometry):
            return (g.cx - g.r, g.cy - g.r, g.cx + g.r, g.cy + g.r)
        if isinstance(g, PolygonGeometry):
            xs, ys = [p[0] for p in g.points], [p[1] for p in g.points]
            return (min(xs), min(ys), max(xs), max(ys))
        if isinstance(g, MaskGeometry):
            return _mask_box(g)
        return None

    def box_in(self, width: float, height: float) -> Box | None:
        """The box clipped to the image: what every export writes. None when nothing is left."""
        box = self.box
        if box is None:
            return None
        x1, y1, x2, y2 = _clip_box(box, width, height)
        return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None

    @property
    def points(self) -> list[tuple[float, float]] | None:
        g = self.geometry
        if isinstance(g, PolygonGeometry | TextGeometry) and g.points:
            return [(p[0], p[1]) for p in g.points]
        return None

    def outline_in(
        self, width: float, height: float, *, segments: int = 32
    ) -> list[tuple[float, float]] | None:
        """The label's outline as a polygon clipped to the image: a polygon's own points, a
        circle as a `segments`-gon, a text line's quadrilateral, else the box's corners. None for
        a classification or a label with nothing inside the image."""
        box = self.box_in(width, height)
        if box is None:
            return None
        g = self.geometry
        if isinstance(g, CircleGeometry):
            angles = [2 * math.pi * i / segments for i in range(segments)]
            points = [(g.cx + g.r * math.cos(a), g.cy + g.r * math.sin(a)) for a in angles]
        elif isinstance(g, MaskGeometry) and (outline := mask_polygon(g)) is not None:
            points = outline
        elif self.points is not None:
            points = self.points
        else:
            x1, y1, x2, y2 = box
            return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        return [_clip_point(p, width, height) for p in points]

    def area_in(self, width: float, height: float) -> float:
        """The label's own area (a circle's disc, a polygon's shoelace), else its clipped box's."""
        g = self.geometry
        if isinstance(g, CircleGeometry):
            return math.pi * g.r**2
        if isinstance(g, PolygonGeometry):
            return polygon_area([(p[0], p[1]) for p in g.points])
        if isinstance(g, MaskGeometry):
            return float(g.area)
        box = self.box_in(width, height)
        return 0.0 if box is None else (box[2] - box[0]) * (box[3] - box[1])

    def fitted(self, width: float, height: float) -> Label | None:
        """Model output made to fit the image: boxes and points clipped into it. None when nothing
        is left inside (an empty box, a circle whose centre is outside)."""
        g = self.geometry
        if isinstance(g, NoGeometry):
            return self
        if isinstance(g, CircleGeometry):
            inside = 0 <= g.cx <= width and 0 <= g.cy <= height
            return self if inside else None
        if isinstance(g, PolygonGeometry):
            points = [list(_clip_point((p[0], p[1]), width, height)) for p in g.points]
            return self._with(PolygonGeometry(points=points)) if _spans(points) else None
        if isinstance(g, MaskGeometry):
            if g.size != [int(height), int(width)]:
                g = _resized(g, int(width), int(height))
            return self._with(g) if g.area > 0 else None
        assert isinstance(g, BoxGeometry)
        x1, y1, x2, y2 = _clip_box((g.x1, g.y1, g.x2, g.y2), width, height)
        if x2 <= x1 or y2 <= y1:
            return None
        fields: dict[str, Any] = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
        if isinstance(g, TextGeometry) and g.points:
            fields["points"] = [list(_clip_point((p[0], p[1]), width, height)) for p in g.points]
        return self._with(type(g)(**fields))

    def check_inside(self, width: float, height: float) -> None:
        """Refuse (Invalid, naming the problem) a person's label that leaves the image."""
        g = self.geometry
        size = f"the image ({width:g}x{height:g} pixels)"
        if isinstance(g, CircleGeometry):
            if not (g.r <= g.cx <= width - g.r and g.r <= g.cy <= height - g.r):
                raise Invalid(
                    f"circle at ({g.cx:g}, {g.cy:g}) with radius {g.r:g} leaves {size}: "
                    "the whole circle must lie inside"
                )
        elif isinstance(g, PolygonGeometry):
            check_points_inside(self.points or [], width, height, where="polygon")
        elif isinstance(g, MaskGeometry):
            if g.size != [int(height), int(width)]:
                raise Invalid(
                    f"mask size {g.size} is not [height, width] of {size}: a mask covers the "
                    "whole image"
                )
            if g.area == 0:
                raise Invalid("mask: no pixel is set")
        elif isinstance(g, BoxGeometry):
            if g.x1 < 0 or g.y1 < 0 or g.x2 > width or g.y2 > height:
                raise Invalid(
                    f"{self.kind} ({g.x1:g}, {g.y1:g})-({g.x2:g}, {g.y2:g}) lies outside {size}"
                )
            if isinstance(g, TextGeometry) and g.points:
                check_points_inside(self.points or [], width, height, where="text")

    def mask_in(self, width: int, height: int) -> MaskGeometry | None:
        """The label as a mask of the image: a mask as it is, anything with an outline (a
        polygon, a circle's 32-gon, a box) rasterised as `pycocotools` does (`frPyObjects`, what
        COCOeval's segm evaluation does with a polygon). None for a classification."""
        g = self.geometry
        if isinstance(g, MaskGeometry):
            return g if g.size == [height, width] else _resized(g, width, height)
        outline = self.outline_in(width, height)
        return None if outline is None else polygon_mask(outline, width, height)

    def to_json(self) -> dict[str, Any]:
        """The stored form: unset optional fields are left out."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "kind": self.kind,
            "geometry": self.geometry.model_dump(mode="json", exclude_none=True),
        }

    def _with(self, geometry: _Frozen) -> Label:
        return self.model_copy(update={"geometry": geometry})


def parse(data: Mapping[str, Any], *, where: str = "label") -> Label:
    """A label from its JSON form, or `Invalid` naming the first problem."""
    try:
        return Label.model_validate(data)
    except ValidationError as error:
        raise Invalid(f"{where}: {describe(error)}") from None


def make(
    kind: str,
    label: str,
    geometry: Mapping[str, Any] | None = None,
    *,
    where: str | None = None,
    **fields: Any,
) -> Label:
    """A label from its parts (an API body, an import record), or `Invalid` naming the problem."""
    if kind not in GEOMETRY:
        raise Invalid(f"unknown label kind {kind!r}; known kinds: {', '.join(KINDS)}")
    data = {"kind": kind, "label": label, "geometry": dict(geometry or {}), **fields}
    return parse(data, where=where or kind)


def describe(error: ValidationError) -> str:
    first = error.errors()[0]
    place = ".".join(str(part) for part in first["loc"] if part not in ("function-after",))
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{place}: {message}" if place else message


def worker_json(label: Label, *, width: float, height: float) -> dict[str, Any]:
    """A label in the object-detection worker's result format (the legacy contracts):
    `{class_id, class_name, confidence, bbox: {x1, y1, x2, y2}, circle?, text?}`."""
    box = label.box_in(width, height) or (0.0, 0.0, float(width), float(height))
    row: dict[str, Any] = {
        "class_id": -1 if label.class_id is None else label.class_id,
        "class_name": label.label,
        "confidence": label.score if label.score is not None else 1.0,
        "bbox": dict(zip(("x1", "y1", "x2", "y2"), (round(v, 2) for v in box), strict=True)),
    }
    if isinstance(label.geometry, CircleGeometry):
        g = label.geometry
        row["circle"] = {"cx": g.cx, "cy": g.cy, "r": g.r}
    if label.text is not None:
        row["text"] = label.text
    if label.top_k is not None:
        row["top_k"] = [c.model_dump() for c in label.top_k]
    return row


def check_points_inside(
    points: Sequence[tuple[float, float]], width: float, height: float, *, where: str
) -> None:
    for index, (x, y) in enumerate(points):
        if not (0 <= x <= width and 0 <= y <= height):
            raise Invalid(
                f"{where}: point {index} ({x:g}, {y:g}) lies outside the image "
                f"({width:g}x{height:g} pixels)"
            )


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace formula."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def rle_runs(counts: str) -> Any:
    """The runs of COCO's compressed RLE text as an int64 array (maskApi.c's `rleFrString`,
    vectorised), or ValueError when the text is not one: each run is 6-bit groups (char - 48),
    low bits first, 0x20 = more follow, 0x10 in the last = negative; from the fourth run on, a
    run is stored as its difference to the run two before."""
    import numpy as np

    if not counts.isascii():
        raise ValueError("not COCO's compressed RLE text (characters '0' to 'o')")
    chars = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    if chars.size and (chars.min() < 0 or chars.max() > 63):
        raise ValueError("not COCO's compressed RLE text (characters '0' to 'o')")
    last = np.flatnonzero((chars & 0x20) == 0)
    if chars.size and (last.size == 0 or last[-1] != chars.size - 1):
        raise ValueError("ends in the middle of a number")
    starts = np.concatenate(([0], last[:-1] + 1)) if last.size else last
    length = last - starts + 1
    if length.size and length.max() > 7:
        raise ValueError("holds a number too large for a mask")
    shift = 5 * (np.arange(chars.size) - np.repeat(starts, length))
    values = np.add.reduceat((chars & 0x1F) << shift, starts) if last.size else last
    negative = (chars[last] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * length)), values)
    runs = values.copy()
    runs[3::2] = np.cumsum(values[3::2]) + (values[1] if values.size > 1 else 0)
    runs[4::2] = np.cumsum(values[4::2]) + (values[2] if values.size > 2 else 0)
    if runs.size and runs.min() < 0:
        raise ValueError("decodes to a negative run")
    return runs


def polygon_mask(points: Sequence[tuple[float, float]], width: int, height: int) -> MaskGeometry:
    """A polygon as a mask of a width x height image, rasterised by `pycocotools`."""
    from pycocotools import mask as coco_mask

    flat = [float(c) for point in points for c in point]
    if len(flat) == 4:  # pycocotools reads 4 numbers as a box: repeat a point to stay a polygon
        flat += flat[:2]
    (rle,) = coco_mask.frPyObjects([flat], height, width)
    return MaskGeometry(size=[height, width], counts=rle["counts"].decode("ascii"))


def mask_polygon(mask: MaskGeometry, *, tolerance: float = 0.0) -> list[tuple[float, float]] | None:
    """The outer contour of the mask's largest part (OpenCV's `findContours`, the border pixels'
    coordinates), simplified to within `tolerance` pixels when given (Douglas-Peucker); None when
    that part is thinner than a polygon (under 3 points)."""
    import cv2

    contours, _ = cv2.findContours(mask.decode(), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    if tolerance > 0:
        largest = cv2.approxPolyDP(largest, tolerance, closed=True)
    if len(largest) < 3:
        return None
    return [(float(x), float(y)) for x, y in largest.reshape(-1, 2)]


def _mask_box(mask: MaskGeometry) -> Box | None:
    from pycocotools import mask as coco_mask

    if mask.area == 0:
        return None
    x, y, w, h = (float(v) for v in coco_mask.toBbox(mask.rle))
    return (x, y, x + w, y + h)


def _resized(mask: MaskGeometry, width: int, height: int) -> MaskGeometry:
    """The mask scaled to width x height (nearest pixel), e.g. a model's mask of a reduced
    image."""
    import cv2

    return MaskGeometry.encode(
        cv2.resize(mask.decode(), (width, height), interpolation=cv2.INTER_NEAREST)
    )


def _clip_box(box: Box, width: float, height: float) -> Box:
    x1, y1, x2, y2 = box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def _clip_point(point: tuple[float, float], width: float, height: float) -> tuple[float, float]:
    return (min(max(point[0], 0.0), width), min(max(point[1], 0.0), height))


def _spans(points: Sequence[Sequence[float]]) -> bool:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return max(xs) > min(xs) and max(ys) > min(ys)


def uncertainty(found: Sequence[Label]) -> float | None:
    """How unsure a model was about one image, from 0 (sure) to 1 (a coin flip): 1 minus the
    smallest margin among its scored labels. A classification's margin is its top-1 minus its
    top-2 score (top-2 is 0 when the model gave none); a detection's is |2s - 1|, the margin
    between "object" (score s) and "no object" (1 - s), so a box scored 0.5 is the least sure.
    None when no label has a score (nothing to be unsure about). The `uncertain` review queue
    orders by this, highest first; it is stored with each prediction."""
    margins: list[float] = []
    for label in found:
        if label.kind == "classification" and label.top_k:
            second = label.top_k[1].score if len(label.top_k) > 1 else 0.0
            margins.append(label.top_k[0].score - second)
        elif label.score is not None:
            margins.append(abs(2 * label.score - 1))
    return None if not margins else round(1.0 - min(margins), 6)
