"""The review workflow: queues that hand out the next image under a lease, verdicts, and the
append-only history with its per-reviewer figures.

An image's review state: `unreviewed` → in review (a live lease: `lease_user_id` until
`lease_until`) → `reviewed` (accepted) or `rejected` (needs a fix, with a reason) → `reviewed`
after the fix. Every step is a `review_events` row; nothing updates or deletes one.

Queue order per strategy (images leased by others are skipped):

- `unreviewed`: every image in the state asked for, in upload order (id ascending).
- `uncertain`: images with a scored prediction of `model_version_id`, by
  `predictions.uncertainty` descending (see `labels.uncertainty`), then id descending: a
  backward walk of the index (model version, image state, uncertainty, image).
- `disagreement`: images with a stored disagreement of `model_version_id` and `versus`, by
  disagreement descending, then id descending: the index (pair, image state, disagreement,
  image).
- `likely-errors`: images with errors in the project's latest completed evaluation (of
  `model_version_id` if given), by false positives + missed labels descending, then id
  descending: the index (evaluation, errors, image).
- `random`: a ring of the images by md5 of their id (32 hex digits), walked from md5 of the
  seed: the same seed, the same order; an index walk on PostgreSQL (migration 0018).

Predictions and disagreements keep a copy of their image's review state (`image_status`) so that
those two walks visit only images in the state asked for: a claim costs the same however much of
the queue is done. `change_review_status` is the one writer of the state and its copies; a new
prediction or disagreement takes its image's state from `image_status_of`. The likely-errors walk
still passes over reviewed images at the front of its order (a look-up of each `images` row).

A call is one statement: `UPDATE images SET lease… WHERE id = COALESCE(<the caller's held image>,
<first candidate of each arc: SELECT … ORDER BY … LIMIT 1>…) RETURNING images.*`, which renews a
held lease or else claims. A lease is soft state: its transaction commits without waiting for
the WAL flush (`db.session.commit_without_flush`); a lost claim returns its image to the queue, as
an expired lease would, and verdicts commit durably, carrying earlier claims along.
On PostgreSQL each candidate SELECT takes `FOR UPDATE OF images SKIP LOCKED`, so concurrent
reviewers walk past each other's rows instead of waiting or taking the same one. SQLite runs
one writer at a time and the statement reads inside its write lock; in both, the UPDATE repeats
the lease check and an empty RETURNING (a lost race) is retried a few times.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from labelbay import labels
from labelbay.db.base import utcnow
from labelbay.db.models import (
    IMAGE_RING_KEY,
    Annotation,
    Evaluation,
    EvaluationImage,
    Image,
    ModelDisagreement,
    Prediction,
    Project,
    ReviewEvent,
    User,
)
from labelbay.db.session import commit_without_flush
from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.evaluation.agreement import DEFAULT_IOU, match_f1
from labelbay.services.annotations import add_annotation, review_detection
from labelbay.services.images import ImageFilter, image_conditions

Strategy = Literal["uncertain", "disagreement", "likely-errors", "unreviewed", "random"]
Mode = Literal["review", "annotate"]
State = Literal["unreviewed", "rejected"]
Status = Literal["reviewed", "unreviewed", "rejected"]
CLAIM_TRIES = 3
# The uncertain queue's prediction, an alias so that the filters' own subqueries on predictions
# stay uncorrelated to it (made once: building it is a good part of a call's Python time).
_SCORED = aliased(Prediction)
ACTION_OF_STATUS = {"reviewed": "accept", "rejected": "reject", "unreviewed": "reopen"}


@dataclass(frozen=True)
class QueueQuery:
    """Which queue: the order (`strategy`), the state drawn from, review or annotate mode, and the
    image list's filters."""

    strategy: Strategy = "unreviewed"
    state: State = "unreviewed"
    mode: Mode = "review"
    seed: str = "0"
    model_version_id: int | None = None
    versus_id: int | None = None
    selection: ImageFilter = field(default_factory=ImageFilter)


