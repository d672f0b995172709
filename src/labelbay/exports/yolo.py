"""YOLO labels as a zip: `labels/<stem>.txt` per image, `images.txt`, and `data.yaml`.

Detection (`yolo`): each label line is `class cx cy w h`. Segmentation (`yolo-seg`, Ultralytics'
segment layout): each line is `class x1 y1 x2 y2 …`, the label's outline (a polygon's points, a
mask's largest part as OpenCV traces it, a circle's 32-gon, a box's corners), because Ultralytics
reads a file as segments when any line is one and cannot mix the two forms. Coordinates are
normalised to the image size; class indices are 0-based in the
order of `data.yaml`'s `names` (the project's label set, then any other names met on the way). Every
image gets its txt file, empty when it has no box, which YOLO trainers read as "background". The zip
is written to a non-seekable sink, so it streams (entries carry data descriptors).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath

from labelbay.exports.base import ExportImage, ImageBytes, Sink


class YoloWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        categories: Sequence[str],
        image_bytes: ImageBytes | None = None,
        segments: bool = False,
    ) -> None:
        self._segments = segments
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        self._image_bytes = image_bytes
        self._names = list(categories)
        self._index = {name: i for i, name in enumerate(self._names)}
        self._image_list: list[str] = []

    def class_index(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self._names)
            self._names.append(name)
        return self._index[name]

    def add(self, image: ExportImage) -> None:
        lines = []
        for _, label in image.labels():
            if self._segments:
                outline = label.outline_in(image.width, image.height)
                if outline is not None:
                    xy = " ".join(
                        f"{x / image.width:.6f} {y / image.height:.6f}" for x, y in outline
                    )
                    lines.append(f"{self.class_index(label.label)} {xy}")
                continue
            box = label.box_in(image.width, image.height)  # clipped, as in every format
            if box is None:
                continue
            x1, y1, x2, y2 = box
            cx = (x1 + x2) / 2 / image.width
            cy = (y1 + y2) / 2 / image.height
            w = (x2 - x1) / image.width
            h = (y2 - y1) / image.height
            lines.append(f"{self.class_index(label.label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        stem = PurePosixPath(image.file_name).stem
        self._zip.writestr(f"labels/{stem}.txt", "".join(line + "\n" for line in lines))
        self._image_list.append(f"images/{image.file_name}")
        if self._image_bytes is not None:
            # Already compressed (JPEG, PNG, WebP): stored, not deflated again.
            data = self._image_bytes(image)
            self._zip.writestr(f"images/{image.file_name}", data, zipfile.ZIP_STORED)

    def close(self) -> None:
        # `images.txt` costs one short string per image (a few MB at 100k): the one list kept.
        self._zip.writestr("images.txt", "".join(name + "\n" for name in self._image_list))
        self._zip.writestr("data.yaml", data_yaml(self._names))
        self._zip.close()


def data_yaml(names: Sequence[str]) -> str:
    """Ultralytics' dataset file. Names are JSON-quoted, which YAML reads as plain strings."""
    lines = ["path: .", "train: images.txt", "val: images.txt", f"nc: {len(names)}", "names:"]
    lines += [f"  {i}: {json.dumps(name)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"
