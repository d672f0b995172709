"""People's masks through the annotations API, masks a model made through review, and what a
mask costs in SQL: its RLE, never its pixels."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy import String, cast, func, select

from labelbay import labels
from labelbay.db.models import Annotation, ModelVersion, Prediction
from labelbay.db.session import transaction
from labelbay.labels import MaskGeometry
from tests.api.factories import jpeg_bytes
from tests.api.test_evaluations import wait_for_evaluation
from tests.evaluation.cocoref import NAMES, cocoeval_stats
from tests.exports.helpers import export, labelled_project
from tests.support.stack import Stack

WIDTH, HEIGHT = 1920, 1080


def disc(cx: int, cy: int, r: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    y, x = np.ogrid[:height, :width]
    return ((x - cx) ** 2 + (y - cy) ** 2 <= r * r).astype(np.uint8)


def setup_image(stack: Stack) -> tuple[dict[str, str], dict[str, Any]]:
    headers = stack.user("owner@example.com")
    project = stack.project(headers, labels=["cell"])
    answer = stack.client.post(
        f"/api/v1/projects/{project['id']}/images",
        files=[("files", ("a.jpg", jpeg_bytes(WIDTH, HEIGHT), "image/jpeg"))],
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["images"][0]


def test_a_1080p_mask_is_stored_as_its_rle(stack: Stack) -> None:
    headers, image = setup_image(stack)
    bitmap = disc(900, 500, 300)
    geometry = MaskGeometry.encode(bitmap).model_dump()
    url = f"/api/v1/images/{image['id']}/annotations"
    created = stack.client.post(
        url, json={"kind": "mask", "label": "cell", "geometry": geometry}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["geometry"] == geometry
    with transaction(stack.context.sessions) as session:
        stored = session.scalar(select(func.length(cast(Annotation.geometry, String))))
    # The row holds the RLE text and a few bytes of JSON around it; the pixels would be 2 MB.
    assert len(geometry["counts"]) < stored < len(geometry["counts"]) + 64
    assert stored < 10_000

    (listed,) = stack.client.get(url, headers=headers).json()
    back = labels.make("mask", "cell", listed["geometry"])
    np.testing.assert_array_equal(back.geometry.decode(), bitmap)  # type: ignore[union-attr]

    moved = MaskGeometry.encode(disc(1000, 500, 200)).model_dump()
    patched = stack.client.patch(
        f"/api/v1/annotations/{listed['id']}", json={"geometry": moved}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["geometry"] == moved


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (MaskGeometry.encode(disc(50, 50, 20, 200, 100)).model_dump(), "not [height, width]"),
        (MaskGeometry.encode(np.zeros((HEIGHT, WIDTH))).model_dump(), "no pixel is set"),
        ({"size": [HEIGHT, WIDTH], "counts": "0{"}, "RLE text"),
        ({"size": [HEIGHT, WIDTH], "counts": "5"}, "cover 5 pixels"),
        ({"size": [HEIGHT, WIDTH]}, "counts"),
    ],
)
def test_bad_masks_are_refused_and_nothing_is_stored(
    stack: Stack, geometry: dict[str, Any], message: str
) -> None:
    headers, image = setup_image(stack)
    url = f"/api/v1/images/{image['id']}/annotations"
    answer = stack.client.post(
        url, json={"kind": "mask", "label": "cell", "geometry": geometry}, headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    assert stack.client.get(url, headers=headers).json() == []


def test_an_accepted_mask_prediction_becomes_a_mask_annotation(stack: Stack) -> None:
    headers, image = setup_image(stack)
    bitmap = disc(300, 300, 100)
    predicted = labels.make(
        "mask", "cell", MaskGeometry.encode(bitmap).model_dump(), score=0.8, class_id=0
    )
    with transaction(stack.context.sessions) as session:
        version = ModelVersion(name="seg", version="1", task="detect", format="onnx-yolo")
        session.add(version)
        session.flush()
        session.add(
            Prediction(
                image_id=uuid.UUID(image["id"]),
                model_version_id=version.id,
                detections=[predicted.to_json()],
                num_detections=1,
            )
        )
        version_id = version.id
    base = f"/api/v1/images/{image['id']}"
    (prediction,) = stack.client.get(f"{base}/predictions", headers=headers).json()
    assert prediction["labels"][0]["geometry"] == predicted.geometry.model_dump()
    accepted = stack.client.post(
        f"{base}/predictions/{version_id}/review",
        json={"index": 0, "verdict": "accepted"},
        headers=headers,
    )
    assert accepted.status_code == 200, accepted.text
    (annotation,) = stack.client.get(f"{base}/annotations", headers=headers).json()
    assert (annotation["kind"], annotation["source"]) == ("mask", "prediction")
    assert annotation["geometry"] == predicted.geometry.model_dump()


def test_segm_evaluation_equals_cocoeval_on_the_projects_coco_exports(stack: Stack) -> None:
    """Masks, polygons and boxes on both sides, judged by mask IoU: the same 12 numbers as
    COCOeval(iouType="segm") on the project's COCO exports; by box IoU they differ."""
    size = (160, 120)
    cell, other = disc(50, 50, 30, *size), disc(120, 80, 25, *size)
    square = np.zeros((size[1], size[0]), np.uint8)
    square[20:81, 20:81] = 1  # the cell's box as a mask: its box IoU is 1, its mask IoU ~0.77
    triangle = [[100, 10], [150, 10], [125, 50]]
    labelled = labelled_project(
        stack,
        sizes=[size, size],
        labels=["cell", "dirt"],
        predictions={
            0: [
                labels.make(
                    "mask", "cell", MaskGeometry.encode(square).model_dump(), score=0.9
                ).to_json(),
                labels.make("polygon", "dirt", {"points": triangle}, score=0.8).to_json(),
            ],
            1: [
                labels.make(
                    "mask", "cell", MaskGeometry.encode(other).model_dump(), score=0.7
                ).to_json(),
                labels.make(
                    "box", "dirt", {"x1": 0, "y1": 0, "x2": 20, "y2": 20}, score=0.3
                ).to_json(),
            ],
        },
        annotations={
            0: [
                {
                    "kind": "mask",
                    "label": "cell",
                    "geometry": MaskGeometry.encode(cell).model_dump(),
                },
                {"kind": "polygon", "label": "dirt", "geometry": {"points": triangle}},
            ],
            1: [
                {
                    "kind": "mask",
                    "label": "cell",
                    "geometry": MaskGeometry.encode(other).model_dump(),
                },
                {
                    "kind": "box",
                    "label": "dirt",
                    "geometry": {"x1": 2, "y1": 2, "x2": 20, "y2": 20},
                },
            ],
        },
    )
    answer = stack.client.post(
        f"/api/v1/projects/{labelled.project_id}/evaluations",
        json={
            "model": "det",
            "ground_truth": "annotations",
            "score_threshold": 0.0,
            "iou_type": "segm",
        },
        headers=labelled.headers,
    )
    assert answer.status_code == 202, answer.text  # an evaluation runs as a job
    report = wait_for_evaluation(stack, labelled, answer.json()["id"])
    assert report["status"] == "completed", report
    assert (report["kind"], report["metrics"]["iou_type"]) == ("segmentation", "segm")
    gt = export(stack, labelled, source="annotations").json()
    predicted = export(stack, labelled, source="predictions").json()["annotations"]
    expected = cocoeval_stats(gt, predicted, "segm")
    for name in NAMES:
        assert report["metrics"][name] == pytest.approx(expected[name], abs=1e-4), name
    assert cocoeval_stats(gt, predicted, "bbox")["map"] > expected["map"]
