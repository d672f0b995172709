"""Query-string conventions shared by list endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from starlette.datastructures import QueryParams

from labelbay.errors import Invalid
from labelbay.services.images import ImageFilter

META_PREFIX = "metadata."


def metadata_filters(params: QueryParams) -> dict[str, str]:
    """`?metadata.camera=north&metadata.day=3` → `{"camera": "north", "day": "3"}`."""
    filters: dict[str, str] = {}
    for key, value in params.multi_items():
        if key.startswith(META_PREFIX):
            name = key.removeprefix(META_PREFIX)
            if name in filters:
                raise Invalid(f"metadata filter {name!r} given twice")
            filters[name] = value
    return filters


def image_selection(
    request: Request,
    filename: Annotated[
        str | None, Query(max_length=255, description="File name contains (case-insensitive)")
    ] = None,
    review_status: Annotated[Literal["reviewed", "unreviewed"] | None, Query()] = None,
    has_predictions: bool | None = None,
    label: Annotated[
        str | None, Query(max_length=200, description="Has an annotation with this label")
    ] = None,
    model_version_id: Annotated[
        int | None, Query(description="Has a prediction from this model version")
    ] = None,
    evaluation: Annotated[
        int | None, Query(description="Judged by this evaluation (of the same project)")
    ] = None,
    outcome: Annotated[
        Literal["tp", "fp", "fn"] | None,
        Query(
            description="With `evaluation`: has a true positive, a false positive, or missed "
            "ground truth (`fn`); with `class`, of that class (by the confusion matrix)"
        ),
    ] = None,
    eval_class: Annotated[
        str | None,
        Query(
            alias="class",
            max_length=200,
            description="With `evaluation`: the class is in the image's ground truth or predictions",
        ),
    ] = None,
    gt_class: Annotated[
        str | None,
        Query(
            max_length=200,
            description="With `evaluation`: boxes in this row of the confusion matrix "
            "(`background`: predictions on nothing)",
        ),
    ] = None,
    pred_class: Annotated[
        str | None,
        Query(
            max_length=200,
            description="With `evaluation`: boxes in this column of the confusion matrix "
            "(`background`: missed ground truth)",
        ),
    ] = None,
) -> ImageFilter:
    """The image-selection filters every image list and export accepts, plus
    `metadata.<key>=<value>` pairs."""
    return ImageFilter(
        filename=filename,
        meta=metadata_filters(request.query_params),
        review_status=review_status,
        has_predictions=has_predictions,
        label=label,
        model_version_id=model_version_id,
        evaluation=evaluation,
        outcome=outcome,
        eval_class=eval_class,
        gt_class=gt_class,
        pred_class=pred_class,
    )


ImageSelection = Annotated[ImageFilter, Depends(image_selection)]
