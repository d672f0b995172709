"""The review queue: each strategy's documented order on constructed projects, leases, the
workflow and its append-only history, accepting and correcting predictions, reviewers' figures,
the annotate mode with k annotators, agreement and the consensus."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from labelbay import labels
from labelbay.db.models import (
    Evaluation,
    EvaluationImage,
    Image,
    ModelVersion,
    Prediction,
    ProjectMember,
)
from labelbay.db.session import transaction
from tests.exports.helpers import box, detection
from tests.support.review_state import assert_copies_follow
from tests.support.stack import Stack

NEXT = "/api/v1/projects/{}/review/next"


@dataclass
class Queue:
    stack: Stack
    project_id: int
    owner: dict[str, str]
    image_ids: list[str]

    def next(self, headers: dict[str, str], **params: Any) -> str | None:
        answer = self.stack.client.get(NEXT.format(self.project_id), params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        image = answer.json()["image"]
        return None if image is None else str(image["id"])

    def verdict(
        self, headers: dict[str, str], image_id: str, status: str, reason: str | None = None
    ) -> Any:
        return self.stack.client.post(
            f"/api/v1/images/{image_id}/review",
            json={"status": status, "reason": reason},
            headers=headers,
        )

    def drain(self, headers: dict[str, str], **params: Any) -> list[str]:
        """Take and accept images until the queue is empty: the queue's order."""
        order: list[str] = []
        while (image_id := self.next(headers, **params)) is not None:
            assert self.verdict(headers, image_id, "reviewed").status_code == 200
            order.append(image_id)
        return order

    def member(self, email: str, role: str = "annotator") -> dict[str, str]:
        headers = self.stack.quick_user(email)
        me = self.stack.client.get("/api/v1/users/me", headers=headers).json()
        with transaction(self.stack.context.sessions) as session:
            session.add(ProjectMember(project_id=self.project_id, user_id=me["id"], role=role))
        return headers


def make_queue(stack: Stack, n: int, *, meta: Sequence[dict[str, Any]] = ()) -> Queue:
    """A project with `n` images (rows only: the queue never reads their bytes), upload order."""
    owner = stack.quick_user(f"owner-{uuid.uuid4().hex[:6]}@example.com")
    project = stack.project(owner, labels=["cat", "dog"])
    ids: list[str] = []
    with transaction(stack.context.sessions) as session:
        for i in range(n):
            image = Image(
                project_id=project["id"],
                original_filename=f"{i}.jpg",
                storage_key=f"q/{uuid.uuid4().hex}.jpg",
                mime_type="image/jpeg",
                size_bytes=1,
                width=200,
                height=200,
                sha256="0" * 64,
                meta=dict(meta[i]) if i < len(meta) else {},
            )
            session.add(image)
            session.flush()
            ids.append(str(image.id))
    return Queue(stack, project["id"], owner, ids)


def add_version(stack: Stack, name: str) -> int:
    with transaction(stack.context.sessions) as session:
        version = ModelVersion(
            name=name, version=uuid.uuid4().hex[:8], task="detect", format="onnx-yolo"
        )
        session.add(version)
        session.flush()
        return version.id


def predict(stack: Stack, version_id: int, found: dict[str, list[dict[str, Any]]]) -> None:
    """Predictions as the job task writes them: the labels and their uncertainty."""
    with transaction(stack.context.sessions) as session:
        for image_id, rows in found.items():
            parsed = [labels.parse(r) for r in rows]
            session.add(
                Prediction(
                    image_id=uuid.UUID(image_id),
                    model_version_id=version_id,
                    detections=rows,
                    num_detections=len(rows),
                    uncertainty=labels.uncertainty(parsed),
                )
            )


