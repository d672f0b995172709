"""Evaluations through the API: a model's stored labels judged against the project's annotations
(or another model), the report equal to COCOeval on the project's own COCO exports, and the
per-image outcomes the grid filters on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from labelbay import labels
from labelbay.db.models import ModelVersion, Prediction
from labelbay.db.session import transaction
from tests.evaluation.cocoref import NAMES, cocoeval_stats
from tests.exports.helpers import Labelled, box, detection, export, labelled_project
from tests.support.stack import Stack

CAT_BOX, DOG_BOX = box(10.0, 10.0, 50.0, 60.0), box(100.0, 5.0, 150.0, 90.0)


def _project(stack: Stack) -> tuple[Labelled, dict[str, int]]:
    """Image 0: a cat found, a dog taken for a cat (and so missed). Image 1: a dog found by a
    circle (judged as its box). Image 2: a cat where there is nothing, not reviewed. Images 0
    and 1 are reviewed."""
    circle = labels.make("circle", "dog", {"cx": 50, "cy": 50, "r": 30}, score=0.7).to_json()
    labelled = labelled_project(
        stack,
        sizes=[(200, 100), (200, 100), (200, 100)],
        labels=["cat", "dog"],
        predictions={
            0: [detection("cat", 0.9, CAT_BOX), detection("cat", 0.8, DOG_BOX)],
            1: [circle],
            2: [detection("cat", 0.4, box(0.0, 0.0, 30.0, 30.0))],
        },
        annotations={
            0: [
                {"kind": "box", "label": "cat", "geometry": CAT_BOX},
                {"kind": "box", "label": "dog", "geometry": DOG_BOX},
            ],
            1: [{"kind": "box", "label": "dog", "geometry": box(20.0, 20.0, 80.0, 80.0)}],
        },
    )
    ids = {}
    for index in (0, 1):
        image = labelled.image_ids[index]
        answer = stack.client.post(
            f"/api/v1/images/{image}/review", json={"status": "reviewed"}, headers=labelled.headers
        )
        assert answer.status_code == 200, answer.text
        rows = stack.client.get(f"/api/v1/images/{image}/annotations", headers=labelled.headers)
        ids.update({f"{index}:{row['label']}": row["id"] for row in rows.json()})
    return labelled, ids


def _evaluate(stack: Stack, labelled: Labelled, expect: int = 201, **body: Any) -> Any:
    params = body.pop("params", {})
    answer = stack.client.post(
        f"/api/v1/projects/{labelled.project_id}/evaluations",
        json={"model": "det", **body},
        params=params,
        headers=labelled.headers,
    )
    assert answer.status_code == expect, answer.text
    return answer.json()


def test_reviewed_annotations_are_the_default_ground_truth(stack: Stack) -> None:
    labelled, annotation_ids = _project(stack)
    report = _evaluate(stack, labelled)
    assert (report["status"], report["kind"], report["images"]) == ("completed", "detection", 2)
    assert report["ground_truth"] == "reviewed"
    assert report["score_threshold"] == 0.25  # the model version's confidence threshold
    metrics = report["metrics"]
    at = metrics["at_threshold"]
    assert (at["tp"], at["fp"], at["fn"]) == (2, 1, 1)
    assert metrics["confusion"]["labels"] == ["cat", "dog", "background"]
    assert metrics["confusion"]["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]

    url = f"/api/v1/projects/{labelled.project_id}/evaluations/{report['id']}"
    stored = stack.client.get(url, headers=labelled.headers)
    assert stored.status_code == 200
    assert stored.json()["metrics"] == metrics

    missed = stack.client.get(
        url + "/images", params={"outcome": "missed"}, headers=labelled.headers
    )
    [row] = missed.json()["images"]
    assert row["image_id"] == str(labelled.image_ids[0])
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 1)
    assert row["outcomes"] == {
        "predictions": {"0": "tp", "1": "fp"},
        "missed": [annotation_ids["0:dog"]],
    }
    every = stack.client.get(url + "/images", headers=labelled.headers).json()["images"]
    assert [(r["tp"], r["fp"], r["fn"]) for r in every] == [(1, 1, 1), (1, 0, 0)]


def test_report_equals_cocoeval_on_the_projects_coco_exports(stack: Stack) -> None:
    labelled, _ = _project(stack)
    report = _evaluate(stack, labelled, ground_truth="annotations", score_threshold=0.0)
    assert report["images"] == 3
    gt = json.loads(export(stack, labelled, source="annotations").content)
    predicted = json.loads(export(stack, labelled, source="predictions").content)
    expected = cocoeval_stats(gt, predicted["annotations"])
    for name in NAMES:
        assert report["metrics"][name] == pytest.approx(expected[name], abs=1e-4), name
    assert report["metrics"]["at_threshold"]["fp"] == 2  # the cat in image 2 counts now


def test_one_model_against_another(stack: Stack) -> None:
    labelled, _ = _project(stack)
    with transaction(stack.context.sessions) as session:
        other = ModelVersion(name="other", version="1", task="detect", format="builtin")
        other.is_active = True
        session.add(other)
        session.flush()
        for image in labelled.image_ids:
            row = session.query(Prediction).filter_by(image_id=image).one()
            session.add(
                Prediction(
                    image_id=image,
                    model_version_id=other.id,
                    detections=row.detections,
                    num_detections=row.num_detections,
                )
            )
    report = _evaluate(stack, labelled, ground_truth="model", gt_model="other", score_threshold=0.0)
    assert (report["gt_model"], report["images"]) == ("other", 3)
    assert report["metrics"]["map"] == pytest.approx(1.0)
    at = report["metrics"]["at_threshold"]
    assert (at["tp"], at["fp"], at["fn"]) == (4, 0, 0)


def test_selection_by_the_image_list_filters(stack: Stack) -> None:
    labelled, _ = _project(stack)
    report = _evaluate(stack, labelled, ground_truth="annotations", params={"filename": "img2"})
    assert report["images"] == 1
    assert report["selection"]["filename"] == "img2"
    assert report["metrics"]["at_threshold"]["fp"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ground_truth": "model"}, "needs gt_model"),
        ({"ground_truth": "model", "gt_model": "det"}, "compared with itself"),
        ({"params": {"review_status": "unreviewed"}}, "unreviewed"),
        ({"iou_threshold": 0}, "greater than 0"),
        ({"model": "nope"}, "model nope"),
    ],
)
def test_bad_requests_store_nothing(stack: Stack, body: dict[str, Any], message: str) -> None:
    labelled, _ = _project(stack)
    expect = 404 if body.get("model") == "nope" else 422
    answer = _evaluate(stack, labelled, expect=expect, **body)
    assert message in json.dumps(answer)
    listed = stack.client.get(
        f"/api/v1/projects/{labelled.project_id}/evaluations", headers=labelled.headers
    )
    assert listed.json() == []


def _member(stack: Stack, labelled: Labelled, role: str) -> dict[str, str]:
    headers = stack.user(f"{role}-{uuid.uuid4().hex[:6]}@example.com")
    me = stack.client.get("/api/v1/users/me", headers=headers).json()
    added = stack.client.put(
        f"/api/v1/projects/{labelled.project_id}/members",
        json={"email": me["email"], "role": role},
        headers=labelled.headers,
    )
    assert added.status_code == 200, added.text
    return headers


def test_annotators_run_viewers_read_outsiders_see_nothing(stack: Stack) -> None:
    """Evaluations follow the project roles; their own access table, as the matrix asks of
    features beyond the core."""
    labelled, _ = _project(stack)
    annotator = _member(stack, labelled, "annotator")
    viewer = _member(stack, labelled, "viewer")
    outsider = stack.user(f"outsider-{uuid.uuid4().hex[:6]}@example.com")
    base = f"/api/v1/projects/{labelled.project_id}/evaluations"
    report = stack.client.post(base, json={"model": "det"}, headers=annotator)
    assert report.status_code == 201, report.text
    report = report.json()
    assert stack.client.post(base, json={"model": "det"}).status_code == 401
    assert stack.client.get(base, headers=viewer).status_code == 200
    assert stack.client.get(f"{base}/{report['id']}", headers=viewer).status_code == 200
    assert stack.client.get(f"{base}/{report['id']}/images", headers=viewer).status_code == 200
    assert stack.client.post(base, json={"model": "det"}, headers=viewer).status_code == 403
    for url in (f"{base}/{report['id']}", f"{base}/{report['id']}/images", base):
        assert stack.client.get(url, headers=outsider).status_code == 404
    other = stack.project(labelled.headers)
    wrong = f"/api/v1/projects/{other['id']}/evaluations/{report['id']}"
    assert stack.client.get(wrong, headers=labelled.headers).status_code == 404


def test_classifier_accuracy_and_confusion(stack: Stack) -> None:
    """Three images of cat, dog, bird; the model says cat, bird (dog second), bird."""

    def said(*names: str) -> dict[str, Any]:
        top = [{"label": n, "score": s} for n, s in zip(names, (0.7, 0.2, 0.1), strict=False)]
        return labels.make("classification", names[0], score=0.7, top_k=top).to_json()

    labelled = labelled_project(
        stack,
        sizes=[(40, 30)] * 3,
        labels=["cat", "dog", "bird"],
        predictions={0: [said("cat", "dog")], 1: [said("bird", "dog")], 2: [said("bird")]},
        annotations={
            i: [{"kind": "classification", "label": name}]
            for i, name in enumerate(["cat", "dog", "bird"])
        },
    )
    with transaction(stack.context.sessions) as session:
        version = session.query(ModelVersion).filter_by(name="det").one()
        version.task = "classify"
    report = _evaluate(stack, labelled, ground_truth="annotations")
    metrics = report["metrics"]
    assert (report["kind"], report["images"]) == ("classification", 3)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["top5_accuracy"] == 1.0
    assert metrics["confusion"]["matrix"] == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]
    url = f"/api/v1/projects/{labelled.project_id}/evaluations/{report['id']}/images"
    missed = stack.client.get(url, params={"outcome": "missed"}, headers=labelled.headers)
    assert [row["image_id"] for row in missed.json()["images"]] == [str(labelled.image_ids[1])]


def test_arrays_grow_when_row_counts_undercount(stack: Stack) -> None:
    """Reserved from `num_detections`; a row that says 0 still has its labels read."""
    labelled, _ = _project(stack)
    first = _evaluate(stack, labelled, ground_truth="annotations")
    with transaction(stack.context.sessions) as session:
        session.query(Prediction).update({Prediction.num_detections: 0})
    again = _evaluate(stack, labelled, ground_truth="annotations")
    assert again["metrics"]["at_threshold"] == first["metrics"]["at_threshold"]
    assert again["metrics"]["map"] == first["metrics"]["map"]
