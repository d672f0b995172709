"""Reading labels that other tools wrote: COCO (a file, or a results list), YOLO (the
Ultralytics layout), Label Studio tasks and labelbay's own JSON export here, Pascal VOC and CVAT
XML in `xml_formats`. Each reader takes the import's files (a `Bundle`) and yields, as it reads,
the names of the images the files list (`str`), `Record`s (a label on a named image, coordinates
still in the file's own terms) and `Problem`s (a bad record and where it is), so one bad line
never stops an import and every problem is reported with its place: `file:line` for text files,
`file#/json/pointer` for JSON.

Nothing is read whole. JSON documents are streamed with ijson, one object at a time (COCO in
three passes over the file: categories, images, annotations, since a file may list them in any
order); YOLO label files are read one at a time, line by line; a CVAT document is parsed as a
stream, a VOC file (one image's annotation) whole.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import IO, Any, Literal

import ijson  # type: ignore[import-untyped]

from labelbay import brush_rle, labels
from labelbay.errors import Invalid
from labelbay.imports.bundle import Bundle, Entry

# Re-exported for `label_import`, which takes them from here.
from labelbay.imports.records import Problem as Problem
from labelbay.imports.records import Record as Record
from labelbay.imports.xml_formats import read_cvat, read_voc
from labelbay.labels import Label

LabelFormat = Literal["coco", "yolo", "labelstudio", "voc", "cvat", "labelbay"]
Origin = Literal["annotation", "prediction"]


Item = Record | Problem | str
Reader = Callable[[Bundle], Iterator[Item]]


def read(format: str, bundle: Bundle) -> Iterator[Item]:
    """What the files say, as they are read; `Invalid` when they are not `format` at all."""
    readers: dict[str, Reader] = {
        "coco": _coco,
        "yolo": _yolo,
        "labelstudio": _labelstudio,
        "voc": read_voc,
        "cvat": read_cvat,
        "labelbay": _labelbay,
    }
    reader = readers.get(format)
    if reader is None:
        raise Invalid(f"unknown label format {format!r}; known: {', '.join(readers)}")
    try:
        yield from reader(bundle)
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile, ijson.JSONError) as error:
        raise Invalid(f"not a {format} file: {error}") from None


def check_json(head: bytes) -> None:
    """`Invalid` unless the first bytes of a file can begin a JSON document (an upload's quick
    check, before a job reads the rest)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] not in (b"{", b"["):
        raise Invalid("not a JSON file: it does not begin with { or [")


def _documents(bundle: Bundle, *suffixes: str) -> list[Entry]:
    found = bundle.documents(*suffixes)
    if not found:
        raise Invalid(f"the import has no {' or '.join(suffixes)} file")
    return found


def _stream(file: IO[bytes], prefix: str) -> Iterator[Any]:
    file.seek(0)
    return iter(ijson.items(file, prefix, use_float=True))


def _starts_with_list(file: IO[bytes]) -> bool:
    head = file.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    file.seek(0)
    return head[:1] == b"["


def _coco(bundle: Bundle) -> Iterator[Item]:
    """COCO files (images, annotations, categories), or bare results lists whose `image_id`s are
    file names. Annotations with a `score` are a model's."""
    for entry in _documents(bundle, ".json"):
        with entry.open() as file:
            yield from _coco_file(entry.name, file)


def _coco_file(name: str, file: IO[bytes]) -> Iterator[Item]:
    if _starts_with_list(file):
        for index, annotation in enumerate(_stream(file, "item")):
            yield _coco_record(f"{name}#/{index}", annotation, None, {})
        return
    categories = {c["id"]: str(c["name"]) for c in _stream(file, "categories.item")}
    names: dict[Any, str] = {}
    for image in _stream(file, "images.item"):
        names[image["id"]] = str(image["file_name"])
        yield names[image["id"]]
    for index, annotation in enumerate(_stream(file, "annotations.item")):
        yield _coco_record(f"{name}#/annotations/{index}", annotation, names, categories)


def _coco_record(
    place: str, annotation: Any, names: dict[Any, str] | None, categories: dict[Any, str]
) -> Record | Problem:
    try:
        if names is None:
            image = str(annotation["image_id"])
        elif annotation["image_id"] in names:
            image = names[annotation["image_id"]]
        else:
            return Problem(place, f"image_id {annotation['image_id']!r} is not in `images`")
        name = categories.get(annotation["category_id"], str(annotation["category_id"]))
        return Record(image, place, _coco_label(annotation, name))
    except Invalid as error:
        return Problem(place, str(error))
    except (KeyError, TypeError, ValueError) as error:
        return Problem(place, f"unreadable annotation: {error!r}")


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


