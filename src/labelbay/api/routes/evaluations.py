"""Model evaluations: run one over a selection of a project's images, read its report and its
per-image outcomes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.params import ImageSelection
from labelbay.api.schemas import (
    EvaluationCreate,
    EvaluationImageDetail,
    EvaluationImageOut,
    EvaluationImagePage,
    EvaluationOut,
    JudgedPrediction,
    MissedTruth,
)
from labelbay.db.models import Evaluation, Role
from labelbay.errors import NotFound
from labelbay.jobs.start import start_evaluation
from labelbay.services import evaluations as service
from labelbay.services.images import decode_cursor, encode_cursor
from labelbay.services.models import get_version
from labelbay.services.projects import require_project

router = APIRouter(prefix="/api/v1", tags=["evaluations"])


def evaluation_out(row: Evaluation) -> EvaluationOut:
    gt = row.gt_model_version
    return EvaluationOut.model_validate(
        {
            **{c: getattr(row, c) for c in EvaluationOut.model_fields if hasattr(row, c)},
            "model": row.model_version.name,
            "model_version": row.model_version.version,
            "gt_model": gt.name if gt is not None else None,
            "gt_model_version": gt.version if gt is not None else None,
        }
    )


@router.post("/projects/{project_id}/evaluations", status_code=status.HTTP_202_ACCEPTED)
def create_evaluation(
    project_id: int,
    body: EvaluationCreate,
    image_filter: ImageSelection,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
) -> EvaluationOut:
    """Judge a model version's labels against ground truth (annotator and up), over the images
    the image list's filters select (`filename`, `metadata.<key>=<value>`, `review_status`,
    `has_predictions`, `label`) that the model has labels for. Runs as a job on the workers:
    answers at once with the evaluation queued (or already running); `GET …/evaluations/{id}`
    shows its `phase` and `progress`, then the report (`completed`) or the reason (`failed`).
    Per-image outcomes are at `…/evaluations/{id}/images`."""
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.annotator)
    model = get_version(session, name=body.model, version=body.model_version)
    gt_model = (
        get_version(session, name=body.gt_model, version=body.gt_model_version)
        if body.gt_model
        else None
    )
    row = start_evaluation(
        session,
        executor=context.executor,
        project=project,
        user=user,
        model=model,
        ground_truth=body.ground_truth,
        gt_model=gt_model,
        selection=image_filter,
        iou_threshold=body.iou_threshold,
        iou_type=body.iou_type,
        score_threshold=body.score_threshold,
    )
    return evaluation_out(row)


@router.get("/projects/{project_id}/evaluations")
def list_evaluations(
    project_id: int, user: CurrentUser, session: SessionDep
) -> list[EvaluationOut]:
    """The project's evaluations, newest first (the last 100)."""
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    return [evaluation_out(row) for row in service.list_evaluations(session, project_id=project_id)]


def _visible(
    session: SessionDep, user: CurrentUser, project_id: int, evaluation_id: int
) -> Evaluation:
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    row = service.get_evaluation(session, evaluation_id=evaluation_id)
    if row.project_id != project_id:
        raise NotFound(f"evaluation {evaluation_id} not found")
    return row


@router.get("/projects/{project_id}/evaluations/{evaluation_id}")
def get_evaluation(
    project_id: int, evaluation_id: int, user: CurrentUser, session: SessionDep
) -> EvaluationOut:
    """An evaluation and its report (viewer and up)."""
    return evaluation_out(_visible(session, user, project_id, evaluation_id))


@router.get("/projects/{project_id}/evaluations/{evaluation_id}/images")
def evaluation_images(
    project_id: int,
    evaluation_id: int,
    user: CurrentUser,
    session: SessionDep,
    outcome: service.Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> EvaluationImagePage:
    """Per-image TP/FP/FN of an evaluation, in upload order; `outcome=fn` keeps images where
    the model missed something, `fp` those where it saw something that is not there, `tp`
    those where it found something. The image list takes the same filter
    (`?evaluation={id}&outcome=fn`), with the images themselves."""
    row = _visible(session, user, project_id, evaluation_id)
    after: uuid.UUID | None = decode_cursor(cursor) if cursor else None
    rows = service.evaluation_images(
        session, evaluation_id=row.id, outcome=outcome, limit=limit, after=after
    )
    next_cursor = encode_cursor(rows[-1].image_id) if len(rows) == limit else None
    return EvaluationImagePage(
        images=[EvaluationImageOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/projects/{project_id}/evaluations/{evaluation_id}/images/{image_id}")
def evaluation_image(
    project_id: int,
    evaluation_id: int,
    image_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
) -> EvaluationImageDetail:
    """One image's outcome with its labels, for the image view: each of the model's labels
    with `tp`, `fp` or none (not counted: below the score threshold), and each ground-truth
    label no prediction found. Labels are read as they are now."""
    row = _visible(session, user, project_id, evaluation_id)
    found = service.image_outcome(session, evaluation=row, image_id=image_id)
    return EvaluationImageDetail(
        image_id=image_id,
        tp=found.row.tp,
        fp=found.row.fp,
        fn=found.row.fn,
        predictions=[
            JudgedPrediction(index=i, outcome=outcome, label=label)
            for i, outcome, label in found.predictions
        ],
        missed=[MissedTruth(ref=ref, label=label) for ref, label in found.missed],
    )
