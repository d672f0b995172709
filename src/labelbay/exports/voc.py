"""Pascal VOC detection as a zip: `Annotations/<id>.xml` per image, `ImageSets/Main/default.txt`,
`labelmap.txt`, and with `image_bytes` the images under `JPEGImages/`.

`<id>` is the image's file name without its extension (unique by stem in every export). Each
label with a box is an `<object>`: `name`, `pose` (Unspecified), `truncated` (1 when the label runs
past the image edge and its box was clipped), `difficult` and `occluded` (0), and `bndbox`. Circles,
polygons and text lines are written as their boxes (`Label.box_in`, clipped to the image, as in
every format); image classes have no box and are left out.

Coordinates are whole pixels, rounded to the nearest: VOC's devkit and most readers expect
integers (`int(xmin.text)`). They are the box's edges as labelbay holds them (0-based, `xmax` is
the right edge), which is what datumaro reads and writes by default (its `dm-zero-based` mode), so
a box comes back from datumaro or from labelbay's importer within half a pixel. Readers that
apply the original devkit's 1-based convention (detectron2 subtracts 1 from `xmin`/`ymin`) see
the top-left corner one pixel up and left.

VOC has no score: a prediction's score and a text line's text go in an `<attributes>` block
(`<attribute><name>score</name><value>0.93</value></attribute>`), the extension datumaro reads
into an annotation's attributes and other VOC readers ignore. `labelmap.txt` (`name:::`, one per
class, in the order of the project's label set, then names met on the way) is how datumaro learns
the classes; without it datumaro assumes VOC's twenty.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from xml.sax.saxutils import escape

from labelbay.exports.base import ExportImage, ImageBytes, Sink
from labelbay.labels import Label

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
IMAGE_SET = "ImageSets/Main/default.txt"
LABELMAP = "labelmap.txt"


class VocWriter:
    def __init__(
        self, sink: Sink, *, categories: Sequence[str], image_bytes: ImageBytes | None = None
    ) -> None:
        self._zip = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        self._image_bytes = image_bytes
        self._names = list(categories)
        self._known = set(self._names)
        self._ids: list[str] = []

    def add(self, image: ExportImage) -> None:
        item_id = str(PurePosixPath(image.file_name).with_suffix(""))
        objects = []
        for origin, label in image.labels():
            element = voc_object(label, image, scored=origin == "prediction")
            if element and label.label not in self._known:
                self._known.add(label.label)
                self._names.append(label.label)
            objects.append(element)
        self._zip.writestr(f"{ANNOTATIONS}/{item_id}.xml", annotation_xml(image, objects))
        self._ids.append(item_id)
        if self._image_bytes is not None:
            # Already compressed (JPEG, PNG, WebP): stored, not deflated again.
            data = self._image_bytes(image)
            self._zip.writestr(f"{IMAGES}/{image.file_name}", data, zipfile.ZIP_STORED)

    def close(self) -> None:
        # One short id per image, as YOLO's `images.txt`: the one list kept.
        self._zip.writestr(IMAGE_SET, "".join(item_id + "\n" for item_id in self._ids))
        lines = ["# label:color_rgb:parts:actions"] + [f"{name}:::" for name in self._names]
        self._zip.writestr(LABELMAP, "\n".join(lines) + "\n")
        self._zip.close()


def voc_box(label: Label, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The label's clipped box in whole pixels (nearest), at least one pixel wide and high."""
    box = label.box_in(width, height)
    if box is None:
        return None
    x1, y1, x2, y2 = (round(v) for v in box)
    # A box under a pixel would round to nothing: widen it to one, inside the image.
    x2, y2 = min(max(x2, x1 + 1), width), min(max(y2, y1 + 1), height)
    return min(x1, x2 - 1), min(y1, y2 - 1), x2, y2


def voc_object(label: Label, image: ExportImage, *, scored: bool) -> str:
    """One `<object>` element, or "" for a label without a box."""
    box = voc_box(label, image.width, image.height)
    if box is None:
        return ""
    unclipped = label.box
    truncated = unclipped is not None and unclipped != label.box_in(image.width, image.height)
    extra: list[tuple[str, str]] = []
    if scored and label.score is not None:
        extra.append(("score", repr(label.score)))
    if label.text is not None:
        extra.append(("text", label.text))
    attributes = "".join(
        f"<attribute><name>{name}</name><value>{escape(value)}</value></attribute>"
        for name, value in extra
    )
    x1, y1, x2, y2 = box
    return (
        f"<object><name>{escape(label.label)}</name><pose>Unspecified</pose>"
        f"<truncated>{int(truncated)}</truncated><difficult>0</difficult><occluded>0</occluded>"
        f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>"
        + (f"<attributes>{attributes}</attributes>" if attributes else "")
        + "</object>"
    )


def annotation_xml(image: ExportImage, objects: Sequence[str]) -> str:
    """An image's `Annotations/<id>.xml`. `depth` is 3: images are read as RGB."""
    body = "\n  ".join(o for o in objects if o)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<annotation>\n"
        f"  <folder>{IMAGES}</folder>\n"
        f"  <filename>{escape(image.file_name)}</filename>\n"
        "  <source><database>labelbay</database></source>\n"
        f"  <size><width>{image.width}</width><height>{image.height}</height>"
        "<depth>3</depth></size>\n"
        "  <segmented>0</segmented>\n" + (f"  {body}\n" if body else "") + "</annotation>\n"
    )