def _yolo(bundle: Bundle) -> Iterator[Item]:
    """The Ultralytics layout: `data.yaml` (`names`), `labels/**/<stem>.txt` of `class cx cy w h`
    (normalised), or `class x1 y1 x2 y2 …` polygons (segmentation)."""
    yaml = bundle.named("data.yaml", "data.yml")
    if not yaml:
        raise Invalid("a YOLO import needs its data.yaml (the class names)")
    with yaml[0].open() as file:
        names = _yolo_names(file.read().decode("utf-8"))
    for entry in bundle.named(".txt"):
        path = PurePosixPath(entry.name)
        if "labels" not in path.parts:
            continue
        yield path.stem
        with entry.open() as file:
            lines = io.TextIOWrapper(file, encoding="utf-8-sig")
            for number, line in enumerate(lines, 1):
                place = f"{entry.name}:{number}"
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


def _labelstudio(bundle: Bundle) -> Iterator[Item]:
    """Label Studio tasks: `predictions` become a model's labels, `annotations` people's."""
    for entry in _documents(bundle, ".json"):
        with entry.open() as file:
            for t, task in enumerate(_stream(file, "item")):
                yield from _ls_task(f"{entry.name}#/{t}", task)


def _ls_task(where: str, task: Any) -> Iterator[Item]:
    try:
        image = str(task["data"].get("file_name") or PurePosixPath(task["data"]["image"]).name)
    except (KeyError, TypeError, AttributeError) as error:
        yield Problem(where, f"a task names its image in data.image: {error!r}")
        return
    yield image
    for group in ("annotations", "predictions"):
        origin: Origin = "prediction" if group == "predictions" else "annotation"
        for a, entry in enumerate(task.get(group) or []):
            results = entry.get("result", [])
            texts = {r["id"]: r["value"]["text"][0] for r in results if r.get("type") == "textarea"}
            for r, result in enumerate(results):
                place = f"{where}/{group}/{a}/result/{r}"
                if result.get("type") == "textarea":
                    continue
                try:
                    text = texts.get(result.get("id"))
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
    if kind_of == "brushlabels":
        return _ls_brush(result, score)
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


def _ls_brush(result: Mapping[str, Any], score: Any) -> Callable[[int, int], Label]:
    """A `brushlabels` region: Label Studio's RLE of the whole image (`brush_rle`), read as a
    mask once the image's size is known; it must be of the image's size, as a COCO RLE must."""
    value = result["value"]
    if value.get("format", "rle") != "rle":
        raise ValueError(f"brush format {value.get('format')!r} is not imported, only rle")
    name = value["brushlabels"][0]
    try:
        if not isinstance(value["rle"], list):  # bytes(n) of a number would make n zero bytes
            raise TypeError
        rle = bytes(value["rle"])
    except (TypeError, ValueError):
        raise ValueError("rle: must be a list of byte values, 0 to 255") from None
    size = (result.get("original_width"), result.get("original_height"))

    def mask(width: int, height: int) -> Label:
        if size != (None, None) and size != (width, height):
            raise Invalid(f"brush of {size[0]}x{size[1]} pixels on an image of {width}x{height}")
        try:
            bitmap = brush_rle.decode(rle, width, height)
        except ValueError as error:
            raise Invalid(f"brush rle: {error}") from None
        geometry = labels.MaskGeometry.encode(bitmap).model_dump()
        return labels.make("mask", name, geometry, score=score)

    return mask


def _labelbay(bundle: Bundle) -> Iterator[Item]:
    """labelbay's JSON export: `[{"original_filename", "width", "height", "objects": [...]}]`,
    each object with its `source` (annotation or prediction), kind, class and geometry."""
    for entry in _documents(bundle, ".json"):
        with entry.open() as file:
            for i, image in enumerate(_stream(file, "item")):
                where = f"{entry.name}#/{i}"
                try:
                    name = str(image.get("original_filename") or image["file_name"])
                    objects = list(image.get("objects") or [])
                except (KeyError, TypeError, AttributeError) as error:
                    yield Problem(where, f"an image names its file in file_name: {error!r}")
                    continue
                yield name
                for j, found in enumerate(objects):
                    place = f"{where}/objects/{j}"
                    try:
                        origin = found.get("source")
                        if origin not in ("annotation", "prediction"):
                            raise ValueError(f"source is {origin!r}, not annotation or prediction")
                        yield Record(name, place, _labelbay_label(found), origin=origin)
                    except Invalid as error:
                        yield Problem(place, str(error))
                    except (KeyError, TypeError, ValueError, AttributeError) as error:
                        yield Problem(place, f"unreadable object: {error!r}")


def _labelbay_label(found: Mapping[str, Any]) -> Callable[[int, int], Label]:
    kind = found["kind"]
    geometry: dict[str, Any] = {}
    if kind in ("box", "text"):
        geometry = dict(found["bbox"])
        if kind == "text" and found.get("points"):
            geometry["points"] = found["points"]
    elif kind == "circle":
        geometry = dict(found["circle"])
    elif kind == "polygon":
        geometry = {"points": found["points"]}
    elif kind == "mask":
        geometry = dict(found["mask"])  # COCO RLE, as the export writes it
    fields = {k: found[k] for k in ("score", "text", "top_k", "attributes") if k in found}
    label = labels.make(kind, str(found["label"]), geometry, **fields)
    return lambda width, height: label