def test_next_while_holding_renews_the_lease_without_a_second_claim(stack: Stack) -> None:
    q = make_queue(stack, 2)
    a = q.member("a@example.com")
    url = NEXT.format(q.project_id)
    first = stack.client.get(url, headers=a).json()
    again = stack.client.get(url, headers=a).json()
    assert again["image"]["id"] == first["image"]["id"] == q.image_ids[0]
    assert again["lease_until"] > first["lease_until"]
    with transaction(stack.context.sessions) as session:
        image = session.get(Image, uuid.UUID(q.image_ids[0]))
        assert image is not None
        started = image.lease_started_at
    assert started is not None
    # the renewal keeps the claim's start (the verdict's time per image counts from it)
    stack.client.get(url, headers=a)
    with transaction(stack.context.sessions) as session:
        image = session.get(Image, uuid.UUID(q.image_ids[0]))
        assert image is not None
        assert image.lease_started_at == started
    events = stack.client.get(
        f"/api/v1/images/{q.image_ids[0]}/review/history", headers=q.owner
    ).json()
    assert [e["action"] for e in events] == ["claim"]


def test_unreviewed_queue_leases_each_image_to_one_reviewer(stack: Stack) -> None:
    q = make_queue(stack, 3)
    a, b = q.member("a@example.com"), q.member("b@example.com")
    first = q.next(a)
    assert first == q.image_ids[0]
    assert q.next(a) == first  # still held: the same image, renewed
    assert q.next(b) == q.image_ids[1]  # never the one A holds
    # B may not give a verdict on A's image while A's lease lives
    held = q.verdict(b, first, "reviewed")
    assert held.status_code == 409, held.text
    image = stack.client.get(f"/api/v1/images/{first}", headers=q.owner).json()
    assert image["lease_user_id"] is not None
    assert image["review_status"] == "unreviewed"
    assert stack.client.post(f"/api/v1/images/{first}/lease", headers=a).status_code == 200
    assert stack.client.post(f"/api/v1/images/{first}/lease", headers=b).status_code == 409
    # A releases: the image goes back to the queue, first in order again
    assert stack.client.delete(f"/api/v1/images/{first}/lease", headers=a).status_code == 204
    assert stack.client.delete(f"/api/v1/images/{first}/lease", headers=a).status_code == 409
    assert q.next(a) == first
    assert q.verdict(a, first, "reviewed").status_code == 200
    assert q.next(a) == q.image_ids[2]
    assert q.verdict(b, q.image_ids[1], "reviewed").status_code == 200
    assert q.verdict(a, q.image_ids[2], "reviewed").status_code == 200
    assert q.next(b) is None


def test_an_expired_lease_returns_the_image_to_the_queue(stack: Stack) -> None:
    q = make_queue(stack, 2)
    a, b = q.member("a@example.com"), q.member("b@example.com")
    assert q.next(a) == q.image_ids[0]
    with transaction(stack.context.sessions) as session:  # the lease runs out
        session.execute(
            text("UPDATE images SET lease_until = :past WHERE project_id = :p"),
            {"past": "2000-01-01 00:00:00", "p": q.project_id},
        )
    assert q.next(b) == q.image_ids[0]
    assert stack.client.post(f"/api/v1/images/{q.image_ids[0]}/lease", headers=a).status_code == 409


def test_uncertain_queue_orders_by_uncertainty(stack: Stack) -> None:
    q = make_queue(stack, 6)
    version = add_version(stack, "det")
    cat = box(10, 10, 50, 50)
    predict(
        stack,
        version,
        {
            q.image_ids[0]: [detection("cat", 0.9, cat)],  # uncertainty 1 - 0.8 = 0.2
            q.image_ids[1]: [detection("cat", 0.5, cat)],  # 1.0
            q.image_ids[2]: [detection("cat", 0.7, cat), detection("dog", 0.95, cat)],  # 0.6
            q.image_ids[3]: [detection("cat", 0.3, cat)],  # 0.6, a later upload: before 2
            q.image_ids[4]: [],  # nothing found: not in the queue
        },
    )
    order = q.drain(q.owner, strategy="uncertain", model_version_id=version)
    ids = q.image_ids
    assert order == [ids[1], ids[3], ids[2], ids[0]]
    missing = stack.client.get(
        NEXT.format(q.project_id), params={"strategy": "uncertain"}, headers=q.owner
    )
    assert missing.status_code == 422
    assert "model_version_id" in missing.text


