"""A streaming COCO writer: images are written as they come, annotations spooled to a temp file.

Memory stays flat however many images there are; the file is valid COCO that `pycocotools` loads.
Category ids are 1-based, in the order of the class names given.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any

from labelbay.inference.detections import Detections


class CocoWriter:
    def __init__(
        self, out: IO[str], *, categories: Sequence[str], description: str = "labelbay"
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
            self._annotation_count += 1
            annotation: dict[str, Any] = {
                "id": self._annotation_count,
                "image_id": image_id,
                "category_id": self.category_id(detections.name_of(int(detections.class_id[i]))),
                "bbox": bbox,
                "area": round(bbox[2] * bbox[3], 2),
                "iscrowd": 0,
            }
            if with_scores:
                annotation["score"] = round(float(detections.confidence[i]), 4)
            if detections.text is not None:
                annotation["text"] = detections.text[i]
            prefix = "" if self._annotation_count == 1 else ", "
            self._annotations.write(prefix + json.dumps(annotation))

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
