"""Importing a bucket prefix or a folder into a project."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.schemas import Rejected
from labelbay.db.models import Role
from labelbay.errors import Invalid
from labelbay.imports.label_formats import LabelFormat, read
from labelbay.imports.label_import import Target, external_version
from labelbay.imports.label_import import import_labels as label_import
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


class ImportProblem(BaseModel):
    place: str = Field(description="Where in the file: an index, or a file and line.")
    reason: str


class LabelImportOut(BaseModel):
    images_in_file: int
    images_matched: int
    added: int
    unchanged: int
    problems: list[ImportProblem]
    unmatched: list[str] = Field(description="Images the file names that the project lacks.")


@router.post("/projects/{project_id}/labels/import")
def import_labels(
    project_id: int,
    file: Annotated[
        UploadFile,
        File(description="A COCO JSON, a YOLO zip, Label Studio tasks, a VOC zip or CVAT XML."),
    ],
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[LabelFormat, Form()],
    target: Annotated[Target, Form()] = "annotations",
    model: Annotated[str | None, Form(max_length=100)] = None,
    model_version: Annotated[str, Form(max_length=50)] = "1",
) -> LabelImportOut:
    """Put labels another tool made onto the project's images (annotator and up): `coco` (a COCO
    file, or a results list), `yolo` (an Ultralytics zip: `data.yaml` + `labels/*.txt`, boxes or
    polygons), `labelstudio` (tasks; `annotations` or `predictions` by `target`), `voc` (a zip of
    `Annotations/*.xml`, or one file) or `cvat` (CVAT for images 1.1 `annotations.xml`, or a zip).
    Images are matched by file name (YOLO by stem). `target=annotations` adds people's labels (an
    identical one already there is left alone); `target=predictions` stores them as `model`'s predictions
    (`model_version`, default "1"; a model labelbay has never seen is registered as `external`),
    replacing that version's earlier ones for each image. Labels are fitted to their image; every
    record that cannot be used is reported with its place and reason, and the rest is stored."""
    require_project(session, user=user, project_id=project_id, min_role=Role.annotator)
    reading = read(format, file.file.read())
    version = None
    if target == "predictions":
        if not model:
            raise Invalid("importing predictions needs `model`: the model they came from")
        version = external_version(session, name=model, version=model_version, class_names=[])
    report = label_import(
        session,
        project_id=project_id,
        reading=reading,
        target=target,
        user=user,
        model_version=version,
    )
    return LabelImportOut(
        images_in_file=report.images_in_file,
        images_matched=report.images_matched,
        added=report.added,
        unchanged=report.unchanged,
        problems=[ImportProblem(place=p.place, reason=p.reason) for p in report.problems],
        unmatched=report.unmatched,
    )
