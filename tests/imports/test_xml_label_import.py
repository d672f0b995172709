"""Pascal VOC and CVAT XML labels in: labelbay's own exports come back as the same labels (VOC in
whole pixels, CVAT exactly), what datumaro writes in each format is read, bad elements are
reported by file and element, and an XML entity bomb is refused at once."""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.api.factories import image_part, jpeg_bytes, upload_ok
from tests.exports.helpers import export
from tests.imports.test_label_import import (
    SIZES,
    _close,
    _import,
    _labels_of,
    _source,
    _target,
)
from tests.jobs.helpers import wait_for_job
from tests.support.stack import Stack


def _voc_box(geometry: dict[str, Any], width: int, height: int) -> dict[str, float]:
    """What VOC keeps of a label: its box clipped to the image, in whole pixels."""
    if "r" in geometry:
        cx, cy, r = geometry["cx"], geometry["cy"], geometry["r"]
        xs, ys = [cx - r, cx + r], [cy - r, cy + r]
    elif "points" in geometry:
        xs, ys = [p[0] for p in geometry["points"]], [p[1] for p in geometry["points"]]
    else:
        xs, ys = [geometry["x1"], geometry["x2"]], [geometry["y1"], geometry["y2"]]
    x1, x2 = max(min(xs), 0), min(max(xs), width)
    y1, y2 = max(min(ys), 0), min(max(ys), height)
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


def _as_voc(labelled: list[list[Any]], *, scored: bool) -> list[list[Any]]:
    """Labels as `_labels_of` lists them, as VOC gives them back: boxes, no image classes."""
    out = []
    for (width, height), image in zip(SIZES, labelled, strict=True):
        rows = []
        for row in image:
            if row[0] == "classification":
                continue
            box = json.dumps(_voc_box(json.loads(row[-1]), width, height), sort_keys=True)
            rows.append(("box", row[1], row[2], box) if scored else ("box", row[1], box))
        out.append(sorted(rows))
    return out


def test_voc_annotations_round_trip_in_whole_pixels_and_a_rerun_changes_nothing(
    stack: Stack,
) -> None:
    source = _source(stack)
    target = _target(stack, source)
    answer = export(stack, source, format="voc", source="annotations")
    assert answer.headers["content-type"] == "application/zip"
    assert "project-" in answer.headers["content-disposition"]
    assert answer.headers["content-disposition"].endswith('.zip"')
    first = _import(stack, source, target, answer.content, format="voc", target="annotations")
    # The image class has no box, so VOC does not carry it: the box, polygon and circle of a.jpg.
    assert (first["images_matched"], first["added"], first["problems"]) == (2, 3, [])
    want = _as_voc(_labels_of(stack, source, source.project_id, "annotations"), scored=False)
    _close(_labels_of(stack, source, target, "annotations"), want, 0.5)

    again = _import(stack, source, target, answer.content, format="voc", target="annotations")
    assert (again["added"], again["unchanged"]) == (0, 3)


def test_voc_predictions_round_trip_with_scores(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="voc", source="predictions").content
    report = _import(stack, source, target, data, format="voc", target="predictions", model="m")
    assert (report["added"], report["problems"]) == (3, [])
    want = _as_voc(_labels_of(stack, source, source.project_id, "predictions"), scored=True)
    got = _labels_of(stack, source, target, "predictions")
    assert [[row[2] for row in image] for image in got] == [[0.9, 0.7], [0.4]]
    _close(got, want, 0.5)


