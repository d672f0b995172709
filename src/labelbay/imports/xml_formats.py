"""Reading Pascal VOC and CVAT for images 1.1 XML: the same `Record`s and `Problem`s as the other
label readers (`label_formats`), so a bad element never stops an import and every problem names
its place (`Annotations/a.xml:object[2]`, `annotations.xml:image[7]/polygon[0]`).

XML is parsed with `defusedxml`: a document that declares entities (the "billion laughs" bomb
expands a few hundred bytes into gigabytes) or refers to external ones is refused before anything
is expanded. A whole file that is not well-formed is refused with its line and column; inside a
zip, such a file is reported as a problem and the other files are read.

- **VOC**: a zip of `Annotations/*.xml` (every `.xml` entry, at any depth, is read as a VOC
  annotation), or one annotation file. The image is the `<filename>`, else the file's stem. Boxes
  are read as they are written, as datumaro reads them by default: the edges in pixels, 0-based
  (labelbay writes whole pixels; datumaro writes floats). An `<attributes>` entry `score` is the
  label's score, `text` makes it a text line.
- **CVAT for images 1.1**: one `annotations.xml`, or a zip with any number of them (datumaro
  writes `default.xml`). `<box>` is a box (a rotated one the polygon of its corners), `<polygon>` a
  polygon, `<ellipse>` a circle when its radii agree within 1% (else the 32-gon of the ellipse: a
  label kind for ellipses does not exist), `<tag>` an image class. Attributes: `score` is the
  score, `text` the text (a box with text is a text line), any other is kept in the label's
  `attributes`. Polylines, points, masks, cuboids, skeletons and tracks (CVAT for video) are
  reported as problems. A CVAT document is parsed as a stream, an image at a time.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeTree

from labelbay import labels
from labelbay.errors import Invalid
from labelbay.imports.bundle import Bundle
from labelbay.imports.bundle import Entry as BundleEntry
from labelbay.imports.records import Problem, Record
from labelbay.labels import Label

Item = Record | Problem | str
Entry = tuple[str, bytes]  # (path, content) of one file
ELLIPSE_SEGMENTS = 32
CIRCLE_TOLERANCE = 0.01  # radii that differ by up to 1% make a circle
VOC_EDGES = (("x1", "xmin"), ("y1", "ymin"), ("x2", "xmax"), ("y2", "ymax"))
UNSUPPORTED_CVAT = {"polyline", "points", "mask", "cuboid", "skeleton"}
_REFUSED = (
    "XML that declares entities or refers to external ones is refused (it can expand without bound)"
)


# How much of an uploaded XML file the upload's quick check reads.
XML_HEAD_BYTES = 64 * 1024


def check_xml(head: bytes, format: str) -> None:
    """`Invalid` unless the first bytes of an uploaded file can begin an XML document that
    declares no entities (the upload's quick check: a bomb is refused at once, not by the job)."""
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise Invalid(f"not a {format} file: not XML (it does not begin with <)")
    if b"<!ENTITY" in head:
        raise Invalid(f"not a {format} file: {_REFUSED}")


def _read(entry: BundleEntry) -> bytes:
    """An entry's bytes; ValueError naming it when a zip member cannot be read."""
    try:
        with entry.open() as file:
            return file.read()
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as error:
        # Corrupt, encrypted or an unknown compression.
        raise ValueError(f"{entry.name} cannot be read from the zip: {error}") from None


def _parse(data: bytes) -> Element:
    try:
        return SafeTree.fromstring(data)
    except DefusedXmlException:
        raise ValueError(_REFUSED) from None
    except ParseError as error:
        raise ValueError(f"not well-formed XML: {error}") from None


# --- Pascal VOC ---------------------------------------------------------------------------


def read_voc(bundle: Bundle) -> Iterator[Item]:
    """Every `.xml` file of the import is a VOC annotation file. One that cannot be read is a
    problem, unless it is the only one (then the import fails with the reason)."""
    documents = _xml_documents(bundle)
    for entry in documents:
        if len(documents) == 1:
            content = _read(entry)
            root = _parse(content)
            if root.tag != "annotation":
                raise ValueError(_not_voc(root))
            yield from voc_file(entry.name, root)
        else:
            try:
                content = _read(entry)
            except ValueError as error:
                yield Problem(entry.name, str(error))
                continue
            yield from voc_entries([(entry.name, content)])


def voc_entries(entries: Iterable[Entry]) -> Iterator[Item]:
    """VOC annotation files (a zip's or a folder's): one unreadable file is a problem."""
    for name, content in entries:
        try:
            root = _parse(content)
        except ValueError as error:
            yield Problem(name, str(error))
            continue
        if root.tag != "annotation":
            yield Problem(name, _not_voc(root))
            continue
        yield from voc_file(name, root)


def _not_voc(root: Element) -> str:
    return f"the root element is <{root.tag}>, not VOC's <annotation>"


def voc_file(name: str, root: Element) -> Iterator[Item]:
    """The image an `<annotation>` names (its `<filename>`, else the file's stem) and a record
    per `<object>`."""
    prefix = f"{name}:" if name else ""
    filename = (root.findtext("filename") or "").strip()
    image = filename or PurePosixPath(name).stem
    yield image
    for index, element in enumerate(root.findall("object")):
        place = f"{prefix}object[{index}]"
        try:
            yield Record(image, place, _voc_label(element), by_stem=not filename)
        except (Invalid, ValueError) as error:
            yield Problem(place, str(error))


def _voc_label(element: Element) -> Callable[[int, int], Label]:
    name = (element.findtext("name") or "").strip()
    box = element.find("bndbox")
    if box is None:
        raise ValueError("an object needs a <bndbox>")
    geometry = {key: _number(box, edge) for key, edge in VOC_EDGES}
    extra = {
        (a.findtext("name") or ""): a.findtext("value") or ""
        for a in element.iterfind("attributes/attribute")
    }
    fields: dict[str, Any] = {"score": _score(extra.get("score"))}
    kind = "box"
    if "text" in extra:
        kind, fields["text"] = "text", extra["text"]
    label = labels.make(kind, name, geometry, where="object", **fields)
    return lambda width, height: label


def _number(parent: Element, tag: str) -> float:
    text = parent.findtext(tag)
    if text is None:
        raise ValueError(f"<{tag}> is missing")
    return _finite(text, f"<{tag}>")


def _score(text: str | None) -> float | None:
    return None if text is None else _finite(text, "score")


def _finite(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite")
    return value


# --- CVAT for images 1.1 ------------------------------------------------------------------


def read_cvat(bundle: Bundle) -> Iterator[Item]:
    """CVAT `annotations.xml` files (an upload may hold `images/` too). One that cannot be read is
    a problem, unless it is the only one (then the import fails with the reason)."""
    documents = _xml_documents(bundle)
    for entry in documents:
        if len(documents) == 1:
            try:
                with entry.open() as file:
                    yield from cvat_document(entry.name, file)
            except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as error:
                raise ValueError(f"{entry.name} cannot be read from the zip: {error}") from None
            continue
        try:
            # Read and parsed per file, so a broken file is one problem and not a half-read.
            items = list(cvat_document(entry.name, io.BytesIO(_read(entry))))
        except ValueError as error:
            yield Problem(entry.name, str(error))
            continue
        yield from items


def _xml_documents(bundle: Bundle) -> list[BundleEntry]:
    found = [e for e in bundle.documents(".xml") if not e.name.startswith("__MACOSX/")]
    if not found:
        raise Invalid("the import has no .xml file")
    return found


def cvat_document(name: str, stream: IO[bytes]) -> Iterator[Item]:
    """The images of one CVAT document, parsed as a stream: each `<image>` is read when it
    closes and then dropped, so memory holds one image's elements at a time."""
    prefix = f"{name}:" if name else ""
    root: Element | None = None
    depth = images = tracks = 0
    try:
        for event, element in SafeTree.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    if root.tag != "annotations":
                        tag = root.tag
                        raise ValueError(f"the root element is <{tag}>, not CVAT's <annotations>")
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue  # inside an image (read with it), or the root itself
            if element.tag == "image":
                yield from _cvat_image(element, f"{prefix}image[{images}]")
                images += 1
            elif element.tag == "track":
                reason = "tracks (CVAT for video) are not imported; export as CVAT for images"
                yield Problem(f"{prefix}track[{tracks}]", reason)
                tracks += 1
            root.remove(element)  # read: let it go
    except DefusedXmlException:
        raise ValueError(_REFUSED) from None
    except ParseError as error:
        raise ValueError(f"not well-formed XML: {error}") from None


def _cvat_image(element: Element, where: str) -> Iterator[Item]:
    image = element.get("name", "").strip()
    if not image:
        yield Problem(where, "an <image> needs a name")
        return
    yield image
    counts: Counter[str] = Counter()
    for child in element:
        place = f"{where}/{child.tag}[{counts[child.tag]}]"
        counts[child.tag] += 1
        try:
            yield Record(image, place, _cvat_label(child))
        except (Invalid, ValueError) as error:
            yield Problem(place, str(error))


def _cvat_label(element: Element) -> Callable[[int, int], Label]:
    tag = element.tag
    name = element.get("label", "")
    extra = {a.get("name", ""): a.text or "" for a in element.iterfind("attribute")}
    fields: dict[str, Any] = {"score": _score(extra.pop("score", None))}
    text = extra.pop("text", None)
    if extra:
        fields["attributes"] = extra
    if tag == "tag":
        label = labels.make("classification", name, **fields)
    elif tag == "box":
        label = _cvat_box(element, name, text, fields)
    elif tag == "polygon":
        points = _points(_attribute(element, "points"))
        label = labels.make("polygon", name, {"points": points}, text=text, **fields)
    elif tag == "ellipse":
        label = _cvat_ellipse(element, name, text, fields)
    elif tag in UNSUPPORTED_CVAT:
        raise ValueError(f"<{tag}> is not a label kind labelbay has")
    else:
        raise ValueError(f"<{tag}> is not a CVAT for images shape")
    return lambda width, height: label


def _attribute(element: Element, key: str) -> str:
    value = element.get(key)
    if value is None:
        raise ValueError(f"<{element.tag}> needs {key}")
    return value


def _float(element: Element, key: str) -> float:
    return _finite(_attribute(element, key), key)


def _points(text: str) -> list[list[float]]:
    points = []
    for pair in text.strip().split(";"):
        x, _, y = pair.partition(",")
        try:
            points.append([float(x), float(y)])
        except ValueError:
            raise ValueError(f"points: {pair!r} is not x,y") from None
    return points


def _cvat_box(element: Element, name: str, text: str | None, fields: dict[str, Any]) -> Label:
    x1, y1, x2, y2 = (_float(element, k) for k in ("xtl", "ytl", "xbr", "ybr"))
    rotation = _float(element, "rotation") if "rotation" in element.attrib else 0.0
    if rotation % 360:
        cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        corners = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
        points = [_turned(cx, cy, dx, dy, rotation) for dx, dy in corners]
        return labels.make("polygon", name, {"points": points}, text=text, **fields)
    geometry = {"x1": x1, "y1": y1, "x2": x2, "y2": y2}
    if text is not None:
        return labels.make("text", name, geometry, text=text, **fields)
    return labels.make("box", name, geometry, **fields)


def _cvat_ellipse(element: Element, name: str, text: str | None, fields: dict[str, Any]) -> Label:
    cx, cy, rx, ry = (_float(element, k) for k in ("cx", "cy", "rx", "ry"))
    rotation = _float(element, "rotation") if "rotation" in element.attrib else 0.0
    if abs(rx - ry) <= CIRCLE_TOLERANCE * max(abs(rx), abs(ry)):
        geometry = {"cx": cx, "cy": cy, "r": (rx + ry) / 2}
        return labels.make("circle", name, geometry, text=text, **fields)
    angles = [2 * math.pi * i / ELLIPSE_SEGMENTS for i in range(ELLIPSE_SEGMENTS)]
    points = [_turned(cx, cy, rx * math.cos(a), ry * math.sin(a), rotation) for a in angles]
    return labels.make("polygon", name, {"points": points}, text=text, **fields)


def _turned(cx: float, cy: float, dx: float, dy: float, degrees: float) -> list[float]:
    """The point (cx + dx, cy + dy) turned about (cx, cy) by `degrees`, clockwise on screen
    (y points down), as CVAT turns boxes and ellipses."""
    a = math.radians(degrees)
    return [cx + dx * math.cos(a) - dy * math.sin(a), cy + dx * math.sin(a) + dy * math.cos(a)]