def next_image(
    session: Session, *, project: Project, user: User, query: QueueQuery, lease: timedelta
) -> Image | None:
    """The reviewer's next image, leased to them; None when the queue is empty.

    A reviewer holds one image per project at a time: while their lease lives, `next` renews it
    and returns the same image (submit or release it to move on)."""
    now = utcnow()
    commit_without_flush(session)  # a lease is soft state (module docstring)
    arcs = _candidates(session, project=project, user=user, query=query, now=now)
    for _ in range(CLAIM_TRIES):
        taken = _take(session, arcs, project_id=project.id, user_id=user.id, now=now, lease=lease)
        if taken is not None:
            image, claimed = taken
            if claimed:
                # Written with the commit: no round trip of its own.
                session.add(
                    ReviewEvent(
                        project_id=project.id,
                        image_id=image.id,
                        user_id=user.id,
                        action="claim",
                        details={"strategy": query.strategy, "mode": query.mode},
                        at=now,
                    )
                )
            return image
        if all(session.scalar(arc.limit(1)) is None for arc in arcs):
            break
    _explain_empty(session, project=project, query=query)
    return None


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(Image.lease_until.is_(None), Image.lease_until <= now)


def _take(
    session: Session,
    arcs: Sequence[Select[Any]],
    *,
    project_id: int,
    user_id: int,
    now: datetime,
    lease: timedelta,
) -> tuple[Image, bool] | None:
    """One statement: the image the reviewer holds a live lease on in the project, renewed, or
    else the first free candidate of the first arc that has one, leased to them; read back with
    whether it was claimed now.

    The held image's subquery comes first in a COALESCE, then each arc's, so an arc's subquery
    (locking `FOR UPDATE SKIP LOCKED` on PostgreSQL) runs only when nothing before it found an
    image."""
    mine = and_(Image.lease_user_id == user_id, Image.lease_until > now)
    held = select(Image.id).where(Image.project_id == project_id, mine).limit(1).scalar_subquery()
    firsts = [arc.limit(1).correlate(None) for arc in arcs]
    if session.get_bind().dialect.name == "postgresql":
        firsts = [first.with_for_update(of=Image, skip_locked=True) for first in firsts]
    chosen = func.coalesce(held, *(first.scalar_subquery() for first in firsts))
    stmt = (
        update(Image)
        .where(Image.id == chosen, or_(_free(now), mine))
        .values(
            lease_user_id=user_id,
            lease_until=now + lease,
            lease_started_at=case((mine, Image.lease_started_at), else_=now),
        )
        .returning(Image, (Image.lease_started_at == now).label("claimed"))
        .execution_options(populate_existing=True)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], bool(row[1]))


def _candidates(
    session: Session, *, project: Project, user: User, query: QueueQuery, now: datetime
) -> tuple[Select[Any], ...]:
    """SELECT images.id of the queue's images, in the strategy's order: one statement, or for
    `random` two arcs of the ring (from the seed's point to the end, then from the start), each
    an index walk on PostgreSQL."""
    selection = query.selection
    if query.strategy == "uncertain" and selection.model_version_id == query.model_version_id:
        # The join on that version's prediction below says it: no second look-up per image.
        selection = dataclasses.replace(selection, model_version_id=None)
    conditions = [
        *image_conditions(session, project.id, selection),
        Image.review_status == query.state,
        _free(now),
    ]
    if query.mode == "annotate":
        annotators = (
            select(func.count(func.distinct(Annotation.created_by_id)))
            .where(Annotation.image_id == Image.id, Annotation.source == "human")
            .scalar_subquery()
        )
        mine = exists().where(Annotation.image_id == Image.id, Annotation.created_by_id == user.id)
        conditions += [annotators < project.annotators_per_image, ~mine]
    stmt = select(Image.id).where(*conditions)
    strategy = query.strategy
    if strategy == "unreviewed":
        return (stmt.order_by(Image.id.asc()),)
    if strategy == "random":
        start = hashlib.md5(query.seed.encode(), usedforsecurity=False).hexdigest()
        ring = stmt.order_by(IMAGE_RING_KEY.asc())
        return ring.where(start <= IMAGE_RING_KEY), ring.where(start > IMAGE_RING_KEY)
    if strategy == "uncertain":
        version = _need(query.model_version_id, "the uncertain queue needs model_version_id")
        on = and_(_SCORED.image_id == Image.id, _SCORED.model_version_id == version)
        return (
            stmt.join(_SCORED, on)
            .where(_SCORED.image_status == query.state, _SCORED.uncertainty.is_not(None))
            .order_by(_SCORED.uncertainty.desc(), _SCORED.image_id.desc()),
        )
    if strategy == "disagreement":
        a, b = _pair(query)
        return (
            stmt.join(
                ModelDisagreement,
                and_(
                    ModelDisagreement.image_id == Image.id,
                    ModelDisagreement.model_version_a_id == a,
                    ModelDisagreement.model_version_b_id == b,
                ),
            )
            .where(ModelDisagreement.image_status == query.state)
            .order_by(ModelDisagreement.disagreement.desc(), ModelDisagreement.image_id.desc()),
        )
    evaluation_id = latest_evaluation(
        session, project_id=project.id, model_version_id=query.model_version_id
    )
    return (
        stmt.join(EvaluationImage, EvaluationImage.image_id == Image.id)
        .where(EvaluationImage.evaluation_id == evaluation_id, EvaluationImage.errors > 0)
        .order_by(EvaluationImage.errors.desc(), EvaluationImage.image_id.desc()),
    )


