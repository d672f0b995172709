"""Starting work: the one place that hands a new job's task ids to an executor.

The order is the point. A worker may read a message the instant it is sent, and it finds its tasks
by id in SQL, so the rows are committed first and published after: "create the job → read its task
ids → commit → publish". The commit puts the tasks in the outbox (unpublished); `dispatch.publish`
marks what it sent, and the dispatcher sends what it could not (the broker was down, the process
died in between). Every caller (the jobs route, an upload's default model, imports, the old
contracts, the CLI, the start-up re-queue) goes through here, so none can publish too early.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from labelbay.db.models import Job, Project, TaskStatus, User
from labelbay.jobs.dispatch import publish, publish_label_import, unpublish_open_tasks
from labelbay.jobs.executors import Executor
from labelbay.jobs.service import (
    create_job,
    create_label_import,
    task_ids,
    unfinished_label_imports,
    unfinished_task_ids,
)


def start_job(
    session: Session,
    *,
    executor: Executor,
    batch_size: int,
    project: Project,
    user: User | None,
    model_name: str,
    model_version: str | None = None,
    image_ids: Sequence[uuid.UUID] | None = None,
    meta_filters: Mapping[str, str] | None = None,
    callback_url: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Job:
    """Create a job (see `service.create_job`), commit `session`, then publish its tasks.

    Unlike a service function this commits: the caller's transaction ends here, with the job in it.
    A domain error (unknown model, empty selection) is raised before anything is committed. A
    broker that is down does not fail the call: the tasks wait in the outbox.
    """
    job = create_job(
        session,
        project=project,
        user=user,
        model_name=model_name,
        model_version=model_version,
        image_ids=image_ids,
        meta_filters=meta_filters,
        callback_url=callback_url,
        options=options,
    )
    queued = task_ids(session, job_id=job.id, statuses=[TaskStatus.queued.value])
    _commit_then_submit(session, queued, executor=executor, batch_size=batch_size)
    return job


def start_label_import(
    session: Session,
    *,
    executor: Executor,
    project: Project,
    user: User | None,
    selection: Mapping[str, Any],
    options: Mapping[str, Any],
    model_version_id: int | None,
) -> Job:
    """Create a label-import job (see `service.create_label_import`), commit, then submit it."""
    job = create_label_import(
        session,
        project=project,
        user=user,
        selection=selection,
        options=options,
        model_version_id=model_version_id,
    )
    session.commit()  # the row exists before any worker can see the message
    publish_label_import(session, executor, job.id)
    session.commit()
    return job


def requeue_unfinished(session: Session, *, executor: Executor, batch_size: int) -> int:
    """Put every task left queued or running in an open job back in the outbox and publish it,
    and every unfinished label import (the in-process executor's queue died with the process); how
    many. Running one twice is harmless: the task code is idempotent."""
    unpublish_open_tasks(session)
    ids = unfinished_task_ids(session)
    imports = unfinished_label_imports(session)
    _commit_then_submit(session, ids, executor=executor, batch_size=batch_size)
    for job_id in imports:
        publish_label_import(session, executor, job_id)
    session.commit()
    return len(ids) + len(imports)


def _commit_then_submit(
    session: Session, ids: Sequence[int], *, executor: Executor, batch_size: int
) -> None:
    session.commit()  # the rows exist before any worker can see a message about them
    publish(session, executor, ids, batch_size=batch_size)
    session.commit()
