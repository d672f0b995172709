"""Starting work: the one place that hands task ids to an executor.

The order is the point. A worker may read a message the instant it is sent, and it finds its tasks
by id in SQL, so the rows are committed first and published after: "create the job → read its task
ids → commit → submit". Every caller (the jobs route, an upload's default model, imports, the old
contracts, the CLI, the start-up re-queue) goes through here, so none can publish too early.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from labelbay.db.models import Evaluation, Job, ModelVersion, Project, TaskStatus, User
from labelbay.jobs.evaluate import unfinished_evaluation_ids
from labelbay.jobs.executors import Executor, submit_all
from labelbay.jobs.service import create_job, task_ids, unfinished_task_ids
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
    """Create a job (see `service.create_job`), commit `session`, then submit its tasks.

    Unlike a service function this commits: the caller's transaction ends here, with the job in it.
    A domain error (unknown model, empty selection) is raised before anything is committed.
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
) -> Evaluation:
    """Create an evaluation (see `services.evaluations.create_evaluation`), commit, then hand
    its id to the executor, which runs `jobs.evaluate.process_evaluation`. Commits, like
    `start_job`; a domain error is raised before anything is committed."""
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
    )
    session.commit()  # the row exists before any worker can see a message about it
    executor.submit_evaluation(evaluation.id)
    return evaluation


def requeue_unfinished(session: Session, *, executor: Executor, batch_size: int) -> int:
    """Submit again every task left queued or running in an open job, and every evaluation
    left queued or running (after a restart or a crash); how many. Running either twice is
    harmless: the task code is idempotent."""
    ids = unfinished_task_ids(session)
    evaluations = unfinished_evaluation_ids(session)
    _commit_then_submit(session, ids, executor=executor, batch_size=batch_size)
    for evaluation_id in evaluations:
        executor.submit_evaluation(evaluation_id)
    return len(ids) + len(evaluations)


def _commit_then_submit(
    session: Session, ids: Sequence[int], *, executor: Executor, batch_size: int
) -> None:
    session.commit()  # the rows exist before any worker can see a message about them
    submit_all(executor, ids, batch_size=batch_size)
