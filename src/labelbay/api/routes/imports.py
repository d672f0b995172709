"""Importing images from a bucket prefix or a folder, and labels from files, into a project."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.routes.jobs import job_out
from labelbay.api.schemas import JobOut, Rejected
from labelbay.db.models import Role
from labelbay.errors import Invalid
from labelbay.imports.label_files import keep_upload
from labelbay.imports.label_formats import LabelFormat, check_json
from labelbay.imports.label_import import Target, external_version
from labelbay.imports.service import run_import
from labelbay.imports.sources import check_source, open_source
from labelbay.imports.xml_formats import XML_HEAD_BYTES, check_xml
from labelbay.jobs.start import start_job, start_label_import
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


@router.post(
    "/projects/{project_id}/labels/import",
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: {"description": "The import job, queued; follow it at GET /jobs/{id}."}},
)
def import_labels(
    project_id: int,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    format: Annotated[LabelFormat, Form()],
    files: Annotated[
        list[UploadFile] | None,
        File(description="The labels: a zip (with images or not) or the files themselves."),
    ] = None,
    source_url: Annotated[str | None, Form(min_length=1, max_length=1000)] = None,
    target: Annotated[Target, Form()] = "annotations",
    model: Annotated[str | None, Form(max_length=100)] = None,
    model_version: Annotated[str, Form(max_length=50)] = "1",
    with_images: Annotated[bool, Form()] = False,
) -> JobOut:
    """Put labels another tool made onto the project's images, as a job (202; follow it at
    `GET /jobs/{id}`: `progress` while it runs, `report` with every record it could not use, by
    place and reason, when it ends).

    The files come as an upload (`files`: a zip, or the files; annotator and up) or from
    `source_url` (an S3 prefix or, for administrators, a server folder, as for image imports;
    manager and up). Formats: `coco` (a COCO file, or a results list), `yolo` (the Ultralytics
    layout: `data.yaml` + `labels/*.txt`, boxes or polygons), `labelstudio` (tasks: rectangles,
    ellipses, polygons, brushes as RLE, choices), `voc` (a zip
    of `Annotations/*.xml`, or one file), `cvat` (CVAT for images 1.1 `annotations.xml`, or a zip)
    and `labelbay` (labelbay's JSON export). Images are matched by file name (YOLO by stem), then,
    for image files that come with the labels, by content (sha256); with `with_images` those
    that match none are stored as new images. `target=annotations` adds people's labels (an
    identical one already there is left alone); `target=predictions` stores them as `model`'s
    predictions (`model_version`, default "1"; a model labelbay has never seen is registered as
    `external`), replacing that version's earlier ones for each image. Running it again changes
    nothing.
    """
    if (files is None) == (source_url is None):
        raise Invalid("send the labels as `files`, or name them with `source_url`: one of the two")
    min_role = Role.annotator if files is not None else Role.manager
    project, _ = require_project(session, user=user, project_id=project_id, min_role=min_role)
    version_id = None
    if target == "predictions":
        if not model:
            raise Invalid("importing predictions needs `model`: the model they came from")
        version_id = external_version(session, name=model, version=model_version).id
    if files is not None:
        _check_upload(format, files)
        selection = keep_upload(context.runtime, [(f.filename or "labels", f.file) for f in files])
    else:
        assert source_url is not None
        check_source(source_url, admin=user.is_admin, settings=context.settings)
        selection = {"source_url": open_source(source_url, context.settings).url}
    job = start_label_import(
        session,
        executor=context.executor,
        project=project,
        user=user,
        selection=selection,
        options={"format": format, "target": target, "with_images": with_images},
        model_version_id=version_id,
    )
    return job_out(session, job)


def _check_upload(format: LabelFormat, files: list[UploadFile]) -> None:
    """A quick look before the job reads everything, at one file sent alone (not a zip): a JSON
    format must begin like JSON, an XML one like XML and without entity declarations (refused at
    once); the full check happens as the job reads (and fails it with the reason)."""
    if len(files) != 1 or format == "yolo":
        return
    head = files[0].file.read(XML_HEAD_BYTES)
    files[0].file.seek(0)
    if head.startswith(b"PK\x03\x04"):
        return  # a zip: its files are read by the job
    if format in ("voc", "cvat"):
        check_xml(head, format)
    else:
        check_json(head)