def _need(value: int | None, message: str) -> int:
    if value is None:
        raise Invalid(message)
    return value


def _pair(query: QueueQuery) -> tuple[int, int]:
    a = _need(query.model_version_id, "the disagreement queue needs model_version_id and versus")
    b = _need(query.versus_id, "the disagreement queue needs model_version_id and versus")
    if a == b:
        raise Invalid("versus must be another model version")
    return min(a, b), max(a, b)


def latest_evaluation(session: Session, *, project_id: int, model_version_id: int | None) -> int:
    """The id of the project's latest completed evaluation (of that model version if given)."""
    stmt = select(func.max(Evaluation.id)).where(
        Evaluation.project_id == project_id, Evaluation.status == "completed"
    )
    if model_version_id is not None:
        stmt = stmt.where(Evaluation.model_version_id == model_version_id)
    evaluation_id = session.scalar(stmt)
    if evaluation_id is None:
        raise Conflict("the likely-errors queue needs a completed evaluation: run one first")
    return evaluation_id


def _explain_empty(session: Session, *, project: Project, query: QueueQuery) -> None:
    """An empty disagreement queue because nothing was computed says so (409), not "done"."""
    if query.strategy == "disagreement":
        a, b = _pair(query)
        computed = exists().where(
            ModelDisagreement.model_version_a_id == a,
            ModelDisagreement.model_version_b_id == b,
            ModelDisagreement.image_id == Image.id,
            Image.project_id == project.id,
        )
        if not session.scalar(select(computed)):
            raise Conflict(
                "no disagreement computed for these model versions in this project: "
                "POST …/review/disagreement first"
            )


def renew_lease(session: Session, *, image: Image, user: User, lease: timedelta) -> Image:
    """Extend the caller's lease (409 when someone else holds the image or it holds none)."""
    now = utcnow()
    commit_without_flush(session)  # a lease is soft state (module docstring)
    renewed = session.scalar(
        update(Image)
        .where(Image.id == image.id, Image.lease_user_id == user.id, Image.lease_until > now)
        .values(lease_until=now + lease)
        .returning(Image.id)
        .execution_options(synchronize_session=False)
    )
    if renewed is None:
        raise Conflict("you hold no lease on this image (it expired or was never yours)")
    session.refresh(image)
    return image


def release_lease(session: Session, *, image: Image, user: User) -> None:
    """Give the image back to the queue without a verdict."""
    if image.lease_user_id != user.id or image.lease_until is None:
        raise Conflict("you hold no lease on this image")
    record_event(session, image=image, user=user, action="release")
    _clear_lease(image)
    session.flush()


def _clear_lease(image: Image) -> None:
    image.lease_user_id = None
    image.lease_until = None
    image.lease_started_at = None


