"""The Pascal VOC and CVAT XML downloads as datumaro reads them: the same images (with their
media, under `JPEGImages/` and `images/`), classes, counts and boxes as the project holds, scores
where the format keeps them; and the files laid out as VOC and CVAT lay them out."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree

from labelbay import labels
from labelbay.exports.voc import voc_box
from tests.exports.helpers import Labelled, export
from tests.exports.test_interop import _project as kinds_project
from tests.exports.test_judges import CLASSES, NAMES, SIZES, _check, _expected, _judge
from tests.exports.test_judges import _project as boxes_project
from tests.support.stack import Stack


def _download(stack: Stack, labelled: Labelled, tmp_path: Path, **params: Any) -> Path:
    answer = export(stack, labelled, **params)
    assert answer.headers["content-type"] == "application/zip"
    folder = tmp_path / params["format"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = archive.namelist()
        assert len(names) == len(set(names))
        archive.extractall(folder)
    return folder


def _items(
    dataset: Any, dm: Any
) -> list[tuple[tuple[int, int], list[tuple[int, tuple[float, ...]]]]]:
    """Per item: (height, width) and its (class index, xyxy box)es, sorted; media must be there."""
    found = []
    for item in dataset:
        assert Path(item.media.path).is_file(), item.id
        assert item.media.data is not None  # datumaro decodes the image it found
        height, width = item.media.size
        boxes = []
        for a in item.annotations:
            if a.type == dm.AnnotationType.bbox:
                x, y, w, h = a.get_bbox()
                boxes.append((a.label, (x, y, x + w, y + h)))
        found.append(((height, width), sorted(boxes)))
    return found


@pytest.mark.parametrize("dm_format", ["voc", "voc_detection"])
def test_datumaro_imports_the_voc_download(stack: Stack, tmp_path: Path, dm_format: str) -> None:
    folder = _download(stack, boxes_project(stack), tmp_path, format="voc", include_images="true")
    images = sorted(p.name for p in (folder / "JPEGImages").iterdir())
    assert len(images) == 3
    assert {NAMES[0], NAMES[1]} < set(images)  # the third shares a stem: renamed `<id>_a.png`
    dm = _judge("datumaro")
    dataset = dm.Dataset.import_from(str(folder), dm_format)
    assert [c.name for c in dataset.categories()[dm.AnnotationType.label]] == CLASSES
    # Whole pixels, the nearest: (10.5, 20.25, 60, 80) is written as (10, 20, 60, 80).
    whole = [
        (shape, [(c, tuple(float(round(v)) for v in box)) for c, box in boxes])
        for shape, boxes in _expected()
    ]
    assert sorted(_items(dataset, dm)) == sorted(whole)
    scores = sorted(a.attributes["score"] for item in dataset for a in item.annotations)
    assert scores == ["0.5", "0.5", "0.5"]  # VOC's <attributes> extension, read as text


def test_datumaro_imports_the_cvat_download(stack: Stack, tmp_path: Path) -> None:
    folder = _download(stack, boxes_project(stack), tmp_path, format="cvat", include_images="true")
    assert (folder / "annotations.xml").is_file()
    assert len(list((folder / "images").iterdir())) == len(SIZES)
    dm = _judge("datumaro")
    dataset = dm.Dataset.import_from(str(folder), "cvat")
    assert [c.name for c in dataset.categories()[dm.AnnotationType.label]] == CLASSES
    _check(_items(dataset, dm))  # full precision: 10.5 and 20.25 as they are
    scores = [a.attributes["score"] for item in dataset for a in item.annotations]
    assert scores == [0.5, 0.5, 0.5]  # a declared number attribute


def test_every_label_kind_in_voc_and_cvat(stack: Stack, tmp_path: Path) -> None:
    """Box, circle, polygon and text line (and an image class): VOC writes the four as boxes;
    CVAT as box, ellipse, polygon and box with its text, the class as a tag. datumaro 1.13 reads
    all of CVAT's but the ellipse (it has no ellipse type)."""
    labelled = kinds_project(stack)
    dm = _judge("datumaro")

    voc = _download(
        stack, labelled, tmp_path, format="voc", source="predictions", include_images="true"
    )
    root = ElementTree.parse(voc / "Annotations" / "a.xml").getroot()
    assert root.findtext("filename") == "a.jpg"
    assert [root.findtext(f"size/{k}") for k in ("width", "height", "depth")] == ["200", "200", "3"]
    objects = root.findall("object")
    assert [o.findtext("name") for o in objects] == ["cat", "coin", "cat", "text"]
    assert {o.findtext("difficult") for o in objects} == {"0"}
    assert [o.findtext("bndbox/xmin") for o in objects] == ["10", "70", "150", "20"]
    text = objects[3].find("attributes")
    assert text is not None
    assert {a.findtext("name"): a.findtext("value") for a in text} == {
        "score": "0.95",
        "text": "HELLO",
    }
    assert (voc / "ImageSets" / "Main" / "default.txt").read_text().split() == ["a", "b"]
    assert (voc / "labelmap.txt").read_text().splitlines()[1:] == ["cat:::", "coin:::", "text:::"]
    dataset = dm.Dataset.import_from(str(voc), "voc")
    counts = {item.id: len(item.annotations) for item in dataset}
    assert counts == {"a": 4, "b": 0}

    cvat = _download(stack, labelled, tmp_path, format="cvat", source="both", include_images="true")
    document = ElementTree.parse(cvat / "annotations.xml").getroot()
    assert document.findtext("version") == "1.1"
    image = document.find("image")
    assert image is not None
    assert [child.tag for child in image] == [
        *("box", "ellipse", "polygon", "box"),  # predictions
        *("box", "ellipse", "polygon", "tag"),  # people's labels
    ]
    assert [child.get("source") for child in image] == ["auto"] * 4 + ["manual"] * 4
    ellipse = image.find("ellipse")
    assert ellipse is not None
    assert [ellipse.get(k) for k in ("cx", "cy", "rx", "ry")] == ["100.0", "100.0", "30.0", "30.0"]
    dataset = dm.Dataset.import_from(str(cvat), "cvat")
    (item, _) = sorted(dataset, key=lambda i: i.id)
    kinds = sorted(a.type.name for a in item.annotations)
    assert kinds == ["bbox", "bbox", "bbox", "label", "polygon", "polygon"]
    (line,) = [a for a in item.annotations if a.attributes.get("text")]
    assert line.attributes["text"] == "HELLO"
    assert line.get_bbox() == pytest.approx([20, 150, 100, 20])


