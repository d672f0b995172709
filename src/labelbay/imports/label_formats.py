"""Reading labels that other tools wrote: COCO (a file, or a results list), YOLO (a zip in the
Ultralytics layout) and Label Studio tasks here, Pascal VOC and CVAT XML in `xml_formats`. Each
reader yields `Record`s (a label on a named image, coordinates still in the file's own terms) and
`Problem`s (a bad record and where it is), so one bad line never stops an import and every
problem is reported with its place.

COCO and Label Studio files are JSON documents and are read whole (a 100,000-image COCO file is a
few hundred MB of Python objects at most); YOLO zips are read one label file at a time.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from labelbay import labels
from labelbay.errors import Invalid

# Re-exported for `label_import`, which takes them from here.
from labelbay.imports.records import Problem as Problem
from labelbay.imports.records import Record as Record
from labelbay.imports.xml_formats import read_cvat, read_voc
from labelbay.labels import Label

LabelFormat = Literal["coco", "yolo", "labelstudio", "voc", "cvat"]


@dataclass
class Reading:
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # every image the file names, labelled or not


def read(format: LabelFormat, data: bytes) -> Reading:
    readers: dict[str, Callable[[bytes], Iterator[Record | Problem | str]]] = {
        "coco": _coco,
        "yolo": _yolo,
        "labelstudio": _labelstudio,
        "voc": read_voc,
        "cvat": read_cvat,
    }
    reading = Reading()
    try:
        for item in readers[format](data):
            if isinstance(item, Record):
                reading.records.append(item)
            elif isinstance(item, Problem):
                reading.problems.append(item)
            else:
                reading.images.append(item)
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise Invalid(f"not a {format} file: {error}") from None
    return reading


def _json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8-sig"))


def _coco(data: bytes) -> Iterator[Record | Problem | str]:
    """A COCO file (images, annotations, categories), or a bare results list whose `image_id`s
    are file names. Annotations with a `score` are a model's."""
    document = _json(data)
    if isinstance(document, list):
        annotations, names = document, {}
        categories: dict[Any, str] = {}
    else:
        names = {image["id"]: str(image["file_name"]) for image in document.get("images", [])}
        categories = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        annotations = document.get("annotations", [])
        yield from names.values()
    for index, annotation in enumerate(annotations):
        place = f"annotations[{index}]"
        try:
            image = names.get(annotation["image_id"], str(annotation["image_id"]))
            name = categories.get(annotation["category_id"], str(annotation["category_id"]))
            yield Record(image, place, _coco_label(annotation, name))
        except Invalid as error:
            yield Problem(place, str(error))
        except (KeyError, TypeError, ValueError) as error:
            yield Problem(place, f"unreadable annotation: {error!r}")


def _coco_label(annotation: Mapping[str, Any], name: str) -> Callable[[int, int], Label]:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    score = annotation.get("score")
    segmentation = annotation.get("segmentation")
    fields: dict[str, Any] = {"score": score}
    if annotation.get("text") is not None:
        fields["text"] = str(annotation["text"])
    if isinstance(segmentation, dict) or (isinstance(segmentation, list) and len(segmentation) > 1):
        return _coco_mask(segmentation, name, fields)
    polygon = segmentation[0] if isinstance(segmentation, list) and segmentation else None
    is_rectangle = polygon is not None and len(polygon) == 8 and _is_box(polygon, x, y, w, h)
    if polygon is not None and not is_rectangle and "text" not in fields:
        points = [[polygon[i], polygon[i + 1]] for i in range(0, len(polygon) - 1, 2)]
        geometry: dict[str, Any] = {"points": points}
        kind = "polygon"
    else:
        geometry = {"x1": x, "y1": y, "x2": x + w, "y2": y + h}
        kind = "text" if "text" in fields else "box"
    label = labels.make(kind, name, geometry, **fields)
    return lambda width, height: label


def _coco_mask(segmentation: Any, name: str, fields: dict[str, Any]) -> Callable[[int, int], Label]:
    """An RLE (compressed `counts` text, or the uncompressed list of runs) or a polygon of
    several parts, as a mask of the image; an RLE must be of the image's size."""
    if isinstance(segmentation, dict):
        height, width = (int(v) for v in segmentation["size"])
        counts = segmentation["counts"]
        if isinstance(counts, list):
            counts = _compressed(segmentation, height, width)
        label = labels.make("mask", name, {"size": [height, width], "counts": counts}, **fields)

        def mask(image_width: int, image_height: int) -> Label:
            if (width, height) != (image_width, image_height):
                raise Invalid(
                    f"mask of {width}x{height} pixels on an image of {image_width}x{image_height}"
                )
            return label

        return mask
    parts = [[(p[i], p[i + 1]) for i in range(0, len(p) - 1, 2)] for p in segmentation]

    def polygons(image_width: int, image_height: int) -> Label:
        bitmap = None
        for part in parts:
            drawn = labels.polygon_mask(part, image_width, image_height).decode()
            bitmap = drawn if bitmap is None else bitmap | drawn
        return labels.make("mask", name, labels.MaskGeometry.encode(bitmap).model_dump(), **fields)

    return polygons


def _compressed(segmentation: Mapping[str, Any], height: int, width: int) -> str:
    """COCO's uncompressed RLE (`counts` a list of runs) as its compressed text."""
    from pycocotools import mask as coco_mask

    runs = [int(v) for v in segmentation["counts"]]
    if any(v < 0 for v in runs) or sum(runs) != height * width:
        raise ValueError(f"the runs do not cover the {width}x{height} pixels of size")
    rle = coco_mask.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    return str(rle["counts"].decode("ascii"))


