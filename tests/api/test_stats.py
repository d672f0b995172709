"""The project dashboard's figures on a small project whose counts are known."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.test_evaluations import _evaluate, _member, _project
from tests.support.stack import Stack


def test_dashboard_counts(stack: Stack) -> None:
    labelled, _ = _project(stack)
    url = f"/api/v1/projects/{labelled.project_id}/stats"
    answer = stack.client.get(url, params={"model": "det"}, headers=labelled.headers)
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    assert (stats["images"], stats["reviewed"]) == (3, 2)
    [reviewer] = stats["reviewers"]
    assert reviewer["images"] == 2
    [model] = stats["models"]
    assert (model["model"], model["images"], model["labels"]) == ("det", 3, 4)
    assert stats["labels"] == [
        {"label": "cat", "annotated": 1, "predicted": 3},
        {"label": "dog", "annotated": 2, "predicted": 1},
    ]
    today = datetime.now(UTC).date().isoformat()
    assert stats["annotations_per_day"] == [{"day": today, "annotations": 3}]
    assert stats["evaluations"] == []

    first = _evaluate(stack, labelled)
    second = _evaluate(stack, labelled, ground_truth="annotations")
    stats = stack.client.get(url, headers=labelled.headers).json()
    [latest] = stats["evaluations"]  # one per model version: the newest
    assert latest["evaluation_id"] == second["id"] != first["id"]
    assert latest["map"] == second["metrics"]["map"]
    # no model asked for and no default model: nothing predicted is counted
    assert stats["labels_model_version_id"] is None
    assert all(row["predicted"] == 0 for row in stats["labels"])


def test_stats_need_membership(stack: Stack) -> None:
    labelled, _ = _project(stack)
    outsider = stack.user("outsider-stats@example.com")
    url = f"/api/v1/projects/{labelled.project_id}/stats"
    assert stack.client.get(url, headers=outsider).status_code == 404
    viewer = _member(stack, labelled, "viewer")
    assert stack.client.get(url, headers=viewer).status_code == 200
    assert stack.client.get(url).status_code == 401
    unknown = stack.client.get(url, params={"model": "nope"}, headers=labelled.headers)
    assert unknown.status_code == 404
