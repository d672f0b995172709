"""Evaluations through the API: a model's stored labels judged against the project's annotations
(or another model), the report equal to COCOeval on the project's own COCO exports, and the
per-image outcomes the grid filters on."""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

import pytest

from labelbay import labels
from labelbay.api.app import requeue_unfinished
from labelbay.db.models import Evaluation, EvaluationImage, ModelVersion, Prediction, Project
from labelbay.db.session import transaction
from labelbay.jobs import evaluate as evaluate_task
from labelbay.jobs.executors import InlineExecutor
from labelbay.services.evaluations import create_evaluation
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


def _evaluate(stack: Stack, labelled: Labelled, expect: int = 202, **body: Any) -> Any:
    """Start an evaluation and, when it was accepted, wait for its end."""
    params = body.pop("params", {})
    answer = stack.client.post(
        f"/api/v1/projects/{labelled.project_id}/evaluations",
        json={"model": "det", **body},
        params=params,
        headers=labelled.headers,
    )
    assert answer.status_code == expect, answer.text
    if expect != 202:
        return answer.json()
    assert answer.json()["status"] in ("queued", "running", "completed")
    return wait_for_evaluation(stack, labelled, answer.json()["id"])


def wait_for_evaluation(
    stack: Stack, labelled: Labelled, evaluation_id: int, timeout: float = 60
) -> dict[str, Any]:
    url = f"/api/v1/projects/{labelled.project_id}/evaluations/{evaluation_id}"
    deadline = time.monotonic() + timeout
    while True:
        row: dict[str, Any] = stack.client.get(url, headers=labelled.headers).json()
        if row["status"] in ("completed", "failed"):
            return row
        assert time.monotonic() < deadline, f"evaluation did not finish: {row}"
        time.sleep(0.05)


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

    missed = stack.client.get(url + "/images", params={"outcome": "fn"}, headers=labelled.headers)
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
    assert report.status_code == 202, report.text
    report = wait_for_evaluation(stack, labelled, report.json()["id"])
    assert stack.client.post(base, json={"model": "det"}).status_code == 401
    assert stack.client.get(base, headers=viewer).status_code == 200
    assert stack.client.get(f"{base}/{report['id']}", headers=viewer).status_code == 200
    assert stack.client.get(f"{base}/{report['id']}/images", headers=viewer).status_code == 200
    one = f"{base}/{report['id']}/images/{labelled.image_ids[0]}"
    assert stack.client.get(one, headers=viewer).status_code == 200
    assert stack.client.get(one, headers=outsider).status_code == 404
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
    missed = stack.client.get(url, params={"outcome": "fn"}, headers=labelled.headers)
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


@pytest.fixture
def stack_settings_overrides() -> dict[str, Any]:
    return {"task_retry_backoff_s": 0.0}