def test_cvat_annotations_round_trip_exactly(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    answer = export(stack, source, format="cvat", source="annotations")
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.headers["content-disposition"].endswith('.xml"')
    first = _import(stack, source, target, answer.content, format="cvat", target="annotations")
    # Box, polygon, circle (an ellipse with equal radii) and the image class (a tag): all four.
    assert (first["images_matched"], first["added"], first["problems"]) == (2, 4, [])
    want = _labels_of(stack, source, source.project_id, "annotations")
    got = _labels_of(stack, source, target, "annotations")
    assert [k[:2] for k in got[0]] == [("box", "cat"), ("circle", "cat"), ("polygon", "dog")]
    _close(got, want, 1e-6)
    again = _import(stack, source, target, answer.content, format="cvat", target="annotations")
    assert (again["added"], again["unchanged"]) == (0, 4)


def test_cvat_predictions_round_trip_with_scores(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format="cvat", source="predictions").content
    report = _import(stack, source, target, data, format="cvat", target="predictions", model="m")
    assert (report["added"], report["problems"]) == (3, [])
    _close(
        _labels_of(stack, source, target, "predictions"),
        _labels_of(stack, source, source.project_id, "predictions"),
        1e-6,
    )


@pytest.mark.parametrize(("format", "added"), [("voc", 3), ("cvat", 4)])
def test_a_download_with_its_images_imports_too(stack: Stack, format: str, added: int) -> None:
    """A download with its images (`JPEGImages/`, `images/`) is read as it is."""
    source = _source(stack)
    target = _target(stack, source)
    data = export(stack, source, format=format, source="annotations", include_images="true").content
    report = _import(stack, source, target, data, format=format, target="annotations")
    assert (report["images_matched"], report["added"], report["problems"]) == (2, added, [])


def _zip(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _voc_xml(filename: str, objects: str) -> str:
    return f"<annotation><filename>{filename}</filename>{objects}</annotation>"


def _voc_object(name: str, box: str, extra: str = "") -> str:
    return f"<object><name>{name}</name>{box}{extra}</object>"


BNDBOX = "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>"


def test_bad_voc_elements_are_reported_by_file_and_object(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    bad_box = "<bndbox><xmin>9</xmin><ymin>2</ymin><xmax>3</xmax><ymax>40</ymax></bndbox>"
    not_number = "<bndbox><xmin>a</xmin><ymin>2</ymin><xmax>3</xmax><ymax>40</ymax></bndbox>"
    far = "<bndbox><xmin>500</xmin><ymin>500</ymin><xmax>600</xmax><ymax>600</ymax></bndbox>"
    score = "<attributes><attribute><name>score</name><value>high</value></attribute></attributes>"
    objects = [
        _voc_object("cat", BNDBOX),  # fine
        _voc_object("cat", bad_box),  # x2 < x1
        _voc_object("cat", ""),  # no bndbox
        _voc_object("cat", not_number),
        _voc_object("horse", BNDBOX),  # not in the project's label set
        _voc_object("cat", far),  # outside the image
        _voc_object("cat", BNDBOX, score),
        _voc_object("", BNDBOX),
    ]
    data = _zip(
        {
            "VOC/Annotations/a.xml": _voc_xml("a.jpg", "".join(objects)),
            "VOC/Annotations/b.xml": "<annotation><filename>b.jpg</filename><object>",
            "VOC/Annotations/c.xml": "<annotations/>",
            "VOC/Annotations/missing.xml": _voc_xml("missing.jpg", _voc_object("cat", BNDBOX)),
            "VOC/ImageSets/Main/default.txt": "a\n",
        }
    )
    report = _import(stack, source, target, data, format="voc", target="annotations")
    assert report["added"] == 1
    assert report["unmatched"] == ["missing.jpg"]
    problems = {p["place"]: p["reason"] for p in report["problems"]}
    a = "VOC/Annotations/a.xml:object"
    assert set(problems) == {
        *(f"{a}[{i}]" for i in range(1, 8)),
        "VOC/Annotations/b.xml",
        "VOC/Annotations/c.xml",
    }
    assert "greater" in problems[f"{a}[1]"]
    assert "<bndbox>" in problems[f"{a}[2]"]
    assert "'a' is not a number" in problems[f"{a}[3]"]
    assert "label set" in problems[f"{a}[4]"]
    assert "inside the image" in problems[f"{a}[5]"]
    assert "score 'high'" in problems[f"{a}[6]"]
    assert "label" in problems[f"{a}[7]"]
    assert "not well-formed XML" in problems["VOC/Annotations/b.xml"]
    assert "line 1" in problems["VOC/Annotations/b.xml"]
    assert "<annotations>" in problems["VOC/Annotations/c.xml"]


CVAT_HEAD = '<?xml version="1.0"?><annotations><version>1.1</version><meta><task/></meta>'


def test_bad_cvat_elements_are_reported_by_image_and_element(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    image_a = (
        '<image id="0" name="a.jpg" width="200" height="160">'
        '<box label="cat" xtl="1" ytl="2" xbr="30" ybr="40"/>'
        '<box label="cat" xtl="9" ytl="2" xbr="3" ybr="40"/>'
        '<box label="cat" xtl="1" ytl="2" xbr="30"/>'
        '<polygon label="dog" points="1,2;3,4"/>'
        '<polygon label="dog" points="1,2;x;5,6"/>'
        '<polyline label="dog" points="1,2;3,4;5,6"/>'
        '<ellipse label="cat" cx="100" cy="80" rx="40" ry="20"/>'
        '<ellipse label="cat" cx="100" cy="80" rx="20" ry="20.1"/>'
        '<box label="cat" xtl="1" ytl="2" xbr="30" ybr="40">'
        '<attribute name="score">2</attribute></box>'
        '<tag label="dog"/>'
        "</image>"
    )
    document = (
        CVAT_HEAD
        + image_a
        + '<image id="1" width="10" height="10"/>'
        + '<track id="0" label="cat"><box frame="0" xtl="1" ytl="1" xbr="5" ybr="5"/></track>'
        + "</annotations>"
    )
    report = _import(stack, source, target, document.encode(), format="cvat", target="annotations")
    problems = {p["place"]: p["reason"] for p in report["problems"]}
    # The places name the file (the upload's name, "labels") and the element in it.
    problems = {place.removeprefix("labels:"): reason for place, reason in problems.items()}
    assert set(problems) == {
        "image[0]/box[1]",
        "image[0]/box[2]",
        "image[0]/polygon[0]",
        "image[0]/polygon[1]",
        "image[0]/polyline[0]",
        "image[0]/box[3]",
        "image[1]",
        "track[0]",
    }
    assert all(p["place"].startswith("labels:") for p in report["problems"])
    assert "greater" in problems["image[0]/box[1]"]
    assert "ybr" in problems["image[0]/box[2]"]
    assert "3 to" in problems["image[0]/polygon[0]"]
    assert "'x' is not x,y" in problems["image[0]/polygon[1]"]
    assert "<polyline> is not a label kind" in problems["image[0]/polyline[0]"]
    assert "score" in problems["image[0]/box[3]"]
    assert "needs a name" in problems["image[1]"]
    assert "CVAT for images" in problems["track[0]"]
    # The good box, the stretched ellipse as a polygon, the round one as a circle, the tag.
    assert report["added"] == 4
    got = _labels_of(stack, source, target, "annotations")[0]
    kinds = sorted(row[0] for row in got)
    assert kinds == ["box", "circle", "classification", "polygon"]
    (circle,) = [json.loads(row[-1]) for row in got if row[0] == "circle"]
    assert circle == pytest.approx({"cx": 100, "cy": 80, "r": 20.05})


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


@pytest.mark.parametrize("format", ["voc", "cvat"])
def test_an_entity_bomb_is_refused_at_once(stack: Stack, format: str) -> None:
    """A billion laughs (a few hundred bytes that expand to gigabytes) sent alone gets a 422 that
    says why, before any job, without expanding anything; inside a zip it is one problem and the
    other files are read."""
    source = _source(stack)
    target = _target(stack, source)
    root = "annotation" if format == "voc" else "annotations"
    bomb = f"{BOMB}<{root}><filename>&lol9;</filename></{root}>"
    answer = stack.client.post(
        f"/api/v1/projects/{target}/labels/import",
        files={"files": ("bomb.xml", bomb.encode())},
        data={"format": format},
        headers=source.headers,
    )
    assert answer.status_code == 422, answer.text
    assert f"not a {format} file" in answer.json()["detail"]
    assert "entities" in answer.json()["detail"]
    if format == "voc":
        good = _voc_xml("a.jpg", _voc_object("cat", BNDBOX))
        data = _zip({"Annotations/bomb.xml": bomb, "Annotations/a.xml": good})
    else:
        good = (
            CVAT_HEAD + '<image id="0" name="a.jpg" width="200" height="160">'
            '<box label="cat" xtl="1" ytl="2" xbr="30" ybr="40"/></image></annotations>'
        )
        data = _zip({"bomb.xml": bomb, "annotations.xml": good})
    report = _import(stack, source, target, data, format=format, target="annotations")
    assert report["added"] == 1
    (problem,) = report["problems"]
    assert problem["place"].endswith("bomb.xml")
    assert "entities" in problem["reason"]


def _corrupt_zip() -> bytes:
    """A zip whose one XML entry's deflated bytes are damaged."""
    data = bytearray(_zip({"Annotations/a.xml": "<annotation>" + "<object/>" * 200}))
    start = data.find(b"Annotations/a.xml") + len("Annotations/a.xml") + 5
    data[start : start + 20] = b"\xff" * 20
    return bytes(data)


@pytest.mark.parametrize(
    ("format", "content", "reason"),
    [
        ("voc", b"<annotation><object>", "not well-formed XML"),
        ("voc", b"<annotations/>", "not VOC's <annotation>"),
        ("cvat", b"<annotations><image>", "not well-formed XML"),
        ("cvat", b"<annotation/>", "not CVAT's <annotations>"),
        ("voc", _corrupt_zip(), "Annotations/a.xml cannot be read from the zip"),
        ("cvat", _corrupt_zip(), "Annotations/a.xml cannot be read from the zip"),
    ],
)
def test_a_file_that_cannot_be_read_fails_the_import_with_the_reason(
    stack: Stack, format: str, content: bytes, reason: str
) -> None:
    source = _source(stack)
    target = _target(stack, source)
    answer = stack.client.post(
        f"/api/v1/projects/{target}/labels/import",
        files={"files": ("x", content)},
        data={"format": format},
        headers=source.headers,
    )
    assert answer.status_code == 202, answer.text
    job = wait_for_job(stack, source.headers, answer.json()["id"])
    assert job["status"] == "failed", job
    assert job["error"].startswith(f"not a {format} file: "), job["error"]
    assert reason in job["error"]
    assert _labels_of(stack, source, target, "annotations") == [[], []]


def test_a_file_that_is_not_xml_is_refused_at_once(stack: Stack) -> None:
    source = _source(stack)
    target = _target(stack, source)
    answer = stack.client.post(
        f"/api/v1/projects/{target}/labels/import",
        files={"files": ("x.xml", b'{"images": []}')},
        data={"format": "cvat"},
        headers=source.headers,
    )
    assert answer.status_code == 422, answer.text
    assert "not XML" in answer.json()["detail"]


# --- what datumaro writes --------------------------------------------------------------------


def _datumaro() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return __import__("datumaro")


def _made_by_datumaro(folder: Path, dm_format: str) -> bytes:
    """A dataset built with datumaro (boxes, a polygon, an image class) on images the size of the
    project's, written by datumaro in `dm_format` with its media, as a zip."""
    dm = _datumaro()
    from datumaro.components.media import Image

    (w0, h0), (w1, h1) = SIZES
    dataset = dm.Dataset.from_iterable(
        [
            dm.DatasetItem(
                id="a",
                media=Image.from_numpy(np.zeros((h0, w0, 3), np.uint8)),
                annotations=[
                    dm.Bbox(10.5, 20.25, 49.5, 59.75, label=0),
                    dm.Polygon([150, 10, 190, 20, 170, 70], label=1),
                    dm.Label(1),
                ],
            ),
            dm.DatasetItem(
                id="b",
                media=Image.from_numpy(np.zeros((h1, w1, 3), np.uint8)),
                annotations=[dm.Bbox(1, 2, 118, 87, label=1)],
            ),
        ],
        categories=["cat", "dog"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.export(str(folder), dm_format, save_media=True)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(root) / name
                archive.write(path, path.relative_to(folder).as_posix())
    return out.getvalue()


def _box(x1: float, y1: float, x2: float, y2: float) -> str:
    return json.dumps({"x1": x1, "y1": y1, "x2": x2, "y2": y2}, sort_keys=True)


POLYGON = json.dumps({"points": [[150, 10], [190, 20], [170, 70]]})


@pytest.mark.parametrize(
    ("format", "dm_format", "want"),
    [
        # VOC's Annotations hold boxes only: datumaro leaves the polygon out, and writes the
        # image class to ImageSets/Main/dog_default.txt, which labelbay does not read.
        (
            "voc",
            "voc",
            [[("box", "cat", _box(10.5, 20.25, 60, 80))], [("box", "dog", _box(1, 2, 119, 89))]],
        ),
        (
            "voc",
            "voc_detection",
            [[("box", "cat", _box(10.5, 20.25, 60, 80))], [("box", "dog", _box(1, 2, 119, 89))]],
        ),
        (
            "cvat",
            "cvat",
            [
                [
                    ("box", "cat", _box(10.5, 20.25, 60, 80)),
                    ("classification", "dog", "{}"),
                    ("polygon", "dog", POLYGON),
                ],
                [("box", "dog", _box(1, 2, 119, 89))],
            ],
        ),
    ],
)
def test_labelbay_imports_what_datumaro_writes(
    stack: Stack, tmp_path: Path, format: str, dm_format: str, want: list[list[Any]]
) -> None:
    source = _source(stack)
    project = stack.project(source.headers, labels=["cat", "dog"])
    # datumaro names the images after their ids with its default extension, `.jpg`.
    parts = [
        image_part(jpeg_bytes(w, h, seed=i), f"{'ab'[i]}.jpg") for i, (w, h) in enumerate(SIZES)
    ]
    upload_ok(stack, project["id"], source.headers, *parts)
    data = _made_by_datumaro(tmp_path / dm_format, dm_format)
    report = _import(stack, source, project["id"], data, format=format, target="annotations")
    assert report["problems"] == []
    assert report["images_matched"] == 2
    _close(_labels_of(stack, source, project["id"], "annotations"), want, 1e-6)
