"""Filters of the image list beyond its own columns: the free-form `metadata` JSON column (the
same on SQLite and PostgreSQL), and an evaluation's stored per-image outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import Session

from labelbay.db.models import Evaluation, EvaluationCell, EvaluationImage, Image
from labelbay.errors import Invalid, NotFound

MAX_FILTERS = 10


def metadata_conditions(
    column: Any, filters: Mapping[str, str], *, dialect: str
) -> list[ColumnElement[bool]]:
    """One condition per `key=value`; the value matches a JSON string, number or boolean alike.

    PostgreSQL's `->>` renders every scalar as text, so comparing text is enough there (and a cast
    would fail on non-numeric values). SQLite's json_extract keeps numbers and booleans native, so
    there a numeric-looking value is compared both ways.
    """
    if len(filters) > MAX_FILTERS:
        raise Invalid(f"at most {MAX_FILTERS} metadata filters")
    conditions: list[ColumnElement[bool]] = []
    for key, value in filters.items():
        if not key or len(key) > 100:
            raise Invalid(f"bad metadata key {key!r}")
        element = column[key]
        options: list[ColumnElement[bool]] = [element.as_string() == value]
        if dialect == "sqlite":
            if _is_number(value):
                options.append(element.as_float() == float(value))
            if value in {"true", "false"}:
                options.append(element.as_boolean() == (value == "true"))
        conditions.append(or_(*options))
    return conditions


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def evaluation_conditions(
    session: Session,
    project_id: int,
    *,
    evaluation_id: int | None,
    outcome: str | None = None,
    eval_class: str | None = None,
    gt_class: str | None = None,
    pred_class: str | None = None,
) -> list[ColumnElement[bool]]:
    """Images judged by the evaluation, narrowed by what happened there:
    - `outcome` alone (`tp`, `fp`, `fn`): at least one of it in the image's counts;
    - `eval_class` alone: the class is in the image's ground truth or predictions; with
      `outcome`, by the confusion matrix: `tp` found as itself, `fn` taken for another class or
      missed (background), `fp` predicted where another class or nothing was;
    - `gt_class` and/or `pred_class`: the image has boxes in that cell of the confusion matrix
      (a row or a column when only one is given); `background` names the last row and column.
    """
    if evaluation_id is None:
        if outcome or eval_class or gt_class or pred_class:
            raise Invalid("outcome, class, gt_class and pred_class need evaluation=<id>")
        return []
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None or evaluation.project_id != project_id:
        raise NotFound(f"evaluation {evaluation_id} not found")
    if (gt_class or pred_class) and (outcome or eval_class):
        raise Invalid(
            "a confusion cell (gt_class, pred_class) cannot be combined with outcome or class"
        )
    if not (eval_class or gt_class or pred_class):
        judged = [
            EvaluationImage.evaluation_id == evaluation_id,
            EvaluationImage.image_id == Image.id,
        ]
        if outcome:
            judged.append(getattr(EvaluationImage, outcome) > 0)
        return [exists().where(*judged)]
    rows, columns = _confusion_labels(evaluation)
    cell: list[ColumnElement[bool]] = []
    if eval_class:
        c = _class_index(rows, eval_class)
        gt, pred = EvaluationCell.gt_class, EvaluationCell.pred_class
        cell.append(
            {
                None: or_(gt == c, pred == c),
                "tp": and_(gt == c, pred == c),
                "fn": and_(gt == c, pred != c),
                "fp": and_(pred == c, gt != c),
            }[outcome]
        )
    if gt_class:
        cell.append(EvaluationCell.gt_class == _class_index(rows, gt_class))
    if pred_class:
        cell.append(EvaluationCell.pred_class == _class_index(columns, pred_class))
    return [
        exists().where(
            EvaluationCell.evaluation_id == evaluation_id,
            EvaluationCell.image_id == Image.id,
            *cell,
        )
    ]


def _confusion_labels(evaluation: Evaluation) -> tuple[list[str], list[str]]:
    """The names of the confusion matrix's rows and columns, background (or "none") last."""
    if evaluation.status != "completed":
        raise Invalid(f"evaluation {evaluation.id} is {evaluation.status}, not completed")
    confusion = evaluation.metrics.get("confusion", {})
    labels: list[str] = list(confusion.get("labels", []))
    columns: list[str] = list(confusion.get("columns_labels", labels))
    if evaluation.kind == "classification":
        return [*labels, "background"], [*columns[:-1], "background"]
    return labels, columns


def _class_index(names: list[str], name: str) -> int:
    """A class's index; "background" (or "none") is the last."""
    if name in names:
        return names.index(name)
    if name == "none":
        return len(names) - 1
    raise Invalid(f"class {name!r} is not in the evaluation")