def test_random_queue_walks_the_ring_from_the_seed(stack: Stack) -> None:
    q = make_queue(stack, 12)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ring = sorted(q.image_ids, key=lambda i: md5(uuid.UUID(i).hex))
    keys = [md5(uuid.UUID(i).hex) for i in ring]
    # Seeds whose point lies after the 4th and after the 9th image: the walk wraps round.
    for after in (4, 9):
        seed = next(
            s for n in range(100_000) if keys[after - 1] < md5(s := f"audit-{n}") <= keys[after]
        )
        order = q.drain(q.owner, strategy="random", seed=seed)
        assert order == ring[after:] + ring[:after]
        assert q.drain(q.owner, strategy="random", seed=seed) == []
        for image_id in q.image_ids:  # back to the queue for the next seed
            answer = q.verdict(q.owner, image_id, "unreviewed")
            assert answer.status_code == 200, answer.text


def test_likely_errors_queue_uses_the_latest_evaluation(stack: Stack) -> None:
    q = make_queue(stack, 4)
    version = add_version(stack, "det")
    refused = stack.client.get(
        NEXT.format(q.project_id), params={"strategy": "likely-errors"}, headers=q.owner
    )
    assert refused.status_code == 409, refused.text
    with transaction(stack.context.sessions) as session:
        for counts in ([(9, 9)] * 4, [(1, 0), (2, 3), (0, 0), (0, 2)]):  # older, then latest
            evaluation = Evaluation(
                project_id=q.project_id,
                model_version_id=version,
                ground_truth="annotations",
                status="completed",
            )
            session.add(evaluation)
            session.flush()
            for image_id, (fp, fn) in zip(q.image_ids, counts, strict=True):
                session.add(
                    EvaluationImage(
                        evaluation_id=evaluation.id, image_id=uuid.UUID(image_id), fp=fp, fn=fn
                    )
                )
    ids = q.image_ids
    assert q.drain(q.owner, strategy="likely-errors") == [ids[1], ids[3], ids[0]]


def test_disagreement_queue_orders_by_one_minus_f1(stack: Stack) -> None:
    q = make_queue(stack, 4)
    old, new = add_version(stack, "old"), add_version(stack, "new")
    left, right = box(0, 0, 10, 10), box(20, 0, 30, 10)
    predict(
        stack,
        old,
        {
            q.image_ids[0]: [detection("cat", 0.9, left)],
            q.image_ids[1]: [detection("cat", 0.9, left)],
            q.image_ids[2]: [detection("cat", 0.9, left), detection("cat", 0.9, right)],
            q.image_ids[3]: [detection("cat", 0.9, left)],  # the new version never ran here
        },
    )
    predict(
        stack,
        new,
        {
            q.image_ids[0]: [detection("cat", 0.8, left)],  # agree: 0
            q.image_ids[1]: [detection("dog", 0.8, left)],  # class differs: 1
            q.image_ids[2]: [
                detection("cat", 0.8, left),
                detection("cat", 0.8, box(25, 0, 35, 10)),
            ],
        },  # one of two matched: F1 0.5, disagreement 0.5
    )
    params = {"strategy": "disagreement", "model_version_id": new, "versus": old}
    before = stack.client.get(NEXT.format(q.project_id), params=params, headers=q.owner)
    assert before.status_code == 409
    assert "disagreement" in before.text
    computed = stack.client.post(
        f"/api/v1/projects/{q.project_id}/review/disagreement",
        json={"model_version_id": new, "versus": old},
        headers=q.owner,
    )
    assert computed.json() == {"images": 3}, computed.text
    ids = q.image_ids
    assert q.drain(q.owner, **params) == [ids[1], ids[2], ids[0]]


