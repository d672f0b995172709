"""YOLO (zip re-read), CSV (csv module), JSON and Label Studio exports."""

from __future__ import annotations

import csv
import io
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.exports.helpers import Labelled, box, detection, export, labelled_project
from tests.support.stack import Stack


def _project(stack: Stack) -> Labelled:
    return labelled_project(
        stack,
        sizes=[(200, 100), (64, 48)],
        labels=["bird", "cat"],
        predictions={
            0: [
                detection("cat", 0.9, box(20, 10, 60, 50), class_id=1),
                detection("bird", 0.4, box(100, 0, 200, 100)),
            ]
        },
        annotations={0: [{"kind": "box", "label": "bird", "geometry": box(0, 0, 100, 50)}]},
    )


def test_yolo_zip_reads_back(stack: Stack) -> None:
    labelled = _project(stack)
    answer = export(stack, labelled, format="yolo", source="predictions")
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    data_yaml = archive.read("data.yaml").decode()
    assert "nc: 2" in data_yaml
    assert '  0: "bird"' in data_yaml
    assert '  1: "cat"' in data_yaml
    lines = archive.read("labels/img0.txt").decode().splitlines()
    parsed = [(int(c), *map(float, rest)) for c, *rest in (line.split() for line in lines)]
    assert parsed[0] == pytest.approx((1, 0.2, 0.3, 0.2, 0.4))
    assert parsed[1] == pytest.approx((0, 0.75, 0.5, 0.5, 1.0))
    assert archive.read("labels/img1.txt") == b""  # every image, even without a box
    assert archive.read("images.txt").decode().splitlines() == [
        "images/img0.jpg",
        "images/img1.jpg",
    ]


def test_csv(stack: Stack) -> None:
    labelled = _project(stack)
    answer = export(stack, labelled, format="csv", source="both")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["file_name"], r["source"], r["label"]) for r in rows] == [
        ("img0.jpg", "prediction", "cat"),
        ("img0.jpg", "prediction", "bird"),
        ("img0.jpg", "annotation", "bird"),
        ("img1.jpg", "", ""),
    ]
    first = rows[0]
    assert float(first["score"]) == 0.9
    assert [float(first[k]) for k in ("x1", "y1", "x2", "y2")] == [20, 10, 60, 50]
    assert rows[2]["score"] == ""
    assert rows[0]["image_id"] == str(labelled.image_ids[0])


def test_json(stack: Stack) -> None:
    labelled = _project(stack)
    data = export(stack, labelled, format="json", source="annotations").json()
    assert [d["file_name"] for d in data] == ["img0.jpg", "img1.jpg"]
    assert data[0]["objects"] == [
        {
            "source": "annotation",
            "kind": "box",
            "label": "bird",
            "bbox": {"x1": 0.0, "y1": 0.0, "x2": 100.0, "y2": 50.0},
        }
    ]
    assert data[1]["objects"] == []
    assert data[1]["width"] == 64


def test_label_studio_tasks(stack: Stack) -> None:
    labelled = _project(stack)
    tasks = export(stack, labelled, format="labelstudio", source="predictions").json()
    assert len(tasks) == 2
    first = tasks[0]
    url = urlsplit(first["data"]["image"])
    assert url.path == f"/api/v1/images/{labelled.image_ids[0]}/content"
    assert set(parse_qs(url.query)) == {"expires", "signature"}  # a signed link (test_signed_links)
    (prediction,) = first["predictions"]
    assert prediction["model_version"] == "det:1"
    cat = prediction["result"][0]
    assert cat["type"] == "rectanglelabels"
    assert cat["from_name"] == "box"
    assert cat["to_name"] == "image"
    assert (cat["original_width"], cat["original_height"]) == (200, 100)
    value = cat["value"]
    assert value["rectanglelabels"] == ["cat"]
    assert (value["x"], value["y"], value["width"], value["height"]) == pytest.approx(
        (10.0, 10.0, 20.0, 40.0)
    )
    assert "predictions" not in tasks[1]