def test_voc_without_images_and_plain_cvat_xml(stack: Stack) -> None:
    """Without `include_images`: VOC is the zip without `JPEGImages/`, CVAT one XML file."""
    labelled = boxes_project(stack)
    voc = export(stack, labelled, format="voc")
    names = zipfile.ZipFile(io.BytesIO(voc.content)).namelist()
    assert not [n for n in names if n.startswith("JPEGImages/")]
    assert len([n for n in names if n.startswith("Annotations/")]) == len(SIZES)
    cvat = export(stack, labelled, format="cvat")
    assert cvat.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(cvat.content)
    assert [i.get("name") for i in root.iter("image")][:2] == NAMES[:2]
    labels = [label.findtext("name") for label in root.iter("label")]
    assert labels == CLASSES


@pytest.mark.parametrize(
    ("box", "want"),
    [
        ((10.5, 20.25, 60, 80), (10, 20, 60, 80)),  # the nearest pixel (halves to even)
        ((10.6, 20.75, 59.4, 79.5), (11, 21, 59, 80)),
        ((5, 5, 5.4, 9), (5, 5, 6, 9)),  # under a pixel wide: one pixel
        ((199.6, 10, 199.9, 10.2), (199, 10, 200, 11)),  # at the edge: still inside
        ((-20, -5, 30, 250), (0, 0, 30, 100)),  # clipped to the image, as in every format
    ],
)
def test_voc_boxes_are_whole_pixels_inside_the_image(
    box: tuple[float, float, float, float], want: tuple[int, int, int, int]
) -> None:
    label = labels.make("box", "cat", dict(zip(("x1", "y1", "x2", "y2"), box, strict=True)))
    assert voc_box(label, 200, 100) == want
