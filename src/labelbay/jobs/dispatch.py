"""The outbox, its dispatcher and the lease sweeper: how no task is ever left without a message.

A job's tasks are committed with it, unpublished (`job_tasks.published_at` NULL): that row is the
outbox entry, written in the job's own transaction. `publish` hands tasks to the executor and then
marks them published; if the broker is down, or the process dies in between, they stay in the
outbox. The dispatcher, a thread in every API process, runs `dispatch_round` every
`dispatch_interval_s`:

1. the sweeper puts running tasks whose lease ran out (their worker, or its database, vanished
   mid-batch) back in the outbox, or fails them once they have used up their tries;
2. open jobs with no open task left (their last batch could not finish the job: the database
   was down) are finished;
3. unpublished queued tasks of jobs older than `dispatch_grace_s` are published. On PostgreSQL
   the rows are locked with SKIP LOCKED, so API replicas never publish the same task twice.

A task published twice runs once in effect: the task code is idempotent (`jobs/tasks.py`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.orm import Session

from labelbay.db.models import Evaluation, Job, JobKind, JobStatus, JobTask, TaskStatus
from labelbay.db.session import transaction
from labelbay.jobs.executors import Executor, PublishError, batches
from labelbay.jobs.tasks import OPEN_JOB, OPEN_TASK, finish_job_if_done
from labelbay.runtime import Runtime
from labelbay.services.stats import fold_counts

log = logging.getLogger(__name__)

_ROUND_LIMIT = 2000  # tasks per query: a round stays short however large the backlog
_IN_CHUNK = 5000  # ids per IN list (PostgreSQL takes at most 65535 parameters)
# The dashboard counts of ended database connections are folded together this often (stats).
FOLD_INTERVAL_S = 60.0


def publish(session: Session, executor: Executor, ids: Sequence[int], *, batch_size: int) -> int:
    """Hand `ids` to the executor in batches, then mark the ones sent published (the caller
    commits); how many were sent. Stops at the first batch the executor refuses (`PublishError`):
    the rest stay in the outbox for the dispatcher. Any other error (an inline batch failing)
    propagates, and the tasks not run stay in the outbox too."""
    sent: list[int] = []
    try:
        for batch in batches(ids, batch_size):
            executor.submit(batch)
            sent.extend(batch)
    except PublishError as exc:
        log.warning("%d tasks left for the dispatcher: %s", len(ids) - len(sent), exc)
    _mark_published(session, sent)
    return len(sent)


def publish_label_import(session: Session, executor: Executor, job_id: int) -> bool:
    """Hand a label-import job (one unit of work, no task rows) to the executor and mark it
    published (the caller commits); False when the broker refused it: the dispatcher tries again."""
    return _publish_unit(session, Job, job_id, executor.submit_job, "label import")


def publish_evaluation(session: Session, executor: Executor, evaluation_id: int) -> bool:
    """The same for an evaluation."""
    return _publish_unit(
        session, Evaluation, evaluation_id, executor.submit_evaluation, "evaluation"
    )


def _publish_unit(
    session: Session,
    table: type[Job] | type[Evaluation],
    unit_id: int,
    submit: Callable[[int], None],
    what: str,
) -> bool:
    try:
        submit(unit_id)
    except PublishError as exc:
        log.warning("%s %d left for the dispatcher: %s", what, unit_id, exc)
        return False
    session.execute(update(table).where(table.id == unit_id).values(published_at=datetime.now(UTC)))
    return True


def _mark_published(session: Session, ids: Sequence[int]) -> None:
    now = datetime.now(UTC)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = list(ids[start : start + _IN_CHUNK])
        session.execute(update(JobTask).where(JobTask.id.in_(chunk)).values(published_at=now))


def unpublish_open_tasks(session: Session) -> int:
    """Put every queued or running task of an open job back in the outbox (the in-process
    executor's queue died with the process); how many. The caller commits."""
    open_jobs = select(Job.id).where(Job.status.in_(OPEN_JOB))
    session.execute(
        update(Job)
        .where(Job.kind == JobKind.label_import.value, Job.status.in_(OPEN_JOB))
        .values(published_at=None)
    )
    session.execute(
        update(Evaluation)
        .where(Evaluation.status.in_(["queued", "running"]))
        .values(published_at=None)
    )
    result = session.execute(
        update(JobTask)
        .where(
            JobTask.job_id.in_(open_jobs),
            JobTask.status.in_(OPEN_TASK),
        )
        .values(status=TaskStatus.queued.value, published_at=None, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class Round:
    """What one dispatcher round did."""

    requeued: int = 0
    failed: int = 0
    stalled: int = 0
    published: int = 0


def dispatch_round(runtime: Runtime, executor: Executor) -> Round:
    done = Round()
    with transaction(runtime.sessions) as session:
        done.requeued, done.failed = sweep_expired(
            session, max_attempts=runtime.settings.task_max_attempts
        )
    with runtime.sessions() as session:
        stalled = list(session.scalars(_stalled_jobs()))
    for job_id in stalled:
        finish_job_if_done(runtime, job_id)
    done.stalled = len(stalled)
    done.published = (
        publish_outbox(runtime, executor)
        + publish_label_imports(runtime, executor)
        + publish_evaluations(runtime, executor)
    )
    return done


def sweep_expired(session: Session, *, max_attempts: int) -> tuple[int, int]:
    """Running tasks of open jobs whose lease ran out go back to the outbox, or fail with the
    reason once claimed `max_attempts` times; (re-queued, failed). Read first, written only when
    something expired, so an idle round takes no write lock."""
    now = datetime.now(UTC)
    expired = (
        JobTask.status == TaskStatus.running.value,
        or_(JobTask.lease_until.is_(None), JobTask.lease_until < now),
        JobTask.job_id.in_(select(Job.id).where(Job.status.in_(OPEN_JOB))),
    )
    found = session.execute(select(JobTask.id, JobTask.attempts).where(*expired)).all()
    spent = [task_id for task_id, attempts in found if attempts >= max_attempts]
    again = [task_id for task_id, attempts in found if attempts < max_attempts]
    failed = requeued = 0
    for start in range(0, len(spent), _IN_CHUNK):
        result = session.execute(
            update(JobTask)
            .where(JobTask.id.in_(spent[start : start + _IN_CHUNK]), *expired)
            .values(
                status=TaskStatus.failed.value,
                error=f"its worker stopped (lease expired) on each of {max_attempts} tries",
                finished_at=now,
            )
        )
        failed += int(result.rowcount)  # type: ignore[attr-defined]
    for start in range(0, len(again), _IN_CHUNK):
        result = session.execute(
            update(JobTask)
            .where(JobTask.id.in_(again[start : start + _IN_CHUNK]), *expired)
            .values(status=TaskStatus.queued.value, published_at=None, lease_until=None)
        )
        requeued += int(result.rowcount)  # type: ignore[attr-defined]
    if found:
        log.warning("leases expired: %d tasks re-queued, %d failed", requeued, failed)
    return requeued, failed


def _stalled_jobs() -> Select[int]:
    open_task = exists().where(
        JobTask.job_id == Job.id,
        JobTask.status.in_(OPEN_TASK),
    )
    # A label import has no task rows: it ends itself (or fails, or is re-published).
    inference = Job.kind == JobKind.inference.value
    return select(Job.id).where(Job.status.in_(OPEN_JOB), inference, ~open_task)


def publish_outbox(runtime: Runtime, executor: Executor) -> int:
    """Publish unpublished queued tasks of open jobs older than the grace period, a job's tasks
    in batches together; how many were sent."""
    settings = runtime.settings
    sent = 0
    while True:
        with runtime.sessions() as session:
            before = datetime.now(UTC) - timedelta(seconds=settings.dispatch_grace_s)
            rows = session.execute(
                select(JobTask.id, JobTask.job_id)
                .join(Job, Job.id == JobTask.job_id)
                .where(
                    JobTask.status == TaskStatus.queued.value,
                    JobTask.published_at.is_(None),
                    Job.status.in_(OPEN_JOB),
                    Job.created_at < before,
                )
                .order_by(JobTask.id)
                .limit(_ROUND_LIMIT)
                .with_for_update(of=JobTask, skip_locked=True)
            ).all()
            per_job: dict[int, list[int]] = defaultdict(list)
            for task_id, job_id in rows:
                per_job[job_id].append(task_id)
            for job_id, ids in per_job.items():
                count = publish(session, executor, ids, batch_size=settings.job_batch_size)
                sent += count
                if count < len(ids):
                    session.commit()
                    return sent  # the broker refused: try again next round
                log.info("dispatched %d unpublished tasks of job %d", count, job_id)
            session.commit()
        if len(rows) < _ROUND_LIMIT:
            return sent


def publish_label_imports(runtime: Runtime, executor: Executor) -> int:
    """Publish label imports still in the outbox (their job was committed, its message never
    sent) once older than the grace period; how many were sent."""
    waiting = select(Job.id).where(
        Job.kind == JobKind.label_import.value,
        Job.status == JobStatus.queued.value,
        Job.published_at.is_(None),
        Job.created_at < _grace_start(runtime),
    )
    return _publish_waiting(runtime, waiting.order_by(Job.id), executor, publish_label_import)


def publish_evaluations(runtime: Runtime, executor: Executor) -> int:
    """Publish evaluations still in the outbox once older than the grace period; how many."""
    waiting = select(Evaluation.id).where(
        Evaluation.status == "queued",
        Evaluation.published_at.is_(None),
        Evaluation.created_at < _grace_start(runtime),
    )
    return _publish_waiting(runtime, waiting.order_by(Evaluation.id), executor, publish_evaluation)


def _grace_start(runtime: Runtime) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=runtime.settings.dispatch_grace_s)


def _publish_waiting(
    runtime: Runtime,
    waiting: Select[int],
    executor: Executor,
    publish_one: Callable[[Session, Executor, int], bool],
) -> int:
    """Publish the units `waiting` selects (locked, SKIP LOCKED between replicas) until the
    broker refuses one; how many were sent."""
    sent = 0
    with runtime.sessions() as session:
        ids = session.scalars(waiting.limit(_ROUND_LIMIT).with_for_update(skip_locked=True)).all()
        for unit_id in ids:
            if not publish_one(session, executor, unit_id):
                break  # the broker refused: try again next round
            sent += 1
        session.commit()
    return sent


class Dispatcher:
    """`dispatch_round` every `dispatch_interval_s` on a thread of its own, until closed; a round
    that fails (the database is down) is logged and the next one tries again."""

    def __init__(self, runtime: Runtime, executor: Executor) -> None:
        self._runtime = runtime
        self._executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="labelbay-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        interval = self._runtime.settings.dispatch_interval_s
        next_fold = time.monotonic()
        while not self._stop.wait(interval):
            try:
                dispatch_round(self._runtime, self._executor)
                if time.monotonic() >= next_fold:
                    with transaction(self._runtime.sessions) as session:
                        fold_counts(session)
                    next_fold = time.monotonic() + FOLD_INTERVAL_S
            except Exception as exc:
                log.warning("dispatcher round failed (next in %.1f s): %s", interval, exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
