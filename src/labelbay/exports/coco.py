"""A streaming COCO writer: images are written as they come, annotations spooled to a temp file.

Memory stays flat however many images there are; the file is valid COCO that `pycocotools` loads.
Category ids are 1-based, in the order of the class names given. `add` takes an export image (see
`exports.project`), so project exports and job results go through the same annotation code.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from labelbay.exports.project import ExportImage, ExportObject
from labelbay.inference.detections import Detections


class TextOut(Protocol):
    def write(self, data: str, /) -> int: ...


class CocoWriter:
    def __init__(
        self, out: TextOut, *, categories: Sequence[str], description: str = "labelbay"
    ) -> None:
        self._out = out
        self._categories = list(categories)
        self._category_ids = {name: i + 1 for i, name in enumerate(self._categories)}
        self._annotations = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._image_count = 0
        self._annotation_count = 0
        info = {
            "description": description,
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        out.write('{"info": ' + json.dumps(info) + ', "images": [')

    def category_id(self, name: str) -> int:
        """The 1-based id of a class name; names not seen before are appended to the categories."""
        if name not in self._category_ids:
            self._categories.append(name)
            self._category_ids[name] = len(self._categories)
        return self._category_ids[name]

    def add_image(self, *, file_name: str, width: int, height: int, **extra: Any) -> int:
        self._image_count += 1
        image = {
            "id": self._image_count,
            "file_name": file_name,
            "width": width,
            "height": height,
            **extra,
        }
        self._out.write(("" if self._image_count == 1 else ", ") + json.dumps(image))
        return self._image_count

    def add_detections(
        self, image_id: int, detections: Detections, *, with_scores: bool = True
    ) -> None:
        boxes = detections.to_coco_bboxes()
        for i, bbox in enumerate(boxes):
            self.add_annotation(
                image_id,
                category=detections.name_of(int(detections.class_id[i])),
                bbox=bbox,
                score=float(detections.confidence[i]) if with_scores else None,
                text=detections.text[i] if detections.text is not None else None,
            )

    def add_annotation(
        self,
        image_id: int,
        *,
        category: str,
        bbox: Sequence[float],
        area: float | None = None,
        score: float | None = None,
        segmentation: list[list[float]] | None = None,
        text: str | None = None,
    ) -> None:
        """One annotation; `bbox` is COCO `[x, y, width, height]`, `area` defaults to its area."""
        self._annotation_count += 1
        annotation: dict[str, Any] = {
            "id": self._annotation_count,
            "image_id": image_id,
            "category_id": self.category_id(category),
            "bbox": [round(float(v), 2) for v in bbox],
            "area": round(area if area is not None else bbox[2] * bbox[3], 2),
            "iscrowd": 0,
        }
        if segmentation is not None:
            annotation["segmentation"] = segmentation
        if score is not None:
            annotation["score"] = round(score, 4)
        if text is not None:
            annotation["text"] = text
        prefix = "" if self._annotation_count == 1 else ", "
        self._annotations.write(prefix + json.dumps(annotation))

    def add(self, image: ExportImage) -> None:
        """An export image and its objects (classifications have no geometry and are left out)."""
        image_id = self.add_image(
            file_name=image.file_name,
            width=image.width,
            height=image.height,
            labelbay_id=str(image.id),
        )
        for obj in image.objects:
            if obj.box is not None:
                self._add_object(image_id, obj, obj.box)

    def _add_object(
        self, image_id: int, obj: ExportObject, box: tuple[float, float, float, float]
    ) -> None:
        x1, y1, x2, y2 = box
        bbox = [x1, y1, x2 - x1, y2 - y1]
        area: float | None = None
        segmentation = None
        if obj.points is not None:
            segmentation = [[c for point in obj.points for c in point]]
            area = _polygon_area(obj.points)
        elif obj.circle is not None:
            area = math.pi * obj.circle[2] ** 2
        self.add_annotation(
            image_id,
            category=obj.label,
            bbox=bbox,
            area=area,
            score=obj.score,
            segmentation=segmentation,
            text=obj.text,
        )

    def close(self) -> None:
        self._out.write('], "annotations": [')
        self._annotations.seek(0)
        while block := self._annotations.read(1 << 16):
            self._out.write(block)
        self._annotations.close()
        categories = [
            {"id": i + 1, "name": name, "supercategory": ""}
            for i, name in enumerate(self._categories)
        ]
        self._out.write('], "categories": ' + json.dumps(categories) + "}\n")

    def __enter__(self) -> CocoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._annotations.close()


def _polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace formula."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2
