"""Every kind of label keeps its kind from a model's prediction through review to every export;
a circle at the image's edge has one box, inside the image, in every format."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from defusedxml import ElementTree

from labelbay import labels
from labelbay.db.session import transaction
from labelbay.services.models import register_model
from tests.exports.helpers import Labelled, box, export, labelled_project
from tests.inference.conftest import constant_output_onnx
from tests.jobs.helpers import photo_jpegs, upload, wait_for_job
from tests.support.stack import Stack

# astronaut() is 512x512; this circle's disc hangs 8.36 px over the bottom edge.
EDGE_CIRCLE = {"cx": 169.6, "cy": 492.16, "r": 28.2}
INSIDE_BOX = (141.4, 463.96, 197.8, 512.0)

PREDICTED = [
    labels.make("box", "cat", box(10, 20, 60, 80), score=0.9, class_id=0),
    labels.make("circle", "coin", EDGE_CIRCLE, score=0.8, class_id=1),
    labels.make("polygon", "cat", {"points": [[100, 100], [200, 110], [150, 220]]}, score=0.7),
    labels.make("text", "text", box(300, 40, 420, 70), text="LABELBAY", score=0.95),
    labels.make(
        "classification",
        "cat",
        score=0.6,
        top_k=[{"label": "cat", "score": 0.6}, {"label": "coin", "score": 0.3}],
    ),
]


def _project(stack: Stack) -> Labelled:
    return labelled_project(
        stack,
        sizes=[(512, 512)],
        labels=[],
        names=["astronaut.jpg"],
        predictions={0: [label.to_json() for label in PREDICTED]},
        annotations={},
    )


def test_accepting_each_kind_of_prediction_makes_an_annotation_of_that_kind(stack: Stack) -> None:
    labelled = _project(stack)
    image_id = labelled.image_ids[0]
    (prediction,) = stack.client.get(
        f"/api/v1/images/{image_id}/predictions", headers=labelled.headers
    ).json()
    assert [x["kind"] for x in prediction["labels"]] == [
        "box",
        "circle",
        "polygon",
        "text",
        "classification",
    ]
    for index in range(len(PREDICTED)):
        answer = stack.client.post(
            f"/api/v1/images/{image_id}/predictions/{prediction['model_version_id']}/review",
            json={"index": index, "verdict": "accepted"},
            headers=labelled.headers,
        )
        assert answer.status_code == 200, answer.text
    made = stack.client.get(f"/api/v1/images/{image_id}/annotations", headers=labelled.headers)
    assert made.status_code == 200
    got = made.json()
    assert [(a["kind"], a["label"], a["source"]) for a in got] == [
        (x.kind, x.label, "prediction") for x in PREDICTED
    ]
    for annotation, label in zip(got, PREDICTED, strict=True):
        assert annotation["geometry"] == label.to_json()["geometry"]
        assert annotation["confidence"] == label.score
        assert annotation["model_version_id"] == prediction["model_version_id"]
    assert got[3]["text"] == "LABELBAY"
    assert got[4]["top_k"] == [{"label": "cat", "score": 0.6}, {"label": "coin", "score": 0.3}]


def test_a_circle_at_the_edge_has_one_box_inside_the_image_in_every_format(stack: Stack) -> None:
    labelled = _project(stack)
    boxes: dict[str, tuple[float, ...]] = {}

    coco = export(stack, labelled, format="coco").json()
    (circle,) = [a for a in coco["annotations"] if a["bbox"][0] == pytest.approx(141.4)]
    x, y, w, h = circle["bbox"]
    boxes["coco"] = (x, y, x + w, y + h)

    archive = zipfile.ZipFile(io.BytesIO(export(stack, labelled, format="yolo").content))
    data_yaml = archive.read("data.yaml").decode().splitlines()
    names = [line.split(": ")[1].strip('"') for line in data_yaml if line.startswith("  ")]
    for line in archive.read("labels/astronaut.txt").decode().splitlines():
        index, cx, cy, w, h = line.split()
        if names[int(index)] == "coin":
            cx_, cy_, w_, h_ = (float(v) * 512 for v in (cx, cy, w, h))
            boxes["yolo"] = (cx_ - w_ / 2, cy_ - h_ / 2, cx_ + w_ / 2, cy_ + h_ / 2)

    rows = list(csv.DictReader(io.StringIO(export(stack, labelled, format="csv").text)))
    (row,) = [r for r in rows if r["kind"] == "circle"]
    boxes["csv"] = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
    assert (float(row["cx"]), float(row["cy"]), float(row["r"])) == (169.6, 492.16, 28.2)

    (record,) = export(stack, labelled, format="json").json()
    (obj,) = [o for o in record["objects"] if o["kind"] == "circle"]
    boxes["json"] = tuple(obj["bbox"][k] for k in ("x1", "y1", "x2", "y2"))

    (task,) = export(stack, labelled, format="labelstudio").json()
    (ellipse,) = [r for r in task["predictions"][0]["result"] if r["type"] == "ellipselabels"]
    v = ellipse["value"]
    cx, cy, rx, ry = (v["x"] * 5.12, v["y"] * 5.12, v["radiusX"] * 5.12, v["radiusY"] * 5.12)
    # Label Studio keeps the ellipse; the part inside the image is the same clipped box.
    boxes["labelstudio"] = (max(cx - rx, 0), max(cy - ry, 0), min(cx + rx, 512), min(cy + ry, 512))

    cvat = ElementTree.fromstring(export(stack, labelled, format="cvat").content)
    (circle_xml,) = cvat.iter("ellipse")
    cx, cy, rx, ry = (float(circle_xml.get(k, "nan")) for k in ("cx", "cy", "rx", "ry"))
    # CVAT keeps the ellipse too.
    boxes["cvat"] = (max(cx - rx, 0), max(cy - ry, 0), min(cx + rx, 512), min(cy + ry, 512))

    assert set(boxes) == {"coco", "yolo", "csv", "json", "labelstudio", "cvat"}
    for name, got in boxes.items():
        assert got == pytest.approx(INSIDE_BOX, abs=1e-3), name
        assert 0 <= got[0] < got[2] <= 512 and 0 <= got[1] < got[3] <= 512, name  # noqa: PT018

    # VOC: the same box in whole pixels, its object marked truncated (it ran past the edge).
    voc = zipfile.ZipFile(io.BytesIO(export(stack, labelled, format="voc").content))
    objects = ElementTree.fromstring(voc.read("Annotations/astronaut.xml")).iter("object")
    (coin,) = [o for o in objects if o.findtext("name") == "coin"]
    edges = ("xmin", "ymin", "xmax", "ymax")
    assert tuple(int(coin.findtext(f"bndbox/{k}") or "") for k in edges) == pytest.approx(
        INSIDE_BOX, abs=0.5
    )
    assert coin.findtext("truncated") == "1"


def test_json_export_carries_text_and_top_k(stack: Stack) -> None:
    labelled = _project(stack)
    (record,) = export(stack, labelled, format="json").json()
    by_kind = {o["kind"]: o for o in record["objects"]}
    assert by_kind["text"]["text"] == "LABELBAY"
    assert by_kind["classification"]["top_k"] == [
        {"label": "cat", "score": 0.6},
        {"label": "coin", "score": 0.3},
    ]
    assert "bbox" not in by_kind["classification"]
    assert by_kind["polygon"]["points"] == [[100, 100], [200, 110], [150, 220]]


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"cx": 5, "cy": 5, "r": 20}, "circle at (5, 5) with radius 20 leaves the image"),
        ({"cx": 500, "cy": 100, "r": 13}, "leaves the image (512x512 pixels)"),
    ],
)
def test_a_circle_annotation_leaving_the_image_is_a_422(
    stack: Stack, geometry: dict[str, float], message: str
) -> None:
    labelled = _project(stack)
    answer = stack.client.post(
        f"/api/v1/images/{labelled.image_ids[0]}/annotations",
        json={"kind": "circle", "label": "coin", "geometry": geometry},
        headers=labelled.headers,
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    listed = stack.client.get(
        f"/api/v1/images/{labelled.image_ids[0]}/annotations", headers=labelled.headers
    )
    assert listed.json() == []


def test_a_classifiers_top_k_reaches_prediction_export_and_job_results(
    stack: Stack, tmp_path: Path
) -> None:
    """A real job of an ONNX classifier whose logits are known."""
    logits = np.array([[1.0, 3.0, 2.0]], np.float32)
    path = constant_output_onnx(tmp_path / "cls.onnx", {"logits": logits})
    with transaction(stack.context.sessions) as session:
        register_model(
            session,
            store=stack.context.storage.models,
            name="scene",
            format="onnx-classify",
            task="classify",
            file=path,
            input_size=(64, 64),
            class_names=["beach", "kitchen", "office"],
            options={"top_k": 3},
        )
    headers = stack.user("admin@example.com", admin=True)
    project = stack.project(headers)
    (image_id,) = upload(stack, headers, project["id"], photo_jpegs(2)[1:])
    job = stack.client.post(
        f"/api/v1/projects/{project['id']}/jobs", json={"model": "scene"}, headers=headers
    )
    assert job.status_code in (201, 202), job.text
    assert wait_for_job(stack, headers, job.json()["id"])["status"] == "completed"

    probabilities = np.exp(logits[0]) / np.exp(logits[0]).sum()
    expected = [
        {"label": name, "score": round(float(probabilities[i]), 4)}
        for name, i in (("kitchen", 1), ("office", 2), ("beach", 0))
    ]
    (prediction,) = stack.client.get(
        f"/api/v1/images/{image_id}/predictions", headers=headers
    ).json()
    best = prediction["labels"][0]
    assert (best["kind"], best["label"], best["top_k"]) == ("classification", "kitchen", expected)

    results = stack.client.get(f"/api/v1/jobs/{job.json()['id']}/results", headers=headers).json()
    (result,) = results["results"]
    assert result["labels"][0]["top_k"] == expected

    exported = stack.client.get(
        f"/api/v1/projects/{project['id']}/export",
        params={"model": "scene", "format": "json"},
        headers=headers,
    )
    assert exported.status_code == 200, exported.text
    (record,) = exported.json()
    objects: list[dict[str, Any]] = record["objects"]
    assert objects[0]["kind"] == "classification"
    assert objects[0]["top_k"] == expected
    assert json.dumps(objects)  # plain JSON all the way down