def record_event(
    session: Session,
    *,
    image: Image,
    user: User,
    action: str,
    reason: str | None = None,
    duration_s: float | None = None,
    details: dict[str, Any] | None = None,
) -> ReviewEvent:
    event = ReviewEvent(
        project_id=image.project_id,
        image_id=image.id,
        user_id=user.id,
        action=action,
        reason=reason,
        duration_s=duration_s,
        details=details or {},
        at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def set_review_status(
    session: Session, *, image: Image, user: User, status: Status, reason: str | None = None
) -> Image:
    """Accept (`reviewed`), reject (`rejected`, with a reason) or reopen (`unreviewed`) the
    image. Refused (409) while someone else's lease on it lives; the caller's own lease ends here,
    and the seconds since it started are the time this review took."""
    now = utcnow()
    live = image.lease_until is not None and image.lease_until > now
    if live and image.lease_user_id != user.id:
        until = image.lease_until.isoformat() if image.lease_until else ""
        raise Conflict(f"image is in review by user {image.lease_user_id} until {until}")
    reason = (reason or "").strip() or None
    if status == "rejected" and reason is None:
        raise Invalid("a rejection needs a reason")
    duration = None
    if live and image.lease_started_at is not None:
        duration = round((now - image.lease_started_at).total_seconds(), 3)
    previous = image.review_status
    change_review_status(session, image=image, status=status)
    image.reviewed_by_id = user.id if status != "unreviewed" else None
    image.reviewed_at = now if status != "unreviewed" else None
    _clear_lease(image)
    record_event(
        session,
        image=image,
        user=user,
        action=ACTION_OF_STATUS[status],
        reason=reason,
        duration_s=duration,
        details={"from": previous},
    )
    return image


def change_review_status(session: Session, *, image: Image, status: str) -> None:
    """Set the image's review state and its copies on the image's predictions and disagreements
    (the queues' indexes read those): the one writer of all three.

    The image's row is written first, so its lock is held while the copies are: a prediction or
    disagreement written at the same time takes the state through `image_status_of`, which waits
    for that lock and reads the state it leaves."""
    image.review_status = status
    session.flush()
    for copy in (Prediction, ModelDisagreement):
        session.execute(
            update(copy)
            .where(copy.image_id == image.id, copy.image_status != status)
            .values(image_status=status)
        )


def image_status_of(image_id: Any) -> ScalarSelect[str]:
    """The review state of the image `image_id` (a value or a column) for a new prediction or
    disagreement row: on PostgreSQL it shares the image's row lock, so it waits for a status
    change in flight (`change_review_status`) and reads what it wrote."""
    return (
        select(Image.review_status)
        .where(Image.id == image_id)
        .with_for_update(read=True)
        .scalar_subquery()
    )


def image_statuses(session: Session, image_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """`image_status_of` for many images at once, read before ORM rows are added: an SQL
    expression as an ORM value would make the flush send their INSERTs one by one. The rows are
    share-locked (PostgreSQL) to the commit, as the subquery's are."""
    if not image_ids:
        return {}
    rows = session.execute(
        select(Image.id, Image.review_status)
        .where(Image.id.in_(list(image_ids)))
        .with_for_update(read=True)
    )
    return {image_id: status for image_id, status in rows.tuples()}


def accept_predictions(
    session: Session, *, image: Image, user: User, model_version_id: int
) -> list[int]:
    """Every detection of the model version that has no verdict yet becomes an annotation (the
    one accept path, `annotations.review_detection`); returns the accepted indices."""
    prediction = _prediction(session, image=image, model_version_id=model_version_id)
    open_indices = [i for i in range(len(prediction.detections)) if str(i) not in prediction.review]
    before = session.scalar(select(func.max(Annotation.id))) or 0
    for index in open_indices:
        review_detection(
            session,
            image=image,
            user=user,
            model_version_id=model_version_id,
            index=index,
            verdict="accepted",
        )
    record_event(
        session,
        image=image,
        user=user,
        action="accept_predictions",
        details={
            "model_version_id": model_version_id,
            "indices": open_indices,
            # What an undo takes back: the annotations this step made.
            "annotation_ids": list(
                session.scalars(
                    select(Annotation.id).where(
                        Annotation.image_id == image.id, Annotation.id > before
                    )
                )
            ),
        },
    )
    return open_indices


UNDOABLE = ("accept", "reject", "accept_predictions")
# Steps that change what an image is; the latest of them not yet undone is what an undo takes back.
STEPS = (*UNDOABLE, "reopen", "correct", "consensus_accept")


def undo(session: Session, *, image: Image, user: User, lease: timedelta) -> ReviewEvent:
    """Take back the caller's latest step on the image, when it is still the image's latest
    (not yet undone) step: a verdict (the status it had before comes back) or an "accept all
    predictions" (its verdicts are cleared and the annotations it made deleted). The image goes
    back in review by the caller under a fresh lease. Nothing is erased from the history: the
    undo is an event of its own naming the event it takes back. 409 otherwise."""
    now = utcnow()
    if image.lease_user_id not in (None, user.id) and image.lease_until and image.lease_until > now:
        raise Conflict(f"image is in review by user {image.lease_user_id}")
    events = list(
        session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.image_id == image.id, ReviewEvent.action.in_([*STEPS, "undo"]))
            .order_by(ReviewEvent.id.desc())
        )
    )
    undone = {e.details.get("undone") for e in events if e.action == "undo"}
    steps = [e for e in events if e.action != "undo" and e.id not in undone]
    last = steps[0] if steps else None
    if last is None or last.user_id != user.id or last.action not in UNDOABLE:
        raise Conflict("nothing of yours to undo on this image")
    if last.action == "accept_predictions":
        _undo_accept_predictions(session, image=image, event=last)
    else:
        change_review_status(
            session, image=image, status=str(last.details.get("from", "unreviewed"))
        )
        earlier = next((e for e in steps[1:] if e.action in ("accept", "reject")), None)
        keep = image.review_status != "unreviewed" and earlier is not None
        image.reviewed_by_id = earlier.user_id if keep and earlier else None
        image.reviewed_at = earlier.at if keep and earlier else None
    image.lease_user_id = user.id
    image.lease_until = now + lease
    image.lease_started_at = now
    return record_event(
        session,
        image=image,
        user=user,
        action="undo",
        details={"undone": last.id, "action": last.action, "status": image.review_status},
    )


