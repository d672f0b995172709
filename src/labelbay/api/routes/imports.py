"""Importing a bucket prefix or a folder into a project."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.schemas import Rejected
from labelbay.db.models import Role
from labelbay.imports.service import run_import
from labelbay.imports.sources import check_source
from labelbay.jobs.start import start_job
from labelbay.services.projects import require_project

router = APIRouter(prefix="/api/v1", tags=["imports"])


class ImportIn(BaseModel):
    source_url: str = Field(min_length=1, max_length=1000)
    mode: Literal["reference", "copy"] = "reference"
    model: str | None = Field(default=None, max_length=100)
    model_version: str | None = Field(default=None, max_length=50)


class ImportOut(BaseModel):
    source_id: int
    added: int
    updated: int
    unchanged: int
    rejected: list[Rejected]
    job_id: int | None = None


@router.post("/projects/{project_id}/imports", status_code=status.HTTP_200_OK)
async def import_images(
    project_id: int, body: ImportIn, user: CurrentUser, session: SessionDep, context: ContextDep
) -> ImportOut:
    """Import the images at `source_url` (`s3://bucket/prefix?endpoint=...` or, for
    administrators, `file:///folder`) into the project (manager and up).

    `reference` keeps each image where it is and reads it from there; `copy` stores a copy in the
    input location. Each file is judged like an upload. Running it again imports only new keys and
    refreshes changed ones (by ETag). With `model`, a job runs that model on what was added.
    """
    project, _ = await run_in_threadpool(
        require_project, session, user=user, project_id=project_id, min_role=Role.manager
    )
    check_source(body.source_url, admin=user.is_admin, settings=context.settings)
    session.commit()
    result = await run_in_threadpool(
        run_import,
        context.runtime,
        project_id=project_id,
        url=body.source_url,
        mode=body.mode,
        user_id=user.id,
    )
    job_id = None
    if body.model and result.added:
        job = await run_in_threadpool(
            start_job,
            session,
            executor=context.executor,
            batch_size=context.settings.job_batch_size,
            project=project,
            user=user,
            model_name=body.model,
            model_version=body.model_version,
            image_ids=result.added,
        )
        job_id = job.id
    return ImportOut(
        source_id=result.source_id,
        added=len(result.added),
        updated=len(result.updated),
        unchanged=result.unchanged,
        rejected=[Rejected(filename=r.filename, reason=r.reason) for r in result.rejected],
        job_id=job_id,
    )