def test_queues_filter_like_the_image_list(stack: Stack) -> None:
    q = make_queue(
        stack, 4, meta=[{"camera": "north"}, {"camera": "south"}, {}, {"camera": "south"}]
    )
    assert q.drain(q.owner, **{"metadata.camera": "south"}) == [q.image_ids[1], q.image_ids[3]]


def test_workflow_and_append_only_history(stack: Stack) -> None:
    q = make_queue(stack, 1)
    a, b = q.member("a@example.com"), q.member("b@example.com")
    image_id = q.next(a)
    assert image_id is not None
    no_reason = q.verdict(a, image_id, "rejected")
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    rejected = q.verdict(a, image_id, "rejected", "the cat's box misses its tail")
    assert rejected.json()["review_status"] == "rejected"
    assert q.next(a) is None  # rejected images wait in their own queue
    assert q.next(b, state="rejected") == image_id
    fixed = stack.client.post(
        f"/api/v1/images/{image_id}/annotations",
        json={"kind": "box", "label": "cat", "geometry": box(5, 5, 120, 90)},
        headers=b,
    )
    assert fixed.status_code == 201
    assert q.verdict(b, image_id, "reviewed").json()["review_status"] == "reviewed"
    url = f"/api/v1/images/{image_id}/review/history"
    events = stack.client.get(url, headers=q.owner).json()
    assert [(e["email"], e["action"], e["reason"]) for e in events] == [
        ("a@example.com", "claim", None),
        ("a@example.com", "reject", "the cat's box misses its tail"),
        ("b@example.com", "claim", None),
        ("b@example.com", "accept", None),
    ]
    assert events[3]["details"] == {"from": "rejected"}
    assert all(e["duration_s"] is not None for e in events if e["action"] in {"reject", "accept"})
    # the database refuses to change or remove history while its image exists
    for statement in (
        "UPDATE review_events SET reason = 'rewritten'",
        "DELETE FROM review_events",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction(stack.context.sessions) as session,
        ):
            session.execute(text(statement))
    assert stack.client.get(url, headers=q.owner).json() == events
    stats = stack.client.get(f"/api/v1/projects/{q.project_id}/review/stats", headers=q.owner)
    figures = stats.json()
    assert (figures["reviewed"], figures["rejected"], figures["unreviewed"]) == (1, 0, 0)
    by_email = {r["email"]: r for r in figures["reviewers"]}
    assert (by_email["a@example.com"]["rejected"], by_email["b@example.com"]["accepted"]) == (1, 1)
    assert by_email["a@example.com"]["median_seconds"] is not None
    # deleting the image takes its history with it (the one delete the triggers allow)
    assert stack.client.delete(f"/api/v1/images/{image_id}", headers=q.owner).status_code == 204