def _undo_accept_predictions(session: Session, *, image: Image, event: ReviewEvent) -> None:
    prediction = _prediction(
        session, image=image, model_version_id=int(event.details["model_version_id"])
    )
    indices = {str(i) for i in event.details.get("indices", [])}
    prediction.review = {k: v for k, v in prediction.review.items() if k not in indices}
    made = event.details.get("annotation_ids", [])
    if made:
        session.execute(
            delete(Annotation).where(Annotation.image_id == image.id, Annotation.id.in_(made))
        )


def correct_prediction(
    session: Session,
    *,
    image: Image,
    user: User,
    model_version_id: int,
    index: int,
    label: labels.Label,
) -> Annotation:
    """A person's fix of one detection: the fixed label becomes their annotation, the detection's
    verdict becomes `corrected`, and the history keeps both (the detection as it was and the
    annotation's id)."""
    prediction = _prediction(session, image=image, model_version_id=model_version_id)
    if not 0 <= index < len(prediction.detections):
        raise Invalid(f"detection index {index} out of range")
    annotation = add_annotation(session, image=image, user=user, label=label)
    prediction.review = {**prediction.review, str(index): "corrected"}
    record_event(
        session,
        image=image,
        user=user,
        action="correct",
        details={
            "model_version_id": model_version_id,
            "index": index,
            "prediction": prediction.detections[index],
            "annotation_id": annotation.id,
        },
    )
    return annotation


def prediction_verdicts(session: Session, *, image: Image, model_version_id: int) -> dict[str, str]:
    return _prediction(session, image=image, model_version_id=model_version_id).review


def _prediction(session: Session, *, image: Image, model_version_id: int) -> Prediction:
    prediction = session.scalar(
        select(Prediction).where(
            Prediction.image_id == image.id, Prediction.model_version_id == model_version_id
        )
    )
    if prediction is None:
        raise NotFound("this image has no prediction from that model version")
    return prediction


def history(session: Session, *, image_id: uuid.UUID) -> list[tuple[ReviewEvent, User | None]]:
    stmt = (
        select(ReviewEvent, User)
        .outerjoin(User, User.id == ReviewEvent.user_id)
        .where(ReviewEvent.image_id == image_id)
        .order_by(ReviewEvent.id)
    )
    return [(event, user) for event, user in session.execute(stmt).all()]


