"""Creating, reading and cancelling jobs; progress is counted from the task rows, never guessed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from labelbay.db.models import (
    Image,
    Job,
    JobKind,
    JobStatus,
    JobTask,
    ModelVersion,
    Prediction,
    Project,
    TaskStatus,
    User,
)
from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.services.images import ImageFilter, image_conditions
from labelbay.services.models import get_version

MAX_IMAGE_IDS = 100_000


def create_job(
    session: Session,
    *,
    project: Project,
    user: User | None,
    model_name: str,
    model_version: str | None = None,
    image_ids: Sequence[uuid.UUID] | None = None,
    meta_filters: Mapping[str, str] | None = None,
    callback_url: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Job:
    """A job and one queued task per selected image (inserted server-side, in one statement).

    The selection is `image_ids`, else `meta_filters`, else the whole project.
    """
    try:
        version = get_version(session, name=model_name, version=model_version)
    except NotFound as exc:
        raise Invalid(str(exc)) from exc
    selection: dict[str, Any]
    conditions = [Image.project_id == project.id]
    if image_ids is not None:
        if not image_ids:
            raise Invalid("image_ids is empty")
        if len(image_ids) > MAX_IMAGE_IDS:
            raise Invalid(f"at most {MAX_IMAGE_IDS} image ids; select by metadata instead")
        conditions.append(Image.id.in_(list(image_ids)))
        selection = {"image_ids": [str(i) for i in image_ids]}
    elif meta_filters:
        conditions = image_conditions(session, project.id, ImageFilter(meta=meta_filters))
        selection = {"metadata": dict(meta_filters)}
    else:
        selection = {"all": True}
    job = Job(
        project_id=project.id,
        model_version_id=version.id,
        status=JobStatus.queued.value,
        selection=selection,
        options=dict(options or {}),
        callback_url=callback_url,
        created_by_id=user.id if user else None,
    )
    session.add(job)
    session.flush()
    chosen = select(literal(job.id), Image.id, literal(TaskStatus.queued.value), literal(0))
    session.execute(
        insert(JobTask).from_select(
            ["job_id", "image_id", "status", "attempts"], chosen.where(*conditions)
        )
    )
    job.total = session.scalar(select(func.count()).where(JobTask.job_id == job.id)) or 0
    if image_ids is not None and job.total != len(set(image_ids)):
        raise Invalid("some image ids are not images of this project")
    if job.total == 0:
        raise Invalid("the selection has no images")
    session.flush()
    return job


def create_label_import(
    session: Session,
    *,
    project: Project,
    user: User | None,
    selection: Mapping[str, Any],
    options: Mapping[str, Any],
    model_version_id: int | None,
) -> Job:
    """A label-import job: one unit of work (no task rows), run by `tasks.run_label_import`.
    `selection` says where its files are, `options` how to read and store them."""
    job = Job(
        project_id=project.id,
        kind=JobKind.label_import.value,
        model_version_id=model_version_id,
        status=JobStatus.queued.value,
        selection=dict(selection),
        options=dict(options),
        created_by_id=user.id if user else None,
    )
    session.add(job)
    session.flush()
    return job


def task_ids(session: Session, *, job_id: int, statuses: Sequence[str]) -> list[int]:
    stmt = select(JobTask.id).where(JobTask.job_id == job_id, JobTask.status.in_(statuses))
    return list(session.scalars(stmt.order_by(JobTask.id)))


def unfinished_task_ids(session: Session) -> list[int]:
    """Tasks that were queued or started and never finished, in jobs still open (for re-queueing
    after a restart)."""
    open_jobs = select(Job.id).where(Job.status.in_([JobStatus.queued, JobStatus.running]))
    stmt = select(JobTask.id).where(
        JobTask.job_id.in_(open_jobs),
        JobTask.status.in_([TaskStatus.queued, TaskStatus.running]),
    )
    return list(session.scalars(stmt.order_by(JobTask.id)))


def unfinished_label_imports(session: Session) -> list[int]:
    """Label imports queued or started and never finished (re-run whole: they are idempotent)."""
    stmt = select(Job.id).where(
        Job.kind == JobKind.label_import.value,
        Job.status.in_([JobStatus.queued, JobStatus.running]),
    )
    return list(session.scalars(stmt.order_by(Job.id)))


def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def refresh_counts(session: Session, *, job: Job) -> dict[str, int]:
    """Set the job's done/failed counts from its tasks; returns the count per task status."""
    rows = session.execute(
        select(JobTask.status, func.count())
        .where(JobTask.job_id == job.id)
        .group_by(JobTask.status)
    ).all()
    counts = {status: int(n) for status, n in rows}
    job.done = counts.get(TaskStatus.done.value, 0)
    job.failed = counts.get(TaskStatus.failed.value, 0)
    return counts


def cancel_job(session: Session, *, job: Job) -> Job:
    if job.status in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled):
        raise Conflict(f"job {job.id} is already {job.status}")
    session.execute(
        update(JobTask)
        .where(JobTask.job_id == job.id, JobTask.status == TaskStatus.queued.value)
        .values(status=TaskStatus.cancelled.value)
    )
    job.status = JobStatus.cancelled.value
    job.finished_at = datetime.now(UTC)
    refresh_counts(session, job=job)
    session.flush()
    return job


def job_results(
    session: Session, *, job: Job, limit: int, after: int | None = None
) -> list[tuple[JobTask, Image, Prediction | None]]:
    """A page of the job's tasks with their image and prediction, by task id (keyset)."""
    stmt = (
        select(JobTask, Image, Prediction)
        .join(Image, Image.id == JobTask.image_id)
        .outerjoin(
            Prediction,
            (Prediction.image_id == JobTask.image_id)
            & (Prediction.model_version_id == job.model_version_id),
        )
        .where(JobTask.job_id == job.id)
    )
    if after is not None:
        stmt = stmt.where(JobTask.id > after)
    rows = session.execute(stmt.order_by(JobTask.id).limit(limit)).all()
    return [(task, image, prediction) for task, image, prediction in rows]


FINISHED = {JobStatus.completed.value, JobStatus.failed.value, JobStatus.cancelled.value}


def wait_for_job(
    sessions: sessionmaker[Session], *, job_id: int, timeout_s: float, poll_s: float = 0.05
) -> Job | None:
    """The job once it has ended (completed, failed or cancelled), or None after `timeout_s`. For
    callers that must answer with results (the old synchronous contracts); the work itself runs
    wherever the executor sends it."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sessions() as session:
            job = session.get(Job, job_id)
            if job is not None and job.status in FINISHED:
                return job
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


def model_version_of(session: Session, job: Job) -> ModelVersion | None:
    """The job's model version; None for a label import of people's annotations."""
    if job.model_version_id is None:
        return None
    return session.get(ModelVersion, job.model_version_id)