def test_undo_takes_back_the_callers_latest_step_and_keeps_the_history(stack: Stack) -> None:
    q = make_queue(stack, 1)
    a, b = q.member("a@example.com"), q.member("b@example.com")
    image_id = q.image_ids[0]
    version = add_version(stack, "det")
    predict(stack, version, {image_id: [detection("cat", 0.9, box(10, 10, 50, 50))]})
    undo = f"/api/v1/images/{image_id}/review/undo"
    annotations = f"/api/v1/images/{image_id}/annotations"
    assert stack.client.post(undo, headers=a).status_code == 409  # nothing done yet
    assert q.next(a) == image_id
    base = f"/api/v1/images/{image_id}/predictions/{version}"
    assert stack.client.post(f"{base}/accept-all", headers=a).status_code == 200
    assert q.verdict(a, image_id, "reviewed").status_code == 200
    assert len(stack.client.get(annotations, headers=a).json()) == 1
    # b may not undo a's step
    assert stack.client.post(undo, headers=b).status_code == 409
    # a's first undo: the verdict; the image is back in review by a, under a lease
    first = stack.client.post(undo, headers=a)
    assert first.status_code == 200, first.text
    assert first.json()["details"]["action"] == "accept"
    image = stack.client.get(f"/api/v1/images/{image_id}", headers=a).json()
    assert image["review_status"] == "unreviewed"
    assert q.next(b) is None  # held by a
    assert q.next(a) == image_id
    # the second: the accepted predictions (verdicts cleared, annotation gone)
    second = stack.client.post(undo, headers=a)
    assert second.json()["details"]["action"] == "accept_predictions"
    assert stack.client.get(annotations, headers=a).json() == []
    assert stack.client.get(base.rsplit("/", 1)[0], headers=a).json()[0]["review"] == {}
    assert stack.client.post(undo, headers=a).status_code == 409  # only claims are left
    # a rejection undone gives the earlier status back; history keeps all of it
    assert q.verdict(a, image_id, "rejected", "tail cut off").status_code == 200
    assert stack.client.post(undo, headers=a).status_code == 200
    assert stack.client.get(f"/api/v1/images/{image_id}", headers=a).json()["review_status"] == (
        "unreviewed"
    )
    events = stack.client.get(f"/api/v1/images/{image_id}/review/history", headers=a).json()
    assert [e["action"] for e in events] == [
        "claim",
        "accept_predictions",
        "accept",
        "undo",
        "undo",
        "reject",
        "undo",
    ]
    assert [e["details"]["undone"] for e in events if e["action"] == "undo"] == [
        events[2]["id"],
        events[1]["id"],
        events[5]["id"],
    ]


def test_median_seconds_per_reviewer(stack: Stack) -> None:
    q = make_queue(stack, 4)
    with transaction(stack.context.sessions) as session:
        project_owner = session.execute(
            text("SELECT created_by_id FROM projects WHERE id = :p"), {"p": q.project_id}
        ).scalar_one()
        for seconds, image_id in zip((4.0, 1.0, 10.0, 2.0), q.image_ids, strict=True):
            session.execute(
                text(
                    "INSERT INTO review_events (project_id, image_id, user_id, action, duration_s,"
                    " details, at) VALUES (:p, :i, :u, 'accept', :s, '{}', :at)"
                ),
                {
                    "p": q.project_id,
                    "i": uuid.UUID(image_id)
                    if stack.name == "distributed"
                    else uuid.UUID(image_id).hex,
                    "u": project_owner,
                    "s": seconds,
                    "at": "2026-01-01 00:00:00",
                },
            )
    figures = stack.client.get(f"/api/v1/projects/{q.project_id}/review/stats", headers=q.owner)
    [reviewer] = figures.json()["reviewers"]
    assert (reviewer["accepted"], reviewer["median_seconds"]) == (4, 3.0)  # (2 + 4) / 2


def test_accept_all_and_correct_a_prediction(stack: Stack) -> None:
    q = make_queue(stack, 1)
    image_id = q.image_ids[0]
    version = add_version(stack, "det")
    found = [
        detection("cat", 0.9, box(10, 10, 50, 50)),
        detection("dog", 0.6, box(60, 60, 90, 90)),
        detection("cat", 0.4, box(100, 100, 150, 150)),
    ]
    predict(stack, version, {image_id: found})
    base = f"/api/v1/images/{image_id}/predictions/{version}"
    corrected = stack.client.post(
        f"{base}/correct",
        json={"index": 1, "kind": "box", "label": "cat", "geometry": box(58, 60, 95, 92)},
        headers=q.owner,
    )
    assert corrected.status_code == 201, corrected.text
    accepted = stack.client.post(f"{base}/accept-all", headers=q.owner)
    assert accepted.json() == {"0": "accepted", "1": "corrected", "2": "accepted"}
    rows = stack.client.get(f"/api/v1/images/{image_id}/annotations", headers=q.owner).json()
    assert sorted((r["source"], r["label"], r["geometry"]["x1"]) for r in rows) == [
        ("human", "cat", 58.0),
        ("prediction", "cat", 10.0),
        ("prediction", "cat", 100.0),
    ]
    events = stack.client.get(f"/api/v1/images/{image_id}/review/history", headers=q.owner).json()
    assert [e["action"] for e in events] == ["correct", "accept_predictions"]
    assert events[0]["details"]["prediction"] == found[1]
    assert events[0]["details"]["annotation_id"] == corrected.json()["id"]
    made = sorted(r["id"] for r in rows if r["source"] == "prediction")
    assert events[1]["details"] == {
        "model_version_id": version,
        "indices": [0, 2],
        "annotation_ids": made,
    }
    again = stack.client.post(f"{base}/accept-all", headers=q.owner)  # nothing left: no duplicates
    assert again.status_code == 200
    assert (
        len(stack.client.get(f"/api/v1/images/{image_id}/annotations", headers=q.owner).json()) == 3
    )


