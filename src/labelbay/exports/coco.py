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
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from labelbay.exports.base import ExportImage, ImageBytes, Sink
from labelbay.labels import Label, MaskGeometry


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

    def add_annotation(self, image_id: int, fields: dict[str, Any]) -> None:
        """One annotation: `fields` as `label_fields` gives them (bbox, area, segmentation, ...)."""
        self._annotation_count += 1
        annotation = {"id": self._annotation_count, "image_id": image_id, **fields}
        annotation["category_id"] = self.category_id(annotation.pop("category"))
        prefix = "" if self._annotation_count == 1 else ", "
        self._annotations.write(prefix + json.dumps(annotation))

    def add_image_of(self, image: ExportImage) -> int:
        return self.add_image(
            file_name=image.file_name,
            width=image.width,
            height=image.height,
            **({} if image.id is None else {"labelbay_id": str(image.id)}),
        )

    def add(self, image: ExportImage) -> None:
        """An export image and its labels (predictions with their scores)."""
        image_id = self.add_image_of(image)
        for origin, label in image.labels():
            fields = label_fields(label, image, scored=origin == "prediction")
            if fields is not None:
                self.add_annotation(image_id, fields)

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


def label_fields(label: Label, image: ExportImage, *, scored: bool) -> dict[str, Any] | None:
    """A label's COCO annotation fields, or None for one without a box (an image class).

    Every annotation has a `segmentation`, so `COCOeval(iouType="segm")` and other readers can use
    any of them: a mask's compressed RLE (`{"size": [h, w], "counts": "…"}` with `iscrowd` 0, as
    COCO results and pycocotools' `annToRLE` take it), a polygon's points, a circle as a 32-gon, a
    text line's quadrilateral, else the box's rectangle, all clipped to the image like the box."""
    w, h = image.width, image.height
    box = label.box_in(w, h)
    if box is None:
        return None
    segmentation: Any
    if isinstance(label.geometry, MaskGeometry):
        mask = label.mask_in(w, h)
        assert mask is not None
        segmentation = {"size": mask.size, "counts": mask.counts}
    else:
        outline = label.outline_in(w, h)
        if outline is None:
            return None
        segmentation = [[round(c, 2) for point in outline for c in point]]
    x1, y1, x2, y2 = box
    fields: dict[str, Any] = {
        "category": label.label,
        "bbox": [round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)],
        "area": round(label.area_in(w, h), 2),
        "segmentation": segmentation,
        "iscrowd": 0,
    }
    if scored and label.score is not None:
        fields["score"] = round(label.score, 4)
    if label.text is not None:
        fields["text"] = label.text
    return fields


class CocoZipWriter:
    """COCO as a zip, in the layout datumaro, supervision and detectron read as downloaded:
    `annotations/instances_default.json` (a COCO file) and, with `image_bytes`, every image under
    `images/`. With `split` (`source=both`) the COCO file holds people's labels (the ground truth)
    and `predictions.json` the model's labels as a COCO results list with the same image and
    category ids, so `COCO(...).loadRes("predictions.json")` and `COCOeval` take them as they are.
    Images go into the zip as they come; the JSON files are spooled to temp files and added last."""

    INSTANCES = "annotations/instances_default.json"
    RESULTS = "predictions.json"

    def __init__(
        self,
        sink: Sink,
        *,
        categories: Sequence[str],
        split: bool,
        image_bytes: ImageBytes | None = None,
    ) -> None:
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        self._split = split
        self._image_bytes = image_bytes
        self._truth_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._truth = CocoWriter(self._truth_file, categories=categories)
        self._results = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._results.write("[")
        self._result_count = 0

    def add(self, image: ExportImage) -> None:
        image_id = self._truth.add_image_of(image)
        if self._image_bytes is not None:
            data = self._image_bytes(image)
            self._zip.writestr(f"images/{image.file_name}", data, zipfile.ZIP_STORED)
        for origin, label in image.labels():
            as_result = self._split and origin == "prediction"
            fields = label_fields(label, image, scored=origin == "prediction")
            if fields is None:
                continue
            if not as_result:
                self._truth.add_annotation(image_id, fields)
                continue
            fields["image_id"] = image_id
            fields["category_id"] = self._truth.category_id(fields.pop("category"))
            prefix = "" if self._result_count == 0 else ", "
            self._results.write(prefix + json.dumps(fields))
            self._result_count += 1

    def close(self) -> None:
        self._truth.close()
        self._results.write("]\n")
        files = [(self.INSTANCES, self._truth_file)]
        if self._split:
            files.append((self.RESULTS, self._results))
        for name, spool in files:
            spool.seek(0)
            with self._zip.open(name, "w") as entry:
                while block := spool.read(1 << 16):
                    entry.write(block.encode("utf-8"))
        self._truth_file.close()
        self._results.close()
        self._zip.close()
