"""ML analyses: pipelines post results (HMAC-signed), members read and export them.

Every route answers 404 while `ML_ANALYSIS_ENABLED` is off. Pipeline routes verify
`X-ML-Signature` / `X-ML-Timestamp` before anything else (see `labelbay.analyses.signing`).
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from labelbay.analyses import export, service, signing
from labelbay.analyses.annotations import AnnotationInput
from labelbay.analyses.schemas import (
    AnalysisCreate,
    AnalysisDetail,
    AnalysisList,
    AnalysisOut,
    AnnotationOut,
    ArtifactOut,
    BulkAnnotationsIn,
    BulkAnnotationsOut,
    FinalizeIn,
    PresignIn,
    PresignOut,
    StatusIn,
)
from labelbay.analyses.transfers import (
    InvalidTransfer,
    Transfer,
    read_transfer_token,
    transfer_token,
)
from labelbay.api.context import AppContext
from labelbay.api.deps import (
    ContextDep,
    CurrentUser,
    SessionDep,
    api_key_header,
    get_current_user,
    oauth2_scheme,
)
from labelbay.db.models import Analysis, AnalysisArtifact, AnalysisStatus, Image, Role, User
from labelbay.errors import Invalid, NotFound
from labelbay.services.images import get_image
from labelbay.storage import ObjectNotFound


def require_enabled(context: ContextDep) -> None:
    if not context.settings.ml_analysis_enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")


router = APIRouter(prefix="/api", tags=["analyses"], dependencies=[Depends(require_enabled)])

_SIGNATURE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, wrong or stale X-ML-Signature / X-ML-Timestamp"},
    409: {"description": "Replayed signature, or an illegal status move"},
}


async def _verify_signature(request: Request, context: AppContext, session: SessionDep) -> None:
    settings = context.settings
    body = await request.body()  # already read (and cached) by FastAPI for routes with a body
    if len(body) > settings.ml_max_request_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body is over the limit of {settings.ml_max_request_bytes} bytes",
        )
    secret = settings.ml_callback_hmac_secret
    assert secret is not None  # Settings refuses the feature without a secret
    try:
        await run_in_threadpool(
            signing.verify,
            secret=secret.get_secret_value(),
            signature=request.headers.get(signing.SIGNATURE_HEADER),
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            method=request.method,
            path=request.url.path,
            body=body,
            window=timedelta(seconds=settings.ml_signature_window_seconds),
            guard=signing.SqlReplayGuard(session),
        )
    except signing.ReplayedSignature as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except signing.SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc


async def signed_pipeline(request: Request, context: ContextDep, session: SessionDep) -> None:
    await _verify_signature(request, context, session)


async def pipeline_or_user(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> User | None:
    """None for a signed pipeline request; the signed-in user otherwise."""
    headers = request.headers
    if signing.SIGNATURE_HEADER in headers or signing.TIMESTAMP_HEADER in headers:
        await _verify_signature(request, context, session)
        return None
    return await run_in_threadpool(get_current_user, request, context, session, bearer, api_key)


SignedPipeline = Depends(signed_pipeline)
PipelineOrUser = Annotated[User | None, Depends(pipeline_or_user)]


def _out(session: SessionDep, analysis: Analysis) -> AnalysisOut:
    counts = service.annotation_counts(session, analysis_ids=[analysis.id])
    return AnalysisOut.of(analysis, annotation_count=counts.get(analysis.id, 0))


@router.post(
    "/images/{image_id}/analyses",
    status_code=status.HTTP_201_CREATED,
    responses=_SIGNATURE_RESPONSES,
)
def create_analysis(
    image_id: uuid.UUID,
    body: AnalysisCreate,
    caller: PipelineOrUser,
    session: SessionDep,
    context: ContextDep,
) -> AnalysisOut:
    """Queue an analysis of the image: by a signed pipeline, or by a manager of its project.

    The model must be one of `ML_ALLOWED_MODELS`. The answer carries the image's size, which
    annotation coordinates must stay within.
    """
    if body.image_id is not None and body.image_id != image_id:
        raise Invalid("image_id in the body does not match the path")
    if caller is None:
        image = session.get(Image, image_id)
        if image is None:
            raise NotFound(f"image {image_id} not found")
    else:
        image = get_image(session, user=caller, image_id=image_id, min_role=Role.manager)
    analysis = service.create_analysis(
        session,
        image=image,
        model_name=body.model_name,
        model_version=body.model_version,
        parameters=body.parameters,
        allowed_models=context.settings.ml_allowed_models,
        created_by=caller,
    )
    return AnalysisOut.of(analysis, annotation_count=0)


@router.patch(
    "/analyses/{analysis_id}/status", dependencies=[SignedPipeline], responses=_SIGNATURE_RESPONSES
)
def update_status(analysis_id: uuid.UUID, body: StatusIn, session: SessionDep) -> AnalysisOut:
    """Move the analysis forward, usually to `processing` (signed pipeline only)."""
    analysis = service.get_analysis(session, analysis_id=analysis_id)
    service.set_status(session, analysis=analysis, status=body.status)
    return _out(session, analysis)


@router.post(
    "/analyses/{analysis_id}/artifacts/presign",
    dependencies=[SignedPipeline],
    responses=_SIGNATURE_RESPONSES,
)
def presign_artifact(
    analysis_id: uuid.UUID,
    body: PresignIn,
    request: Request,
    session: SessionDep,
    context: ContextDep,
) -> PresignOut:
    """A URL to PUT one artifact to, and the `storage_path` to cite (signed pipeline only).

    On S3 it is a presigned S3 URL; on a local folder, a signed labelbay link. Either expires
    after `LABELBAY_PRESIGN_EXPIRY_SECONDS`.
    """
    settings = context.settings
    analysis = service.get_analysis(session, analysis_id=analysis_id)
    artifact = service.add_artifact(
        session,
        analysis=analysis,
        artifact_type=body.artifact_type,
        filename=body.filename,
        max_filename_length=settings.ml_max_artifact_filename_length,
    )
    expires_in = timedelta(seconds=settings.presign_expiry_seconds)
    url = _link(context, request, artifact, method="PUT", expires_in=expires_in)
    return PresignOut(
        artifact_id=artifact.id,
        upload_url=url,
        storage_path=artifact.storage_path,
        content_type=artifact.content_type,
        max_bytes=settings.ml_max_artifact_bytes,
        expires_at=datetime.now(UTC) + expires_in,
    )


@router.post(
    "/analyses/{analysis_id}/annotations:bulk",
    status_code=status.HTTP_201_CREATED,
    dependencies=[SignedPipeline],
    responses={**_SIGNATURE_RESPONSES, 413: {"description": "Too many annotations at once"}},
)
def add_annotations(
    analysis_id: uuid.UUID, body: BulkAnnotationsIn, session: SessionDep, context: ContextDep
) -> BulkAnnotationsOut:
    """Add annotations while the analysis is processing; all are stored, or none (signed
    pipeline only). Types: bounding_box, heatmap, polygon, circle, classification, keypoints."""
    limit = context.settings.ml_max_annotations_per_request
    if len(body.annotations) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(body.annotations)} annotations in one request; the limit is {limit} "
            "(send them in several requests)",
        )
    analysis = service.get_analysis(session, analysis_id=analysis_id)
    items = [
        AnnotationInput(
            annotation_type=a.annotation_type,
            class_name=a.class_name,
            confidence=a.confidence,
            data=a.data,
            storage_path=a.storage_path,
        )
        for a in body.annotations
    ]
    rows = service.add_annotations(session, analysis=analysis, items=items)
    return BulkAnnotationsOut(created=len(rows), annotation_ids=[row.id for row in rows])


@router.post(
    "/analyses/{analysis_id}/finalize",
    dependencies=[SignedPipeline],
    responses=_SIGNATURE_RESPONSES,
)
def finalize_analysis(
    analysis_id: uuid.UUID, body: FinalizeIn, session: SessionDep, context: ContextDep
) -> AnalysisOut:
    """Complete the analysis (each presigned artifact must have been uploaded, within the size
    limit and of the type its name promises) or record its failure (signed pipeline only)."""
    analysis = service.get_analysis(session, analysis_id=analysis_id)
    service.finalize(
        session,
        analysis=analysis,
        status=AnalysisStatus(body.status),
        error=body.error,
        store=context.storage.artifacts,
        max_artifact_bytes=context.settings.ml_max_artifact_bytes,
    )
    return _out(session, analysis)


@router.get("/images/{image_id}/analyses")
def list_analyses(image_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> AnalysisList:
    """The image's analyses, oldest first (any member of its project)."""
    get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    rows = service.list_analyses(session, image_id=image_id)
    counts = service.annotation_counts(session, analysis_ids=[row.id for row in rows])
    return AnalysisList(
        analyses=[AnalysisOut.of(row, annotation_count=counts.get(row.id, 0)) for row in rows]
    )


