"""Masks as PNG images in a zip: per image an instance map and a semantic map, and CSV keys.

- `instances/<file name>.png`: 16-bit, 0 background, k the image's k-th region (its row in
  `instances.csv`);
- `semantic/<file name>.png`: 0 background, class index + 1 (8-bit, 16-bit past 255 classes);
- `instances.csv`: `image,instance,class_index,class,kind,score,origin`;
- `classes.csv`: `index,name`, 0 being `background`.

The file name keeps its extension (`coins.jpg.png`), so two images that share a stem stay apart.
Regions are masks, polygons and circles (a polygon or circle rasterised as pycocotools does);
boxes, text lines and image classes are not regions and are left out. Where regions overlap, a
later one covers an earlier one in both maps. Every listed image gets both maps, empty when it has
no region, and one image's maps are in memory at a time.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Sequence

import cv2
import numpy as np

from labelbay.exports.base import ExportImage, Sink

REGION_KINDS = ("mask", "polygon", "circle")


class MaskWriter:
    def __init__(self, sink: Sink, *, categories: Sequence[str]) -> None:
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        self._names = list(categories)
        self._index = {name: i for i, name in enumerate(self._names)}
        self._rows = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._rows)
        self._csv.writerow(["image", "instance", "class_index", "class", "kind", "score", "origin"])

    def class_index(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self._names)
            self._names.append(name)
        return self._index[name]

    def add(self, image: ExportImage) -> None:
        shape = (image.height, image.width)
        instances = np.zeros(shape, np.uint16)
        semantic = np.zeros(shape, np.uint16)
        instance = 0
        for origin, label in image.labels():
            if label.kind not in REGION_KINDS:
                continue
            mask = label.mask_in(image.width, image.height)
            if mask is None or mask.area == 0:
                continue
            instance += 1
            if instance > np.iinfo(np.uint16).max:
                break  # a 16-bit map holds 65,535 regions; more are not written
            pixels = mask.decode().astype(bool)
            index = self.class_index(label.label)
            instances[pixels] = instance
            semantic[pixels] = index + 1
            score = "" if label.score is None else f"{label.score:.4f}"
            self._csv.writerow(
                [image.file_name, instance, index, label.label, label.kind, score, origin]
            )
        if len(self._names) < 256:
            semantic = semantic.astype(np.uint8)
        self._zip.writestr(f"instances/{image.file_name}.png", _png(instances))
        self._zip.writestr(f"semantic/{image.file_name}.png", _png(semantic))

    def close(self) -> None:
        self._rows.seek(0)
        with self._zip.open("instances.csv", "w") as entry:
            while block := self._rows.read(1 << 16):
                entry.write(block.encode("utf-8"))
        self._rows.close()
        classes = io.StringIO(newline="")
        writer = csv.writer(classes)
        writer.writerow(["index", "name"])
        writer.writerow([0, "background"])
        writer.writerows([i + 1, name] for i, name in enumerate(self._names))
        self._zip.writestr("classes.csv", classes.getvalue())
        self._zip.close()


def _png(pixels: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError("could not encode a PNG")
    return encoded.tobytes()
