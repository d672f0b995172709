"""Evaluation runs: a model version's labels against ground truth, stored with per-image outcomes.

Two steps, so that a queue can run the second: `create_evaluation` validates the request and adds
the row (status "queued"); `execute_evaluation` reads the labels page by page
(`evaluation_data`), evaluates them (`labelbay.evaluation`), and stores the report and one
`evaluation_images` row per image judged. `run_evaluation` does both, in the caller's transaction.

Ground truth is people's annotations of reviewed images ("reviewed", the default), of every
selected image ("annotations"), or another model version's labels less those a reviewer rejected
("model"). Only images the model under evaluation has a prediction row for are judged.

`iou_type="segm"` (kind "segmentation") matches regions by mask IoU as COCOeval's segm does:
masks as they are, every other label with an outline rasterised (`Label.mask_in`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from labelbay.db.base import utcnow
from labelbay.db.models import Evaluation, EvaluationImage, ModelVersion, Project, User
from labelbay.errors import Invalid, NotFound
from labelbay.evaluation import evaluate_classification, evaluate_detections
from labelbay.evaluation.cocofile import IouType
from labelbay.evaluation.detection import DetectionReport
from labelbay.services.evaluation_data import Classes, Collected, GroundTruth, collect
from labelbay.services.images import ImageFilter
from labelbay.services.projects import label_names

INSERT_CHUNK = 2000


def create_evaluation(
    session: Session,
    *,
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
    selection = selection or ImageFilter()
    if ground_truth == "model":
        if gt_model is None:
            raise Invalid("ground_truth=model needs gt_model, the model version to compare with")
        if gt_model.id == model.id:
            raise Invalid("a model version compared with itself tells nothing")
    elif gt_model is not None:
        raise Invalid("gt_model is only for ground_truth=model")
    if ground_truth == "reviewed":
        if selection.review_status == "unreviewed":
            raise Invalid("ground truth from reviewed images cannot select unreviewed images")
        selection = dataclasses.replace(selection, review_status="reviewed")
    if not 0 < iou_threshold <= 1:
        raise Invalid("iou_threshold must be in (0, 1]")
    row = Evaluation(
        project_id=project.id,
        model_version_id=model.id,
        ground_truth=ground_truth,
        gt_model_version_id=gt_model.id if gt_model is not None else None,
        selection=_selection_json(selection),
        iou_threshold=iou_threshold,
        score_threshold=model.confidence_threshold if score_threshold is None else score_threshold,
        status="queued",
        kind="classification"
        if model.task == "classify"
        else "segmentation"
        if iou_type == "segm"
        else "detection",
        images=0,
        metrics={},
        created_by_id=user.id if user is not None else None,
    )
    session.add(row)
    session.flush()
    return row


def execute_evaluation(
    session: Session, *, evaluation: Evaluation, progress: Callable[[int], None] | None = None
) -> Evaluation:
    """Read, evaluate and store. `progress` hears the number of images read so far."""
    evaluation.status = "running"
    model = evaluation.model_version
    classes = Classes(label_names(session, project_id=evaluation.project_id, model=model))
    data = collect(
        session,
        project_id=evaluation.project_id,
        model_version_id=evaluation.model_version_id,
        ground_truth=cast(GroundTruth, evaluation.ground_truth),
        gt_model_version_id=evaluation.gt_model_version_id,
        selection=ImageFilter(**evaluation.selection),
        classes=classes,
        classify=evaluation.kind == "classification",
        masks=evaluation.kind == "segmentation",
        progress=progress,
    )
    if evaluation.kind == "classification":
        metrics = evaluate_classification(data.truth, data.ranked, classes=classes.names)
        rows = _classification_rows(evaluation.id, data)
    else:
        report = evaluate_detections(
            data.gt,
            data.dt,
            classes=classes.names,
            n_images=len(data.image_ids),
            iou_threshold=evaluation.iou_threshold,
            score_threshold=evaluation.score_threshold,
        )
        metrics = report.to_json() | {
            "iou_type": "segm" if evaluation.kind == "segmentation" else "bbox"
        }
        rows = _detection_rows(evaluation.id, data, report)
    for chunk in _chunks(rows):
        session.execute(insert(EvaluationImage), chunk)
    evaluation.metrics = metrics
    evaluation.images = len(data.image_ids)
    evaluation.status = "completed"
    evaluation.finished_at = utcnow()
    session.flush()
    return evaluation


def run_evaluation(
    session: Session,
    *,
    project: Project,
    user: User | None,
    model: ModelVersion,
    ground_truth: GroundTruth = "reviewed",
    gt_model: ModelVersion | None = None,
    selection: ImageFilter | None = None,
    iou_threshold: float = 0.5,
    score_threshold: float | None = None,
    iou_type: IouType = "bbox",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """`create_evaluation` then `execute_evaluation`, here and now (the caller commits)."""
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
    return execute_evaluation(session, evaluation=evaluation, progress=progress)


def _detection_rows(
    evaluation_id: int, data: Collected, report: DetectionReport
) -> Iterator[dict[str, Any]]:
    """One row per image: counts, each counted prediction's outcome, the missed ground truth.
    Boxes are in image order, so each image's are one slice."""
    n = len(data.image_ids)
    dt_bounds = np.searchsorted(data.dt.image, np.arange(n + 1))
    gt_bounds = np.searchsorted(data.gt.image, np.arange(n + 1))
    status = report.dt_status
    for i, image_id in enumerate(data.image_ids):
        d = slice(dt_bounds[i], dt_bounds[i + 1])
        g = slice(gt_bounds[i], gt_bounds[i + 1])
        outcomes: dict[str, Any] = {}
        judged = status[d] >= 0
        if judged.any():
            outcomes["predictions"] = {
                str(index): "tp" if hit else "fp"
                for index, hit in zip(
                    data.dt_index[d][judged].tolist(),
                    (status[d][judged] == 1).tolist(),
                    strict=True,
                )
            }
        missed = data.gt_ref[g][report.gt_missed[g]]
        if len(missed):
            outcomes["missed"] = missed.tolist()
        yield {
            "evaluation_id": evaluation_id,
            "image_id": image_id,
            "tp": int(report.image_tp[i]),
            "fp": int(report.image_fp[i]),
            "fn": int(report.image_fn[i]),
            "outcomes": outcomes,
        }