def review_stats(session: Session, *, project_id: int) -> dict[str, Any]:
    """Images per review state, and per reviewer: verdicts given and the median seconds from a
    lease's start to the verdict. SQL aggregates only (the median from window functions, the same
    on SQLite and PostgreSQL)."""
    now = utcnow()
    leased = and_(Image.lease_until.is_not(None), Image.lease_until > now)
    states = session.execute(
        select(
            func.count(Image.id).filter(Image.review_status == "unreviewed", ~leased),
            func.count(Image.id).filter(leased),
            func.count(Image.id).filter(Image.review_status == "reviewed", ~leased),
            func.count(Image.id).filter(Image.review_status == "rejected", ~leased),
        ).where(Image.project_id == project_id)
    ).one()
    verdict = ReviewEvent.action.in_(["accept", "reject"])
    counts = session.execute(
        select(
            ReviewEvent.user_id,
            func.count().filter(ReviewEvent.action == "accept"),
            func.count().filter(ReviewEvent.action == "reject"),
            func.count().filter(ReviewEvent.action == "correct"),
        )
        .where(ReviewEvent.project_id == project_id, ReviewEvent.user_id.is_not(None))
        .group_by(ReviewEvent.user_id)
    ).all()
    timed = (
        select(
            ReviewEvent.user_id.label("user_id"),
            ReviewEvent.duration_s.label("seconds"),
            func.row_number()
            .over(partition_by=ReviewEvent.user_id, order_by=ReviewEvent.duration_s)
            .label("rank"),
            func.count().over(partition_by=ReviewEvent.user_id).label("n"),
        )
        .where(ReviewEvent.project_id == project_id, verdict, ReviewEvent.duration_s.is_not(None))
        .subquery()
    )
    medians = dict(
        session.execute(
            select(timed.c.user_id, func.avg(timed.c.seconds))
            .where(timed.c.rank.in_([(timed.c.n + 1) // 2, (timed.c.n + 2) // 2]))
            .group_by(timed.c.user_id)
        ).all()
    )
    users = {
        u.id: u for u in session.scalars(select(User).where(User.id.in_([r[0] for r in counts])))
    }
    return {
        "unreviewed": states[0],
        "in_review": states[1],
        "reviewed": states[2],
        "rejected": states[3],
        "reviewers": [
            {
                "user_id": user_id,
                "email": users[user_id].email,
                "accepted": accepted,
                "rejected": rejected,
                "corrected": corrected,
                "median_seconds": medians.get(user_id),
            }
            for user_id, accepted, rejected, corrected in sorted(
                counts, key=lambda r: (-(r[1] + r[2]), r[0] or 0)
            )
            if user_id is not None
        ],
    }


def compute_disagreement(
    session: Session,
    *,
    project_id: int,
    model_version_id: int,
    versus_id: int,
    iou: float = DEFAULT_IOU,
    page: int = 1000,
) -> int:
    """Store 1 - F1 (`evaluation.agreement.match_f1`) of the two versions' labels for every image
    of the project that both predicted; replaces what was stored for the pair. Walks the images
    in keyset pages. Run it again after either model is re-run. Returns the number of images."""
    a, b = _pair(QueueQuery(model_version_id=model_version_id, versus_id=versus_id))
    in_project = select(Image.id).where(Image.project_id == project_id)
    session.execute(
        delete(ModelDisagreement).where(
            ModelDisagreement.model_version_a_id == a,
            ModelDisagreement.model_version_b_id == b,
            ModelDisagreement.image_id.in_(in_project),
        )
    )
    pa, pb = Prediction.__table__.alias("pa"), Prediction.__table__.alias("pb")
    after: uuid.UUID | None = None
    total = 0
    while True:
        stmt = (
            select(pa.c.image_id, pa.c.detections, pb.c.detections)
            .join(pb, and_(pb.c.image_id == pa.c.image_id, pb.c.model_version_id == b))
            .join(Image, Image.id == pa.c.image_id)
            .where(Image.project_id == project_id, pa.c.model_version_id == a)
            .order_by(pa.c.image_id)
            .limit(page)
        )
        if after is not None:
            stmt = stmt.where(pa.c.image_id > after)
        rows = session.execute(stmt).all()
        if not rows:
            _copy_image_status(session, a=a, b=b, in_project=in_project)
            return total
        session.add_all(
            ModelDisagreement(
                model_version_a_id=a,
                model_version_b_id=b,
                image_id=image_id,
                disagreement=round(1.0 - match_f1(_labels(da), _labels(db), iou=iou), 6),
            )
            for image_id, da, db in rows
        )
        session.flush()
        total += len(rows)
        after = rows[-1][0]


def _copy_image_status(session: Session, *, a: int, b: int, in_project: Select[Any]) -> None:
    """The pair's disagreements in the project take their images' review state: one statement
    at the end, so the images' rows are share-locked only from here to the commit."""
    status = image_status_of(ModelDisagreement.image_id)
    session.execute(
        update(ModelDisagreement)
        .where(
            ModelDisagreement.model_version_a_id == a,
            ModelDisagreement.model_version_b_id == b,
            ModelDisagreement.image_id.in_(in_project),
            ModelDisagreement.image_status != status,
        )
        .values(image_status=status)
        .execution_options(synchronize_session=False)
    )


def _labels(rows: list[dict[str, Any]]) -> list[labels.Label]:
    return [labels.Label.model_validate(row) for row in rows]