@router.get("/analyses/{analysis_id}")
def get_analysis(
    analysis_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> AnalysisDetail:
    """One analysis with its annotations and short-lived links to its artifacts (any member)."""
    analysis = service.get_analysis_for(
        session, user=user, analysis_id=analysis_id, min_role=Role.viewer
    )
    expires_in = timedelta(seconds=context.settings.presign_expiry_seconds)
    summary = AnalysisOut.of(analysis, annotation_count=len(analysis.annotations))
    return AnalysisDetail(
        **summary.model_dump(),
        annotations=[AnnotationOut.of(row) for row in analysis.annotations],
        artifacts=[
            ArtifactOut.of(a, _link(context, request, a, method="GET", expires_in=expires_in))
            for a in analysis.artifacts
        ],
    )


@router.get(
    "/analyses/{analysis_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def export_analysis(
    analysis_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """The analysis and its annotations as a JSON document or a CSV file (any member)."""
    analysis = service.get_analysis_for(
        session, user=user, analysis_id=analysis_id, min_role=Role.viewer
    )
    if format == "csv":
        content, media_type = export.to_csv(analysis), "text/csv; charset=utf-8"
    else:
        content, media_type = export.to_json(analysis), "application/json"
    filename = f"analysis-{analysis.id}.{format}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- signed links for a local artifacts folder (S3 presigns its own) --------------------------------

FILES_PATH = "/analysis-files/{token}"


def _link(
    context: AppContext,
    request: Request,
    artifact: AnalysisArtifact,
    *,
    method: Literal["GET", "PUT"],
    expires_in: timedelta,
) -> str:
    store = context.storage.artifacts
    url = store.presign(artifact.storage_path, method=method, expires_in=expires_in)
    if url is not None:
        return url
    settings = context.settings
    token = transfer_token(
        secret=settings.secret_key.get_secret_value(),
        key=artifact.storage_path,
        method=method,
        expires_in=expires_in,
        max_bytes=settings.ml_max_artifact_bytes if method == "PUT" else None,
        content_type=artifact.content_type,
    )
    return str(request.url_for("artifact_file_get", token=token))


def _transfer(context: AppContext, token: str, method: Literal["GET", "PUT"]) -> Transfer:
    try:
        return read_transfer_token(
            token, secret=context.settings.secret_key.get_secret_value(), method=method
        )
    except InvalidTransfer as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc


@router.put(FILES_PATH, name="artifact_file_put", include_in_schema=False)
async def put_artifact_file(token: str, request: Request, context: ContextDep) -> Response:
    """Receive an artifact through a signed link, streaming it to storage within its size limit."""
    grant = _transfer(context, token, "PUT")
    limit = grant.max_bytes or context.settings.ml_max_artifact_bytes
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"artifact is over the limit of {limit} bytes"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    with tempfile.TemporaryFile(prefix="labelbay-artifact-") as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large
            spool.write(chunk)
        spool.seek(0)
        await run_in_threadpool(
            context.storage.artifacts.put, grant.key, spool, content_type=grant.content_type
        )
    return Response(status_code=status.HTTP_200_OK)


@router.get(FILES_PATH, name="artifact_file_get", include_in_schema=False)
def get_artifact_file(token: str, context: ContextDep) -> StreamingResponse:
    """Send an artifact through a signed link."""
    grant = _transfer(context, token, "GET")
    try:
        chunks = context.storage.artifacts.iter_chunks(grant.key)
    except ObjectNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "artifact not uploaded") from exc
    return StreamingResponse(chunks, media_type=grant.content_type or "application/octet-stream")
