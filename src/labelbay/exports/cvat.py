"""CVAT for images 1.1: one `annotations.xml`, or with `image_bytes` a zip of `annotations.xml`
and the images under `images/`, as CVAT exports a task and datumaro's `cvat` format reads it.

Per image an `<image id name width height>` holds its labels: a box is `<box xtl ytl xbr ybr>`
(clipped to the image, as in every format), a polygon `<polygon points="x,y;x,y;…">` (clipped), a
circle `<ellipse cx cy rx ry>` with `rx == ry` (CVAT 2.x draws ellipses; datumaro 1.13 skips
them), a text line a box with a `text` attribute (its quadrilateral is not kept), an image class a
`<tag>`. Predictions are `source="auto"` with a `score` attribute, people's labels
`source="manual"`. Coordinates keep full precision (CVAT itself writes two decimals, and reads
any float).

The `<meta>` block must list every label before the first image, and the class names are only
known once every image has been seen, so the image elements are spooled to a temp file and the
document is written at `close()`: memory stays flat, the bytes come at the end.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from labelbay.exports.base import ExportImage, ImageBytes, Origin, Sink
from labelbay.labels import CircleGeometry, Label, PolygonGeometry

ANNOTATIONS = "annotations.xml"
IMAGES = "images"
# Declared on every label, so CVAT and datumaro read them with their types.
ATTRIBUTES = (("score", "number", "0", "0\n1\n0.0001"), ("text", "text", "", ""))


class BytesOut(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _num(value: float) -> str:
    """A coordinate at full precision, in the shortest form that reads back the same."""
    return repr(float(value))


class CvatWriter:
    def __init__(
        self, sink: Sink, *, categories: Sequence[str], image_bytes: ImageBytes | None = None
    ) -> None:
        self._sink = sink
        self._zip = (
            zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
            if image_bytes is not None
            else None
        )
        self._image_bytes = image_bytes
        self._names = list(categories)
        self._known = set(self._names)
        self._images = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._count = 0

    def add(self, image: ExportImage) -> None:
        shapes = []
        for origin, label in image.labels():
            element = shape_xml(label, image, origin)
            if not element:
                continue
            if label.label not in self._known:
                self._known.add(label.label)
                self._names.append(label.label)
            shapes.append(element)
        attributes = (
            f"id={quoteattr(str(self._count))} name={quoteattr(image.file_name)} "
            f'width="{image.width}" height="{image.height}"'
        )
        body = "".join(f"\n    {s}" for s in shapes)
        self._images.write(f"  <image {attributes}>{body}\n  </image>\n")
        self._count += 1
        if self._zip is not None and self._image_bytes is not None:
            data = self._image_bytes(image)
            self._zip.writestr(f"{IMAGES}/{image.file_name}", data, zipfile.ZIP_STORED)

    def close(self) -> None:
        if self._zip is None:
            self._write(self._sink)
        else:
            with self._zip.open(ANNOTATIONS, "w") as entry:
                self._write(entry)
            self._zip.close()
        self._images.close()

    def _write(self, out: BytesOut) -> None:
        out.write(header(self._names, self._count).encode("utf-8"))
        self._images.seek(0)
        while block := self._images.read(1 << 16):
            out.write(block.encode("utf-8"))
        out.write(b"</annotations>\n")


def header(names: Sequence[str], size: int) -> str:
    """`<annotations>` up to the first image: the version and the task's meta with its labels."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    declared = "".join(
        "<attribute>"
        f"<name>{name}</name><mutable>False</mutable><input_type>{kind}</input_type>"
        f"<default_value>{default}</default_value><values>{values}</values>"
        "</attribute>"
        for name, kind, default, values in ATTRIBUTES
    )
    labels = "".join(
        f"\n        <label><name>{escape(name)}</name><type>any</type>"
        f"<attributes>{declared}</attributes></label>"
        for name in names
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<annotations>\n"
        "  <version>1.1</version>\n"
        "  <meta>\n"
        "    <task>\n"
        "      <id>0</id><name>labelbay</name>"
        f"<size>{size}</size><mode>annotation</mode><overlap>0</overlap>\n"
        f"      <created>{now}</created><updated>{now}</updated><subset>default</subset>\n"
        f"      <start_frame>0</start_frame><stop_frame>{max(size - 1, 0)}</stop_frame>\n"
        f"      <labels>{labels}\n      </labels>\n"
        "    </task>\n"
        f"    <dumped>{now}</dumped>\n"
        "  </meta>\n"
    )


def shape_xml(label: Label, image: ExportImage, origin: Origin) -> str:
    """One shape or tag element for a label, or "" for one with nothing inside the image."""
    w, h = image.width, image.height
    source = "auto" if origin == "prediction" else "manual"
    common = f"label={quoteattr(label.label)} source={quoteattr(source)}"
    children = ""
    if origin == "prediction" and label.score is not None:
        children += f'<attribute name="score">{_num(label.score)}</attribute>'
    if label.text is not None:
        children += f'<attribute name="text">{escape(label.text)}</attribute>'
    g = label.geometry
    if label.kind == "classification":
        return f"<tag {common}>{children}</tag>"
    box = label.box_in(w, h)
    if box is None:
        return ""
    shape = f'{common} occluded="0" z_order="0"'
    if isinstance(g, CircleGeometry):
        geometry = f'cx="{_num(g.cx)}" cy="{_num(g.cy)}" rx="{_num(g.r)}" ry="{_num(g.r)}"'
        return f"<ellipse {shape} {geometry}>{children}</ellipse>"
    if isinstance(g, PolygonGeometry):
        outline = label.outline_in(w, h) or []
        points = ";".join(f"{_num(x)},{_num(y)}" for x, y in outline)
        return f'<polygon {shape} points="{points}">{children}</polygon>'
    x1, y1, x2, y2 = box
    geometry = f'xtl="{_num(x1)}" ytl="{_num(y1)}" xbr="{_num(x2)}" ybr="{_num(y2)}"'
    return f"<box {shape} {geometry}>{children}</box>"
