"""Evaluation runs: a model version's labels against ground truth, stored with per-image outcomes.

Steps, so that a queue can run the work (`jobs.evaluate`): `create_evaluation` validates the
request and adds the row (status "queued"); `compute_evaluation` reads the labels page by page
(`evaluation_data`) and evaluates them (`labelbay.evaluation`), reporting its phase and progress;
`store_evaluation` stores the report, one `evaluation_images` row per image judged and the
image's cells of the confusion matrix (`evaluation_cells`). `run_evaluation` does it all at once
in the caller's transaction (the benchmark, tests).

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
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from labelbay.db.base import Base, utcnow
from labelbay.db.models import (
    Annotation,
    Evaluation,
    EvaluationCell,
    EvaluationImage,
    Image,
    ModelVersion,
    Prediction,
    Project,
    User,
)
from labelbay.errors import Invalid, NotFound
from labelbay.evaluation import evaluate_classification, evaluate_detections
from labelbay.evaluation.boxes import Int32s
from labelbay.evaluation.cocofile import IouType
from labelbay.evaluation.detection import DetectionReport
from labelbay.labels import Label
from labelbay.services.annotations import label_of
from labelbay.services.evaluation_data import Classes, Collected, GroundTruth, ImageIds, collect
from labelbay.services.images import ImageFilter, image_conditions
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


Progress = Callable[[str, float], None]
"""Hears the phase ("reading", "matching", "storing") and the fraction of the run done."""
READ_SHARE, MATCH_SHARE = 0.8, 0.9  # the fraction done when reading, then matching, ends


@dataclass
class Computed:
    """An evaluation's results, ready to store: the report, one row per image and its cells."""

    metrics: dict[str, Any]
    images: int
    rows: Iterator[dict[str, Any]]
    cells: Iterator[dict[str, Any]]


def compute_evaluation(
    session: Session, *, evaluation: Evaluation, progress: Progress | None = None
) -> Computed:
    """Read the labels and evaluate them; writes nothing, so the caller may end its read
    transaction before storing (a long read and a write in one SQLite transaction conflict with
    the progress written beside it)."""
    model = evaluation.model_version
    classes = Classes(label_names(session, project_id=evaluation.project_id, model=model))
    selection = ImageFilter(**evaluation.selection)
    total = candidate_count(session, evaluation=evaluation, selection=selection)

    def read(done: int) -> None:
        if progress is not None:
            progress("reading", READ_SHARE * min(1.0, done / total) if total else READ_SHARE)

    data = collect(
        session,
        project_id=evaluation.project_id,
        model_version_id=evaluation.model_version_id,
        ground_truth=cast(GroundTruth, evaluation.ground_truth),
        gt_model_version_id=evaluation.gt_model_version_id,
        selection=selection,
        classes=classes,
        classify=evaluation.kind == "classification",
        masks=evaluation.kind == "segmentation",
        progress=read,
    )
    if progress is not None:
        progress("matching", READ_SHARE)
    if evaluation.kind == "classification":
        metrics = evaluate_classification(data.truth, data.ranked, classes=classes.names)
        return Computed(
            metrics=metrics,
            images=len(data.image_ids),
            rows=_classification_rows(evaluation.id, data),
            cells=_classification_cells(evaluation.id, data, n_classes=len(classes.names)),
        )
    report = evaluate_detections(
        data.gt,
        data.dt,
        classes=classes.names,
        n_images=len(data.image_ids),
        iou_threshold=evaluation.iou_threshold,
        score_threshold=evaluation.score_threshold,
    )
    iou_type = "segm" if evaluation.kind == "segmentation" else "bbox"
    return Computed(
        metrics=report.to_json() | {"iou_type": iou_type},
        images=len(data.image_ids),
        rows=_detection_rows(evaluation.id, data, report),
        cells=_cells(evaluation.id, data.image_ids, report.image_cells),
    )


def store_evaluation(
    session: Session,
    *,
    evaluation: Evaluation,
    computed: Computed,
    progress: Progress | None = None,
) -> Evaluation:
    """Replace the evaluation's per-image rows with `computed`'s and mark it completed (a run
    that is repeated after a crash stores the same rows once)."""
    if progress is not None:
        progress("storing", MATCH_SHARE)
    session.execute(delete(EvaluationImage).where(EvaluationImage.evaluation_id == evaluation.id))
    session.execute(delete(EvaluationCell).where(EvaluationCell.evaluation_id == evaluation.id))
    _insert_rows(session, EvaluationImage, computed.rows)
    _insert_rows(session, EvaluationCell, computed.cells)
    evaluation.metrics = computed.metrics
    evaluation.images = computed.images
    evaluation.status = "completed"
    evaluation.phase = None
    evaluation.progress = 1.0
    evaluation.error = None
    evaluation.finished_at = utcnow()
    session.flush()
    return evaluation


