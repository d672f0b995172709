"""Jobs: run a model over a selection of a project's images and follow it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.schemas import JobCreate, JobOut, JobReport, JobResult, JobResults, ModelOut
from labelbay.db.models import Job, JobTask, Role, TaskStatus
from labelbay.errors import Invalid
from labelbay.jobs import service
from labelbay.jobs.callbacks import CallbackRefused, check_url
from labelbay.jobs.start import start_job
from labelbay.labels import Label
from labelbay.services import models
from labelbay.services.projects import hidden_as, require_project

router = APIRouter(prefix="/api/v1", tags=["jobs"])


def job_out(session: SessionDep, job: Job, *, report: bool = False) -> JobOut:
    """The job as the API shows it; `report`: with a label import's problems (one job's view)."""
    version = service.model_version_of(session, job)
    errors = session.execute(
        select(JobTask.image_id, JobTask.error)
        .where(JobTask.job_id == job.id, JobTask.status == TaskStatus.failed.value)
        .order_by(JobTask.id)
        .limit(20)
    ).all()
    rate = None
    if job.started_at is not None and job.done:
        end = job.finished_at or datetime.now(UTC)
        seconds = max((end - job.started_at).total_seconds(), 1e-3)
        rate = round(job.done / seconds, 2)
    return JobOut(
        id=job.id,
        project_id=job.project_id,
        kind=job.kind,
        model=version.name if version else None,
        model_version=version.version if version else None,
        status=job.status,
        total=job.total,
        done=job.done,
        failed=job.failed,
        images_per_second=rate,
        stage_ms={k: round(v, 1) for k, v in job.stage_ms.items()},
        errors=[{"image_id": str(i), "error": e or ""} for i, e in errors],
        callback_url=job.callback_url,
        callback_status=job.callback_status,
        callback_attempts=job.callback_attempts,
        callback_error=job.callback_error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        progress=dict(job.progress or {}),
        report=JobReport.model_validate(job.report) if report and job.report else None,
    )


@router.get("/models")
def list_models(_user: CurrentUser, session: SessionDep) -> list[ModelOut]:
    """Models a job can name: every registered version, and the built-in ones (registered on
    their first use)."""
    rows = [ModelOut.model_validate(row) for row in models.list_versions(session)]
    registered = {row.name for row in rows}
    for spec in models.available_builtin_specs():
        if spec.name not in registered:
            rows.append(
                ModelOut(
                    name=spec.name,
                    version=spec.version,
                    task=spec.task,
                    format="builtin",
                    class_names=list(spec.class_names),
                    is_active=True,
                )
            )
    return rows


@router.post("/projects/{project_id}/jobs", status_code=status.HTTP_201_CREATED)
def create_job(
    project_id: int, body: JobCreate, user: CurrentUser, session: SessionDep, context: ContextDep
) -> JobOut:
    """Run a model over the project's images: the given `image_ids`, the images whose metadata
    matches `metadata`, or all of them. A `callback_url` gets a signed POST when the job ends."""
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.annotator)
    if body.callback_url:
        try:
            check_url(body.callback_url, allowlist=context.settings.callback_allowlist)
        except CallbackRefused as exc:
            raise Invalid(f"callback_url: {exc}") from exc
    job = start_job(
        session,
        executor=context.executor,
        batch_size=context.settings.job_batch_size,
        project=project,
        user=user,
        model_name=body.model,
        model_version=body.model_version,
        image_ids=body.image_ids,
        meta_filters=body.metadata,
        callback_url=body.callback_url,
        options={"save_outputs": body.save_outputs},
    )
    return job_out(session, job)


def _visible_job(session: SessionDep, user: CurrentUser, job_id: int, min_role: Role) -> Job:
    with hidden_as(f"job {job_id}"):
        job = service.get_job(session, job_id=job_id)
        require_project(session, user=user, project_id=job.project_id, min_role=min_role)
    return job


@router.get("/jobs/{job_id}")
def get_job(job_id: int, user: CurrentUser, session: SessionDep) -> JobOut:
    """Status, counts, throughput, per-stage time and the first errors of a job; for a label
    import its progress while it runs and, when it ends, its report: every record it could not
    use with its place and reason (the first 1000; `progress` counts them all)."""
    job = _visible_job(session, user, job_id, Role.viewer)
    service.refresh_counts(session, job=job)
    out = job_out(session, job, report=True)
    # Shown, not stored: written from a read that raced the job's completion, these counts
    # could overwrite the final ones. Only the task code writes a job's row.
    session.rollback()
    return out


@router.get("/projects/{project_id}/jobs")
def list_jobs(project_id: int, user: CurrentUser, session: SessionDep) -> list[JobOut]:
    """The project's jobs, newest first (the last 100)."""
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    rows = session.scalars(
        select(Job).where(Job.project_id == project_id).order_by(Job.id.desc()).limit(100)
    )
    return [job_out(session, job) for job in rows]


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: int, user: CurrentUser, session: SessionDep) -> JobOut:
    """Stop a job: queued tasks are cancelled; a batch already running finishes."""
    job = _visible_job(session, user, job_id, Role.annotator)
    return job_out(session, service.cancel_job(session, job=job))


@router.get("/jobs/{job_id}/results")
def job_results(
    job_id: int,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=0)] = None,
) -> JobResults:
    """Per-image results of a job (the labels the model found, fitted to the image), by pages."""
    job = _visible_job(session, user, job_id, Role.viewer)
    rows = service.job_results(session, job=job, limit=limit, after=cursor)
    results = [
        JobResult(
            task_id=task.id,
            image_id=image.id,
            filename=image.original_filename,
            width=image.width,
            height=image.height,
            status=task.status,
            error=task.error,
            labels=(
                [Label.model_validate(d) for d in prediction.detections]
                if prediction is not None
                else None
            ),
        )
        for task, image, prediction in rows
    ]
    next_cursor = rows[-1][0].id if len(rows) == limit else None
    return JobResults(results=results, next_cursor=next_cursor)
