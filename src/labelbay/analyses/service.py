"""Analyses as plain functions: create, move forward, presign artifacts, add annotations, finalise.

The caller owns the transaction. Pipeline calls (HMAC-signed) reach an analysis by id alone; user
calls go through `get_analysis_for`, which applies the image's project roles.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelbay.analyses import artifacts as artifact_rules
from labelbay.analyses.annotations import AnnotationInput, Frame, check_annotation
from labelbay.db.models import (
    Analysis,
    AnalysisAnnotation,
    AnalysisArtifact,
    AnalysisStatus,
    Image,
    Role,
    User,
)
from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.services.images import get_image
from labelbay.storage import ObjectNotFound, ObjectStore

# Status only moves forward; anything else is a 409.
NEXT_STATUS: dict[AnalysisStatus, frozenset[AnalysisStatus]] = {
    AnalysisStatus.queued: frozenset({AnalysisStatus.processing, AnalysisStatus.failed}),
    AnalysisStatus.processing: frozenset({AnalysisStatus.completed, AnalysisStatus.failed}),
    AnalysisStatus.completed: frozenset(),
    AnalysisStatus.failed: frozenset(),
}
FINAL = frozenset({AnalysisStatus.completed, AnalysisStatus.failed})


def check_model(model_name: str, *, allowed: Sequence[str]) -> None:
    if model_name not in allowed:
        shown = ", ".join(allowed) if allowed else "none are configured"
        raise Invalid(
            f"model {model_name!r} is not allowed here (ML_ALLOWED_MODELS); allowed: {shown}"
        )


def create_analysis(
    session: Session,
    *,
    image: Image,
    model_name: str,
    model_version: str,
    parameters: Mapping[str, Any],
    allowed_models: Sequence[str],
    created_by: User | None,
) -> Analysis:
    check_model(model_name, allowed=allowed_models)
    analysis = Analysis(
        image_id=image.id,
        model_name=model_name,
        model_version=model_version,
        parameters=dict(parameters),
        status=AnalysisStatus.queued.value,
        created_by_id=created_by.id if created_by else None,
    )
    analysis.image = image
    session.add(analysis)
    session.flush()
    return analysis


def get_analysis(session: Session, *, analysis_id: uuid.UUID) -> Analysis:
    """The analysis, for a signed pipeline call (no user, no roles)."""
    analysis = session.get(Analysis, analysis_id)
    if analysis is None:
        raise NotFound(f"analysis {analysis_id} not found")
    return analysis


def get_analysis_for(
    session: Session, *, user: User, analysis_id: uuid.UUID, min_role: Role
) -> Analysis:
    """The analysis, if the user's role in its image's project is at least `min_role`."""
    analysis = session.get(Analysis, analysis_id)
    if analysis is None:
        raise NotFound(f"analysis {analysis_id} not found")
    try:
        get_image(session, user=user, image_id=analysis.image_id, min_role=min_role)
    except NotFound as exc:
        raise NotFound(f"analysis {analysis_id} not found") from exc
    return analysis


def list_analyses(session: Session, *, image_id: uuid.UUID) -> list[Analysis]:
    stmt = select(Analysis).where(Analysis.image_id == image_id).order_by(Analysis.id)
    return list(session.scalars(stmt))


def annotation_counts(
    session: Session, *, analysis_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not analysis_ids:
        return {}
    stmt = (
        select(AnalysisAnnotation.analysis_id, func.count())
        .where(AnalysisAnnotation.analysis_id.in_(analysis_ids))
        .group_by(AnalysisAnnotation.analysis_id)
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def _move(analysis: Analysis, target: AnalysisStatus, now: datetime) -> None:
    current = AnalysisStatus(analysis.status)
    if target not in NEXT_STATUS[current]:
        raise Conflict(
            f"analysis is {current.value}; it cannot move to {target.value} "
            "(status moves only forward: queued -> processing -> completed | failed)"
        )
    analysis.status = target.value
    if target == AnalysisStatus.processing:
        analysis.started_at = now
    if target in FINAL:
        analysis.finished_at = now


def set_status(session: Session, *, analysis: Analysis, status: AnalysisStatus) -> Analysis:
    """Move to `processing` (or straight to `failed`); completing goes through `finalize`."""
    if status == AnalysisStatus.completed:
        raise Invalid("complete an analysis with POST /api/analyses/{id}/finalize")
    _move(analysis, status, datetime.now(UTC))
    session.flush()
    return analysis


def _require_open(analysis: Analysis, action: str) -> None:
    if AnalysisStatus(analysis.status) in FINAL:
        raise Conflict(f"analysis is already {analysis.status}; cannot {action}")


def add_artifact(
    session: Session,
    *,
    analysis: Analysis,
    artifact_type: str,
    filename: str,
    max_filename_length: int,
) -> AnalysisArtifact:
    """Record an artifact about to be uploaded. Asking again for the same file name (a retry)
    gives the same artifact, so the pipeline gets a fresh URL for the same `storage_path`."""
    _require_open(analysis, "add artifacts")
    artifact_rules.check_artifact_type(artifact_type)
    content_type = artifact_rules.content_type_for(filename, max_length=max_filename_length)
    path = artifact_rules.storage_path(analysis.id, filename)
    for existing in analysis.artifacts:
        if existing.storage_path == path:
            if existing.artifact_type != artifact_type:
                raise Conflict(
                    f"{filename!r} is already an artifact of type {existing.artifact_type}"
                )
            existing.verified_at = None
            return existing
    artifact = AnalysisArtifact(
        analysis_id=analysis.id,
        artifact_type=artifact_type,
        filename=filename,
        storage_path=path,
        content_type=content_type,
    )
    analysis.artifacts.append(artifact)
    session.flush()
    return artifact


def add_annotations(
    session: Session, *, analysis: Analysis, items: Sequence[AnnotationInput]
) -> list[AnalysisAnnotation]:
    """Check every item against the image, then store them all (or none)."""
    if AnalysisStatus(analysis.status) != AnalysisStatus.processing:
        raise Conflict(
            f"analysis is {analysis.status}; annotations are accepted only while it is processing"
        )
    image = analysis.image
    frame = Frame(width=image.width, height=image.height)
    paths = {artifact.storage_path for artifact in analysis.artifacts}
    checked = [
        check_annotation(item, index=index, frame=frame, artifact_paths=paths)
        for index, item in enumerate(items)
    ]
    rows = [
        AnalysisAnnotation(
            analysis_id=analysis.id,
            annotation_type=item.annotation_type,
            class_name=item.class_name,
            confidence=item.confidence,
            data=dict(item.data),
            label=None if label is None else label.to_json(),
            storage_path=item.storage_path,
        )
        for item, label in zip(items, checked, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def finalize(
    session: Session,
    *,
    analysis: Analysis,
    status: AnalysisStatus,
    error: str | None,
    store: ObjectStore,
    max_artifact_bytes: int,
) -> Analysis:
    """Complete (every artifact uploaded, within the size limit, of the promised type) or fail."""
    if status not in FINAL:
        raise Invalid("finalize takes status 'completed' or 'failed'")
    now = datetime.now(UTC)
    current = AnalysisStatus(analysis.status)
    if status not in NEXT_STATUS[current]:
        _move(analysis, status, now)  # raises the 409
    if status == AnalysisStatus.completed:
        for artifact in analysis.artifacts:
            _verify_artifact(artifact, store=store, max_bytes=max_artifact_bytes, now=now)
        analysis.error = None
    else:
        analysis.error = (error or "the pipeline reported a failure")[:10_000]
    _move(analysis, status, now)
    session.flush()
    return analysis


def _verify_artifact(
    artifact: AnalysisArtifact, *, store: ObjectStore, max_bytes: int, now: datetime
) -> None:
    name = artifact.filename
    try:
        info = store.head(artifact.storage_path)
        if info.size > max_bytes:
            raise Invalid(
                f"artifact {name!r} is {info.size} bytes, over the limit of {max_bytes} bytes"
            )
        chunks = store.iter_chunks(artifact.storage_path, chunk_size=artifact_rules.SNIFF_BYTES)
        try:
            head = next(chunks, b"")[: artifact_rules.SNIFF_BYTES]
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stop the download: the first bytes are all we look at
    except ObjectNotFound as exc:
        raise Invalid(
            f"artifact {name!r} was presigned but never uploaded to {artifact.storage_path}"
        ) from exc
    sniffed = artifact_rules.sniffed_type(head)
    if not artifact_rules.matches(artifact.content_type, sniffed):
        raise Invalid(
            f"artifact {name!r} should be {artifact.content_type} but its content is "
            f"{sniffed or 'not a known type'}"
        )
    artifact.size_bytes = info.size
    artifact.verified_at = now