def execute_evaluation(
    session: Session, *, evaluation: Evaluation, progress: Progress | None = None
) -> Evaluation:
    """Read, evaluate and store in the caller's transaction (the job runs the steps apart)."""
    evaluation.status = "running"
    computed = compute_evaluation(session, evaluation=evaluation, progress=progress)
    return store_evaluation(session, evaluation=evaluation, computed=computed, progress=progress)


def candidate_count(session: Session, *, evaluation: Evaluation, selection: ImageFilter) -> int:
    """Selected images the model has a prediction row for: what the reading phase walks."""
    judged = exists().where(
        Prediction.image_id == Image.id,
        Prediction.model_version_id == evaluation.model_version_id,
    )
    conditions = image_conditions(session, evaluation.project_id, selection)
    return int(session.scalar(select(func.count(Image.id)).where(*conditions, judged)) or 0)


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
    progress: Progress | None = None,
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


def _cells(
    evaluation_id: int, image_ids: ImageIds, cells: list[Int32s]
) -> Iterator[dict[str, Any]]:
    """Rows of `evaluation_cells` from parts of (image index, ground truth, prediction, count)
    rows, which come sorted by image."""
    ids = iter(image_ids)
    current, image_id = -1, None
    for part in cells:
        for start in range(0, len(part), INSERT_CHUNK):  # as Python ints a few rows at a time
            for image, gt_class, pred_class, count in part[start : start + INSERT_CHUNK].tolist():
                while current < image:
                    image_id, current = next(ids), current + 1
                yield {
                    "evaluation_id": evaluation_id,
                    "image_id": image_id,
                    "gt_class": gt_class,
                    "pred_class": pred_class,
                    "count": count,
                }


def _classification_cells(
    evaluation_id: int, data: Collected, *, n_classes: int
) -> Iterator[dict[str, Any]]:
    """One cell per image: its true class and the model's first (n_classes when none)."""
    for image_id, true_class, ranked in zip(
        data.image_ids, data.truth.tolist(), data.ranked.tolist(), strict=True
    ):
        first = ranked[0] if 0 <= ranked[0] < n_classes else n_classes
        yield {
            "evaluation_id": evaluation_id,
            "image_id": image_id,
            "gt_class": true_class,
            "pred_class": first,
            "count": 1,
        }


def _insert_rows(session: Session, table: type[Base], rows: Iterator[dict[str, Any]]) -> None:
    """Insert many rows: PostgreSQL's COPY (several times faster than INSERTs for the hundreds
    of thousands of rows of a large evaluation), elsewhere INSERTs in chunks."""
    if session.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(rows):
            session.execute(insert(table), chunk)
        return
    columns = [c.name for c in table.__table__.columns if c.computed is None]
    json_columns = {c.name for c in table.__table__.columns if isinstance(c.type, JSON)}
    raw = session.connection().connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor().copy(f'COPY "{table.__tablename__}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])


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


Outcome = Literal["tp", "fp", "fn"]


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
        stmt = stmt.where(getattr(EvaluationImage, outcome) > 0)
    if after is not None:
        stmt = stmt.where(EvaluationImage.image_id > after)
    return list(session.scalars(stmt.order_by(EvaluationImage.image_id).limit(limit)))


@dataclass
class ImageOutcome:
    """One image of an evaluation with its labels: each prediction's outcome (None: not
    counted) and the missed ground truth. Labels are read as they are now; one edited or
    deleted since the evaluation shows as it is, or not at all."""

    row: EvaluationImage
    predictions: list[tuple[int, str | None, Label]]
    missed: list[tuple[int, Label]]


def image_outcome(session: Session, *, evaluation: Evaluation, image_id: uuid.UUID) -> ImageOutcome:
    row = session.get(EvaluationImage, (evaluation.id, image_id))
    if row is None:
        raise NotFound(f"image {image_id} is not in evaluation {evaluation.id}")
    judged: dict[str, str] = row.outcomes.get("predictions", {})
    refs: list[int] = row.outcomes.get("missed", [])
    predicted = _prediction_labels(session, image_id, evaluation.model_version_id)
    predictions = [(i, judged.get(str(i)), label) for i, label in enumerate(predicted)]
    if evaluation.gt_model_version_id is not None:
        truth = _prediction_labels(session, image_id, evaluation.gt_model_version_id)
        missed = [(ref, truth[ref]) for ref in refs if ref < len(truth)]
    else:
        rows = session.scalars(
            select(Annotation).where(Annotation.id.in_(refs), Annotation.image_id == image_id)
        )
        by_id = {annotation.id: label_of(annotation) for annotation in rows}
        missed = [(ref, by_id[ref]) for ref in refs if ref in by_id]
    return ImageOutcome(row=row, predictions=predictions, missed=missed)


def _prediction_labels(session: Session, image_id: uuid.UUID, model_version_id: int) -> list[Label]:
    detections = session.scalar(
        select(Prediction.detections).where(
            Prediction.image_id == image_id, Prediction.model_version_id == model_version_id
        )
    )
    return [Label.model_validate(d) for d in detections or []]