def test_annotate_mode_gives_each_image_to_k_distinct_annotators(stack: Stack) -> None:
    q = make_queue(stack, 2)
    patched = stack.client.patch(
        f"/api/v1/projects/{q.project_id}", json={"annotators_per_image": 2}, headers=q.owner
    )
    assert patched.json()["annotators_per_image"] == 2
    a, b, c = (q.member(f"{n}@example.com") for n in "abc")
    first, second = q.image_ids

    def label_and_release(headers: dict[str, str], image_id: str) -> None:
        drawn = stack.client.post(
            f"/api/v1/images/{image_id}/annotations",
            json={"kind": "box", "label": "cat", "geometry": box(10, 10, 50, 50)},
            headers=headers,
        )
        assert drawn.status_code == 201
        released = stack.client.delete(f"/api/v1/images/{image_id}/lease", headers=headers)
        assert released.status_code == 204

    assert q.next(a, mode="annotate") == first
    label_and_release(a, first)
    assert q.next(a, mode="annotate") == second  # never the image A already labelled
    assert q.next(b, mode="annotate") == first  # one annotator so far: B is the second
    label_and_release(b, first)
    assert q.next(c, mode="annotate") is None  # first has two annotators, A holds second
    label_and_release(a, second)
    assert q.next(c, mode="annotate") == second


def test_agreement_and_accepting_the_consensus(stack: Stack) -> None:
    q = make_queue(stack, 1)
    image_id = q.image_ids[0]
    drawn = {
        "a@example.com": [("cat", box(0, 0, 10, 10)), ("dog", box(50, 50, 60, 60))],
        "b@example.com": [("cat", box(2, 0, 12, 10)), ("cat", box(50, 52, 60, 62))],
        "c@example.com": [("dog", box(1, 1, 11, 11)), ("cat", box(80, 80, 90, 90))],
    }
    for email, boxes in drawn.items():
        headers = q.member(email)
        for name, geometry in boxes:
            answer = stack.client.post(
                f"/api/v1/images/{image_id}/annotations",
                json={"kind": "box", "label": name, "geometry": geometry},
                headers=headers,
            )
            assert answer.status_code == 201
    result = stack.client.get(f"/api/v1/images/{image_id}/agreement", headers=q.owner).json()
    # pairs: a-b 1 of 2+2 matched (cat), a-c 0 (cat vs dog), b-c 0: F1 0.5, 0, 0
    assert result["agreement"] == pytest.approx(0.5 / 3)
    assert [(x["email"], x["agreement"]) for x in result["annotators"]] == [
        ("a@example.com", 0.25),
        ("b@example.com", 0.25),
        ("c@example.com", 0.0),
    ]
    merged = [(x["label"], x["geometry"]) for x in result["consensus"]]
    assert merged == [
        ("cat", {"x1": 1.0, "y1": pytest.approx(1 / 3), "x2": 11.0, "y2": pytest.approx(31 / 3)}),
        ("dog", {"x1": 50.0, "y1": 51.0, "x2": 60.0, "y2": 61.0}),
    ]
    project = stack.client.get(f"/api/v1/projects/{q.project_id}/agreement", headers=q.owner)
    assert project.json()["images"] == 1
    accepted = stack.client.post(
        f"/api/v1/images/{image_id}/consensus/accept", json={}, headers=q.owner
    )
    assert accepted.status_code == 201, accepted.text
    rows = stack.client.get(f"/api/v1/images/{image_id}/annotations", headers=q.owner).json()
    assert [(r["source"], r["label"]) for r in rows] == [("consensus", "cat"), ("consensus", "dog")]
    image = stack.client.get(f"/api/v1/images/{image_id}", headers=q.owner).json()
    assert image["review_status"] == "reviewed"
    events = stack.client.get(f"/api/v1/images/{image_id}/review/history", headers=q.owner).json()
    assert [e["action"] for e in events] == ["consensus_accept", "accept"]
    assert len(events[0]["details"]["annotators"]) == 3  # the annotators' labels are kept
    again = stack.client.post(
        f"/api/v1/images/{image_id}/consensus/accept", json={}, headers=q.owner
    )
    assert again.status_code == 409