def _is_box(polygon: list[float], x: float, y: float, w: float, h: float) -> bool:
    xs, ys = polygon[0::2], polygon[1::2]
    return {round(v, 2) for v in xs} == {round(x, 2), round(x + w, 2)} and {
        round(v, 2) for v in ys
    } == {round(y, 2), round(y + h, 2)}


def _yolo(data: bytes) -> Iterator[Record | Problem | str]:
    """An Ultralytics zip: `data.yaml` (`names`), `labels/<stem>.txt` of `class cx cy w h`
    (normalised), or `class x1 y1 x2 y2 …` polygons (segmentation)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = _yolo_names(archive.read("data.yaml").decode("utf-8"))
        for entry in archive.namelist():
            path = PurePosixPath(entry)
            if path.suffix != ".txt" or "labels" not in path.parts:
                continue
            yield path.stem
            for number, line in enumerate(archive.read(entry).decode("utf-8").splitlines(), 1):
                place = f"{entry}:{number}"
                parts = line.split()
                if not parts:
                    continue
                try:
                    yield Record(path.stem, place, _yolo_label(parts, names), by_stem=True)
                except (ValueError, IndexError) as error:
                    yield Problem(place, str(error))


def _yolo_names(text: str) -> list[str]:
    """`names` of an Ultralytics data.yaml, as a block map (`  0: cat`) or a flow list."""
    names: dict[int, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("names:"):
            rest = line.split(":", 1)[1].strip()
            if rest.startswith("["):
                return [str(n).strip() for n in json.loads(rest.replace("'", '"'))]
            for entry in lines[i + 1 :]:
                if not entry.startswith((" ", "\t")):
                    break
                key, _, value = entry.strip().partition(":")
                value = value.strip()
                names[int(key)] = json.loads(value) if value.startswith('"') else value
    return [names[i] for i in sorted(names)]


def _yolo_label(parts: list[str], names: list[str]) -> Callable[[int, int], Label]:
    index = int(parts[0])
    if not 0 <= index < len(names):
        raise ValueError(f"class {index} is not in data.yaml's {len(names)} names")
    values = [float(v) for v in parts[1:]]
    if len(values) == 4:
        cx, cy, w, h = values

        def box(width: int, height: int) -> Label:
            geometry = {
                "x1": (cx - w / 2) * width,
                "y1": (cy - h / 2) * height,
                "x2": (cx + w / 2) * width,
                "y2": (cy + h / 2) * height,
            }
            return labels.make("box", names[index], geometry)

        return box
    if len(values) >= 6 and len(values) % 2 == 0:

        def polygon(width: int, height: int) -> Label:
            points = [[values[i] * width, values[i + 1] * height] for i in range(0, len(values), 2)]
            return labels.make("polygon", names[index], {"points": points})

        return polygon
    raise ValueError(f"a line is `class cx cy w h` or a polygon, not {len(values)} numbers")


LS_KINDS = {"rectanglelabels": "box", "ellipselabels": "circle", "polygonlabels": "polygon"}


def _labelstudio(data: bytes) -> Iterator[Record | Problem | str]:
    """Label Studio tasks: `predictions` become a model's labels, `annotations` people's."""
    tasks = _json(data)
    for t, task in enumerate(tasks):
        image = str(task["data"].get("file_name") or PurePosixPath(task["data"]["image"]).name)
        yield image
        for group in ("annotations", "predictions"):
            for a, entry in enumerate(task.get(group) or []):
                results = entry.get("result", [])
                texts = {
                    r["id"]: r["value"]["text"][0] for r in results if r.get("type") == "textarea"
                }
                for r, result in enumerate(results):
                    place = f"[{t}].{group}[{a}].result[{r}]"
                    if result.get("type") == "textarea":
                        continue
                    try:
                        text = texts.get(result.get("id"))
                        origin: Literal["annotation", "prediction"] = (
                            "prediction" if group == "predictions" else "annotation"
                        )
                        yield Record(image, place, _ls_label(result, text, group), origin=origin)
                    except (KeyError, TypeError, ValueError, IndexError) as error:
                        yield Problem(place, f"unreadable region: {error!r}")


def _ls_label(
    result: Mapping[str, Any], text: str | None, group: str
) -> Callable[[int, int], Label]:
    kind_of = result["type"]
    value = result["value"]
    score = result.get("score") if group == "predictions" else None
    if kind_of == "choices":
        label = labels.make("classification", value["choices"][0], score=score)
        return lambda width, height: label
    kind = LS_KINDS.get(kind_of)
    if kind is None:
        raise ValueError(f"region type {kind_of} is not imported")
    name = value[kind_of][0]

    def make(width: int, height: int) -> Label:
        sx, sy = width / 100, height / 100
        if kind == "polygon":
            points = [[x * sx, y * sy] for x, y in value["points"]]
            return labels.make("polygon", name, {"points": points}, score=score)
        if kind == "circle":
            geometry = {"cx": value["x"] * sx, "cy": value["y"] * sy, "r": value["radiusX"] * sx}
            return labels.make("circle", name, geometry, score=score)
        x1, y1 = value["x"] * sx, value["y"] * sy
        geometry = {
            "x1": x1,
            "y1": y1,
            "x2": x1 + value["width"] * sx,
            "y2": y1 + value["height"] * sy,
        }
        if text is not None:
            return labels.make("text", name, geometry, text=text, score=score)
        return labels.make("box", name, geometry, score=score)

    return make
