"""Reviewing images: annotations, verdicts on predictions, review marks and the list filters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from labelbay.db.models import ModelVersion, Prediction
from labelbay.db.session import transaction
from tests.api.factories import jpeg_bytes
from tests.exports.helpers import box, detection
from tests.support.stack import Stack


def setup_image(stack: Stack, labels: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    headers = stack.user("owner@example.com")
    project = stack.project(headers, labels=labels)
    answer = stack.client.post(
        f"/api/v1/projects/{project['id']}/images",
        files=[("files", ("a.jpg", jpeg_bytes(200, 100), "image/jpeg"))],
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return headers, answer.json()["images"][0]


def add_prediction(stack: Stack, image_id: str) -> int:
    with transaction(stack.context.sessions) as session:
        version = ModelVersion(name="m", version="1", task="detect", format="onnx-yolo")
        session.add(version)
        session.flush()
        session.add(
            Prediction(
                image_id=uuid.UUID(image_id),
                model_version_id=version.id,
                detections=[
                    detection("cat", 0.9, box(10.0, 10.0, 50.0, 60.0)),
                    detection("cat", 0.3, box(100.0, 5.0, 150.0, 90.0)),
                ],
                num_detections=2,
            )
        )
        return version.id


def test_annotation_lifecycle(stack: Stack) -> None:
    headers, image = setup_image(stack, ["cat", "dog"])
    url = f"/api/v1/images/{image['id']}/annotations"
    box = {"kind": "box", "label": "cat", "geometry": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}}
    created = stack.client.post(url, json=box, headers=headers)
    assert created.status_code == 201, created.text
    annotation = created.json()
    assert annotation["geometry"] == {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0}
    moved = stack.client.patch(
        f"/api/v1/annotations/{annotation['id']}",
        json={"label": "dog", "geometry": {"x1": 5, "y1": 5, "x2": 60, "y2": 50}},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["label"], moved.json()["geometry"]["x2"]) == ("dog", 60.0)
    for label in ("cat", "dog"):  # the image's class: the second replaces the first
        answer = stack.client.post(
            url, json={"kind": "classification", "label": label}, headers=headers
        )
        assert answer.status_code == 201
    rows = stack.client.get(url, headers=headers).json()
    assert [(r["kind"], r["label"]) for r in rows] == [("box", "dog"), ("classification", "dog")]
    deleted = stack.client.delete(f"/api/v1/annotations/{annotation['id']}", headers=headers)
    assert deleted.status_code == 204
    assert len(stack.client.get(url, headers=headers).json()) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"kind": "box", "label": "cat", "geometry": {"x1": 1, "y1": 2, "x2": 300, "y2": 40}},
            "outside",
        ),
        (
            {"kind": "box", "label": "cat", "geometry": {"x1": 30, "y1": 2, "x2": 10, "y2": 40}},
            "greater",
        ),
        (
            {"kind": "box", "label": "cat", "geometry": {"x1": "a", "y1": 2, "x2": 10, "y2": 40}},
            "number",
        ),
        (
            {"kind": "box", "label": "horse", "geometry": {"x1": 1, "y1": 2, "x2": 10, "y2": 40}},
            "label set",
        ),
        ({"kind": "circle", "label": "cat", "geometry": {"cx": 10, "cy": 10, "r": 0}}, "positive"),
        ({"kind": "polygon", "label": "cat", "geometry": {"points": [[1, 1], [2, 2]]}}, "3 to"),
        (
            {"kind": "polygon", "label": "cat", "geometry": {"points": [[1, 1], [2, 2], [999, 2]]}},
            "outside",
        ),
        ({"kind": "mask", "label": "cat", "geometry": {}}, "size"),
    ],
)
def test_bad_annotations(stack: Stack, body: dict[str, Any], message: str) -> None:
    headers, image = setup_image(stack, ["cat"])
    answer = stack.client.post(
        f"/api/v1/images/{image['id']}/annotations", json=body, headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    assert (
        stack.client.get(f"/api/v1/images/{image['id']}/annotations", headers=headers).json() == []
    )


def test_accept_and_reject_predictions_then_mark_reviewed(stack: Stack) -> None:
    headers, image = setup_image(stack, ["cat"])
    version_id = add_prediction(stack, image["id"])
    base = f"/api/v1/images/{image['id']}"
    predictions = stack.client.get(f"{base}/predictions", headers=headers).json()
    assert [p["model"] for p in predictions] == ["m"]
    review_url = f"{base}/predictions/{version_id}/review"
    accepted = stack.client.post(
        review_url, json={"index": 0, "verdict": "accepted"}, headers=headers
    )
    assert accepted.json() == {"0": "accepted"}
    rejected = stack.client.post(
        review_url, json={"index": 1, "verdict": "rejected"}, headers=headers
    )
    assert rejected.json() == {"0": "accepted", "1": "rejected"}
    out_of_range = stack.client.post(
        review_url, json={"index": 7, "verdict": "accepted"}, headers=headers
    )
    assert out_of_range.status_code == 422
    annotations = stack.client.get(f"{base}/annotations", headers=headers).json()
    assert [(a["source"], a["label"], a["confidence"]) for a in annotations] == [
        ("prediction", "cat", 0.9)
    ]
    project_id = image["project_id"]
    listing = f"/api/v1/projects/{project_id}/images"
    assert (
        stack.client.get(f"{listing}?review_status=reviewed", headers=headers).json()["images"]
        == []
    )
    marked = stack.client.post(f"{base}/review", json={"status": "reviewed"}, headers=headers)
    assert marked.json()["review_status"] == "reviewed"
    assert (
        len(stack.client.get(f"{listing}?review_status=reviewed", headers=headers).json()["images"])
        == 1
    )
    assert (
        len(stack.client.get(f"{listing}?has_predictions=true", headers=headers).json()["images"])
        == 1
    )
    assert (
        stack.client.get(f"{listing}?has_predictions=false", headers=headers).json()["images"] == []
    )
    assert len(stack.client.get(f"{listing}?label=cat", headers=headers).json()["images"]) == 1
    assert stack.client.get(f"{listing}?label=dog", headers=headers).json()["images"] == []


def test_viewer_can_read_but_not_annotate(stack: Stack) -> None:
    headers, image = setup_image(stack, ["cat"])
    viewer = stack.user("viewer@example.com")
    answer = stack.client.put(
        f"/api/v1/projects/{image['project_id']}/members",
        json={"email": "viewer@example.com", "role": "viewer"},
        headers=headers,
    )
    assert answer.status_code == 200
    url = f"/api/v1/images/{image['id']}/annotations"
    assert stack.client.get(url, headers=viewer).status_code == 200
    box = {"kind": "box", "label": "cat", "geometry": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}}
    assert stack.client.post(url, json=box, headers=viewer).status_code == 403
    outsider = stack.user("outsider@example.com")
    assert stack.client.get(url, headers=outsider).status_code == 404
