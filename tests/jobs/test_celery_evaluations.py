"""Evaluations on Celery: the API publishes the evaluation's id, a `labelbay worker` process
runs it against PostgreSQL and S3, and the API reads the progress and the result from SQL."""

from __future__ import annotations

from collections.abc import Callable

from labelbay.db.models import Prediction
from labelbay.db.session import transaction
from tests.api.test_evaluations import _project, wait_for_evaluation
from tests.jobs.test_celery import Cluster, make_cluster  # noqa: F401  (the fixture)


def test_a_worker_runs_the_evaluation_and_records_a_failure(
    make_cluster: Callable[..., Cluster],  # noqa: F811
) -> None:
    cluster = make_cluster()
    cluster.start_worker()
    stack = cluster.stack
    labelled, _ = _project(stack)
    base = f"/api/v1/projects/{labelled.project_id}/evaluations"
    answer = stack.client.post(base, json={"model": "det"}, headers=labelled.headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] in ("queued", "running", "completed")
    report = wait_for_evaluation(stack, labelled, answer.json()["id"], timeout=120)
    assert report["status"] == "completed", f"{report}\n{cluster.worker_logs()}"
    at = report["metrics"]["at_threshold"]
    assert (report["images"], at["tp"], at["fp"], at["fn"]) == (2, 2, 1, 1)
    missed = stack.client.get(
        f"/api/v1/projects/{labelled.project_id}/images",
        params={"evaluation": report["id"], "gt_class": "dog", "pred_class": "cat"},
        headers=labelled.headers,
    )
    assert [image["id"] for image in missed.json()["images"]] == [str(labelled.image_ids[0])]

    with transaction(stack.context.sessions) as session:
        row = session.query(Prediction).filter_by(image_id=labelled.image_ids[0]).one()
        row.detections = [{"kind": "hexagon", "label": "cat"}]
    answer = stack.client.post(base, json={"model": "det"}, headers=labelled.headers)
    failed = wait_for_evaluation(stack, labelled, answer.json()["id"], timeout=120)
    assert failed["status"] == "failed"
    assert "hexagon" in failed["error"]