def _classification_rows(evaluation_id: int, data: Collected) -> Iterator[dict[str, Any]]:
    for image_id, true_class, ranked in zip(
        data.image_ids, data.truth.tolist(), data.ranked.tolist(), strict=True
    ):
        hit = ranked[0] == true_class
        given = ranked[0] >= 0
        yield {
            "evaluation_id": evaluation_id,
            "image_id": image_id,
            "tp": int(hit),
            "fp": int(given and not hit),
            "fn": int(not hit),
            "outcomes": {"predictions": {"0": "tp" if hit else "fp"}} if given else {},
        }


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == INSERT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _selection_json(selection: ImageFilter) -> dict[str, Any]:
    data = dataclasses.asdict(selection)
    data["meta"] = dict(selection.meta) if selection.meta else None
    return data


def get_evaluation(session: Session, *, evaluation_id: int) -> Evaluation:
    row = session.get(Evaluation, evaluation_id)
    if row is None:
        raise NotFound(f"evaluation {evaluation_id} not found")
    return row


def list_evaluations(session: Session, *, project_id: int, limit: int = 100) -> list[Evaluation]:
    stmt = (
        select(Evaluation)
        .where(Evaluation.project_id == project_id)
        .order_by(Evaluation.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


Outcome = Literal["missed", "false_positives", "true_positives"]
_OUTCOME_COLUMN = {"missed": "fn", "false_positives": "fp", "true_positives": "tp"}


def evaluation_images(
    session: Session,
    *,
    evaluation_id: int,
    outcome: Outcome | None,
    limit: int,
    after: uuid.UUID | None,
) -> list[EvaluationImage]:
    """Images of an evaluation in upload order, those with at least one of `outcome` if given."""
    stmt = select(EvaluationImage).where(EvaluationImage.evaluation_id == evaluation_id)
    if outcome is not None:
        stmt = stmt.where(getattr(EvaluationImage, _OUTCOME_COLUMN[outcome]) > 0)
    if after is not None:
        stmt = stmt.where(EvaluationImage.image_id > after)
    return list(session.scalars(stmt.order_by(EvaluationImage.image_id).limit(limit)))