def test_runs_as_a_job_whose_progress_other_sessions_see(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each progress write is read back from another connection while the run is on: the
    phases in order, the fraction rising; the end is completed at 1.0 with no phase left."""
    labelled, _ = _project(stack)
    seen: list[tuple[str, str | None, float]] = []
    original = evaluate_task._ProgressWriter.__call__

    def watched(self: Any, phase: str, fraction: float) -> None:
        original(self, phase, fraction)
        with stack.context.sessions() as session:
            row = session.get_one(Evaluation, self._id)
            seen.append((row.status, row.phase, row.progress))

    monkeypatch.setattr(evaluate_task, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(evaluate_task._ProgressWriter, "__call__", watched)
    # The run happens in this process (where the patches are), not in a model process.
    monkeypatch.setattr(stack.context, "executor", InlineExecutor(stack.context.runtime))
    report = _evaluate(stack, labelled, ground_truth="annotations")
    assert (report["status"], report["phase"], report["progress"]) == ("completed", None, 1.0)
    assert report["started_at"] is not None
    assert report["finished_at"] is not None
    assert {status for status, _, _ in seen} == {"running"}
    phases = [phase for _, phase, _ in seen]
    assert phases[0] == "reading"
    assert phases[-2:] == ["matching", "storing"]
    fractions = [fraction for _, _, fraction in seen]
    assert fractions == sorted(fractions)
    assert 0 < fractions[-1] < 1


def test_a_run_that_cannot_read_the_labels_fails_with_the_reason(stack: Stack) -> None:
    labelled, _ = _project(stack)
    with transaction(stack.context.sessions) as session:
        row = session.query(Prediction).filter_by(image_id=labelled.image_ids[0]).one()
        row.detections = [{"kind": "hexagon", "label": "cat"}]
    report = _evaluate(stack, labelled)
    assert report["status"] == "failed"
    assert "ValidationError" in report["error"]
    assert "hexagon" in report["error"]
    assert report["metrics"] == {}
    assert report["phase"] is None


def test_an_unfinished_run_is_run_again_once_at_start_up(stack: Stack) -> None:
    """A run left `running` by a crash (its worker gone) is submitted again at the next start
    and stores its images once."""
    labelled, _ = _project(stack)
    with transaction(stack.context.sessions) as session:
        project = session.get_one(Project, labelled.project_id)
        model = session.query(ModelVersion).filter_by(name="det").one()
        evaluation = create_evaluation(session, project=project, user=None, model=model)
        evaluation.status = "running"
        evaluation_id = evaluation.id
    requeue_unfinished(stack.context)
    report = wait_for_evaluation(stack, labelled, evaluation_id)
    assert (report["status"], report["images"]) == ("completed", 2)
    with stack.context.sessions() as session:
        stored = session.query(EvaluationImage).filter_by(evaluation_id=evaluation_id).count()
    assert stored == 2


def _image_ids(stack: Stack, labelled: Labelled, expect: int = 200, **params: Any) -> Any:
    answer = stack.client.get(
        f"/api/v1/projects/{labelled.project_id}/images", params=params, headers=labelled.headers
    )
    assert answer.status_code == expect, answer.text
    if expect != 200:
        return answer.json()["detail"]
    index = {str(image): i for i, image in enumerate(labelled.image_ids)}
    return [index[image["id"]] for image in answer.json()["images"]]


@pytest.mark.parametrize(
    ("params", "images"),
    [
        ({}, [0, 1]),  # judged: the reviewed images
        ({"outcome": "fn"}, [0]),
        ({"outcome": "fp"}, [0]),
        ({"outcome": "tp"}, [0, 1]),
        ({"gt_class": "dog", "pred_class": "cat"}, [0]),  # the dog taken for a cat
        ({"gt_class": "dog", "pred_class": "dog"}, [1]),
        ({"gt_class": "cat", "pred_class": "cat"}, [0]),
        ({"gt_class": "cat", "pred_class": "background"}, []),
        ({"pred_class": "cat"}, [0]),
        ({"gt_class": "dog"}, [0, 1]),
        ({"class": "dog"}, [0, 1]),
        ({"class": "dog", "outcome": "fn"}, [0]),
        ({"class": "dog", "outcome": "tp"}, [1]),
        ({"class": "cat", "outcome": "fp"}, [0]),
        ({"class": "cat", "outcome": "fn"}, []),
        ({"class": "dog", "filename": "img1"}, [1]),  # with the list's other filters
    ],
)
def test_the_image_list_filters_by_outcome_class_and_confusion_cell(
    stack: Stack, params: dict[str, str], images: list[int]
) -> None:
    labelled, _ = _project(stack)
    report = _evaluate(stack, labelled)
    assert _image_ids(stack, labelled, evaluation=report["id"], **params) == images


def test_background_cells_and_bad_filters(stack: Stack) -> None:
    labelled, _ = _project(stack)
    report = _evaluate(stack, labelled, ground_truth="annotations", score_threshold=0.0)
    ids = functools.partial(_image_ids, stack, labelled, evaluation=report["id"])
    # image 2's cat stands on nothing: a prediction in the background row
    assert ids(gt_class="background", pred_class="cat") == [2]
    assert ids(gt_class="background") == [2]
    assert ids(outcome="fp") == [0, 2]
    assert "need evaluation" in _image_ids(stack, labelled, 422, outcome="fn")
    assert "zebra" in ids(expect=422, **{"class": "zebra"})
    assert "cannot be combined" in ids(expect=422, gt_class="dog", outcome="fn")
    assert ids(expect=422, outcome="maybe")
    other = stack.project(labelled.headers)
    answer = stack.client.get(
        f"/api/v1/projects/{other['id']}/images",
        params={"evaluation": report["id"]},
        headers=labelled.headers,
    )
    assert answer.status_code == 404  # another project's evaluation is not there


def test_the_image_view_gets_each_prediction_s_outcome_and_the_missed_boxes(stack: Stack) -> None:
    labelled, annotation_ids = _project(stack)
    report = _evaluate(stack, labelled)
    base = f"/api/v1/projects/{labelled.project_id}/evaluations/{report['id']}/images"
    first = stack.client.get(f"{base}/{labelled.image_ids[0]}", headers=labelled.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["tp"], body["fp"], body["fn"]) == (1, 1, 1)
    assert [(p["index"], p["outcome"], p["label"]["label"]) for p in body["predictions"]] == [
        (0, "tp", "cat"),
        (1, "fp", "cat"),
    ]
    [missed] = body["missed"]
    assert missed["ref"] == annotation_ids["0:dog"]
    assert (missed["label"]["label"], missed["label"]["geometry"]) == ("dog", DOG_BOX)
    # image 2 was not judged (not reviewed): not in this evaluation
    answer = stack.client.get(f"{base}/{labelled.image_ids[2]}", headers=labelled.headers)
    assert answer.status_code == 404


def test_model_against_model_missed_boxes_are_the_other_model_s_labels(stack: Stack) -> None:
    labelled, _ = _project(stack)
    with transaction(stack.context.sessions) as session:
        other = ModelVersion(name="other", version="1", task="detect", format="builtin")
        other.is_active = True
        session.add(other)
        session.flush()
        dog = detection("dog", 0.9, DOG_BOX)
        session.add(Prediction(image_id=labelled.image_ids[0], model_version_id=other.id,
                               detections=[dog], num_detections=1))  # fmt: skip
    report = _evaluate(stack, labelled, ground_truth="model", gt_model="other")
    base = f"/api/v1/projects/{labelled.project_id}/evaluations/{report['id']}/images"
    body = stack.client.get(f"{base}/{labelled.image_ids[0]}", headers=labelled.headers).json()
    assert [(m["ref"], m["label"]["label"]) for m in body["missed"]] == [(0, "dog")]
    assert [p["outcome"] for p in body["predictions"]] == ["fp", "fp"]
