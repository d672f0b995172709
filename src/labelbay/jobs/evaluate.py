"""The evaluation task: what a worker does with an evaluation's id. Same code in process and in
Celery, and idempotent like the batch task: a run claims the row (queued or running, so a
redelivered message after a crash runs again), reads and evaluates without writing, then in one
transaction replaces the evaluation's per-image rows and marks it completed. Progress (phase and
fraction) is written beside it in short transactions of its own, so the API can show it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labelbay.db.base import utcnow
from labelbay.db.models import Evaluation
from labelbay.db.session import transaction
from labelbay.runtime import Runtime
from labelbay.services.evaluations import MATCH_SHARE, compute_evaluation, store_evaluation

log = logging.getLogger(__name__)

OPEN = ("queued", "running")
PROGRESS_EVERY_S = 0.5  # at most this often a progress write within one phase


def process_evaluation(deps: Runtime, evaluation_id: int) -> bool:
    """Run the evaluation; False when there was nothing to do (finished, failed or gone).
    Transient failures raise, so the caller can retry; `fail_evaluation` records the last."""
    if not _claim(deps, evaluation_id):
        return False
    report = _ProgressWriter(deps, evaluation_id)
    with deps.sessions() as session:
        evaluation = session.get_one(Evaluation, evaluation_id)
        computed = compute_evaluation(session, evaluation=evaluation, progress=report)
    # The read transaction has ended; storing is a write transaction of its own.
    report("storing", MATCH_SHARE)
    with transaction(deps.sessions) as session:
        evaluation = session.get_one(Evaluation, evaluation_id, with_for_update=True)
        if evaluation.status != "running":
            return False  # failed for good meanwhile (another delivery gave up)
        store_evaluation(session, evaluation=evaluation, computed=computed)
    return True


def fail_evaluation(deps: Runtime, evaluation_id: int, reason: str) -> None:
    """Give up on an evaluation after its last attempt, recording why."""
    with transaction(deps.sessions) as session:
        session.execute(
            update(Evaluation)
            .where(Evaluation.id == evaluation_id, Evaluation.status.in_(OPEN))
            .values(status="failed", phase=None, error=reason[:2000], finished_at=utcnow())
        )


def unfinished_evaluation_ids(session: Session) -> Sequence[int]:
    stmt = select(Evaluation.id).where(Evaluation.status.in_(OPEN)).order_by(Evaluation.id)
    return list(session.scalars(stmt))


def _claim(deps: Runtime, evaluation_id: int) -> bool:
    with transaction(deps.sessions) as session:
        claimed = session.execute(
            update(Evaluation)
            .where(Evaluation.id == evaluation_id, Evaluation.status.in_(OPEN))
            .values(status="running", phase="reading", progress=0.0, started_at=utcnow())
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


class _ProgressWriter:
    """Writes the phase and fraction when the phase changes, else at most every
    `PROGRESS_EVERY_S` (a page of images is read in milliseconds)."""

    def __init__(self, deps: Runtime, evaluation_id: int) -> None:
        self._deps = deps
        self._id = evaluation_id
        self._phase: str | None = None
        self._last = 0.0

    def __call__(self, phase: str, fraction: float) -> None:
        now = time.monotonic()
        if phase == self._phase and now - self._last < PROGRESS_EVERY_S:
            return
        self._phase, self._last = phase, now
        with transaction(self._deps.sessions) as session:
            session.execute(
                update(Evaluation)
                .where(Evaluation.id == self._id, Evaluation.status == "running")
                .values(phase=phase, progress=round(fraction, 4))
            )
