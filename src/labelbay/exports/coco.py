"""A streaming COCO writer: images are written as they come, annotations spooled to a temp file.

Memory stays flat however many images there are; the file is valid COCO that `pycocotools` loads.
Category ids are 1-based, in the order of the class names given. `add` takes an export image (see
`exports.base`), so project exports and `labelbay label` go through the same annotation code. A
label's box is `Label.box_in` (clipped to the image), as in every other format; classifications
have no box and are left out.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from labelbay.exports.base import ExportImage


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
        """An export image and its labels."""
        image_id = self.add_image(
            file_name=image.file_name,
            width=image.width,
            height=image.height,
            **({} if image.id is None else {"labelbay_id": str(image.id)}),
        )
        for origin, label in image.labels():
            box = label.box_in(image.width, image.height)
            if box is None:
                continue
            x1, y1, x2, y2 = box
            points = label.points if label.kind == "polygon" else None
            self.add_annotation(
                image_id,
                category=label.label,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                area=label.area_in(image.width, image.height),
                score=label.score if origin == "prediction" else None,
                segmentation=None if points is None else [[c for p in points for c in p]],
                text=label.text,
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