def test_predictions_and_disagreements_follow_every_review_state_change(stack: Stack) -> None:
    q = make_queue(stack, 3)
    first, second, third = q.image_ids
    old, new = add_version(stack, "old"), add_version(stack, "new")
    cat = [detection("cat", 0.6, box(0, 0, 10, 10))]
    for version in (old, new):
        predict(stack, version, dict.fromkeys(q.image_ids, cat))
    a = q.member("a@example.com")
    assert q.verdict(a, first, "reviewed").status_code == 200
    computed = stack.client.post(
        f"/api/v1/projects/{q.project_id}/review/disagreement",
        json={"model_version_id": new, "versus": old},
        headers=q.owner,
    )
    assert computed.json() == {"images": 3}, computed.text  # written after the first verdict
    assert_copies_follow(stack, q.project_id, ["reviewed", "unreviewed"])
    assert q.verdict(a, second, "rejected", "cat cut off").status_code == 200
    assert_copies_follow(stack, q.project_id, ["reviewed", "rejected", "unreviewed"])
    rejected = {"strategy": "uncertain", "model_version_id": new, "state": "rejected"}
    assert q.next(a, **rejected) == second
    assert q.verdict(a, second, "reviewed").status_code == 200  # the fix
    assert_copies_follow(stack, q.project_id, ["reviewed", "unreviewed"])
    assert q.verdict(a, first, "unreviewed").status_code == 200  # reopened
    assert_copies_follow(stack, q.project_id, ["reviewed", "unreviewed"])
    undone = stack.client.post(f"/api/v1/images/{second}/review/undo", headers=a)
    assert undone.status_code == 200, undone.text
    assert_copies_follow(stack, q.project_id, ["rejected", "unreviewed"])
    for email in ("b@example.com", "c@example.com"):
        drawn = stack.client.post(
            f"/api/v1/images/{third}/annotations",
            json={"kind": "box", "label": "cat", "geometry": box(0, 0, 10, 10)},
            headers=q.member(email),
        )
        assert drawn.status_code == 201, drawn.text
    consensus = stack.client.post(
        f"/api/v1/images/{third}/consensus/accept", json={}, headers=q.owner
    )
    assert consensus.status_code == 201, consensus.text
    assert_copies_follow(stack, q.project_id, ["reviewed", "rejected", "unreviewed"])
    # the queues draw on the copies: only the reopened image is left to review
    unreviewed = {"model_version_id": new}
    assert q.next(q.owner, strategy="uncertain", **unreviewed) == first
    assert q.next(q.owner, strategy="disagreement", versus=old, **unreviewed) == first
