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

from labelbay.db.models import Evaluation, Job, ModelVersion, Project, TaskStatus, User
from labelbay.evaluation.cocofile import IouType
from labelbay.jobs.dispatch import (
    publish,
    publish_evaluation,
    publish_label_import,
    unpublish_open_tasks,
)
from labelbay.jobs.evaluate import unfinished_evaluation_ids
from labelbay.jobs.executors import Executor
from labelbay.jobs.service import (
    create_job,
    create_label_import,
    task_ids,
    unfinished_label_imports,
    unfinished_task_ids,
)
from labelbay.services.evaluation_data import GroundTruth
from labelbay.services.evaluations import create_evaluation
from labelbay.services.images import ImageFilter


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


def start_evaluation(
    session: Session,
    *,
    executor: Executor,
    project: Project,
    user: User | None,
    model: ModelVersion,
    ground_truth: GroundTruth = "reviewed",
    gt_model: ModelVersion | None = None,
    selection: ImageFilter | None = None,
    iou_threshold: float = 0.5,
    score_threshold: float | None = None,
    iou_type: IouType = "bbox",
) -> Evaluation:
    """Create an evaluation (see `services.evaluations.create_evaluation`), commit, then hand
    its id to the executor, which runs `jobs.evaluate.process_evaluation`. Commits, like
    `start_job`; a domain error is raised before anything is committed; a broker that is down
    leaves it in the outbox (`evaluations.published_at`) for the dispatcher."""
    evaluation = create_evaluation(
        session,
        project=project,
        user=user,
        model=model,
        ground_truth=ground_truth,
        gt_model=gt_model,
        selection=selection,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        iou_type=iou_type,
    )
    session.commit()  # the row exists before any worker can see a message about it
    publish_evaluation(session, executor, evaluation.id)
    session.commit()
    return evaluation


def requeue_unfinished(session: Session, *, executor: Executor, batch_size: int) -> int:
    """Put every task left queued or running in an open job back in the outbox and publish it,
    and every unfinished label import and evaluation (the in-process executor's queue died with
    the process); how many. Running one twice is harmless: the task code is idempotent."""
    unpublish_open_tasks(session)
    ids = unfinished_task_ids(session)
    imports = unfinished_label_imports(session)
    evaluations = unfinished_evaluation_ids(session)
    _commit_then_submit(session, ids, executor=executor, batch_size=batch_size)
    for job_id in imports:
        publish_label_import(session, executor, job_id)
    for evaluation_id in evaluations:
        publish_evaluation(session, executor, evaluation_id)
    session.commit()
    return len(ids) + len(imports) + len(evaluations)


def _commit_then_submit(
    session: Session, ids: Sequence[int], *, executor: Executor, batch_size: int
) -> None:
    session.commit()  # the rows exist before any worker can see a message about them
    publish(session, executor, ids, batch_size=batch_size)
    session.commit()
