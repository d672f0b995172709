"""The review queue and workflow: the next image under a lease, leases, the review history,
reviewers' figures, model disagreement, accepting or correcting predictions, and agreement."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from labelbay import labels
from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.params import ImageSelection
from labelbay.api.schemas import (
    AnnotationOut,
    ConsensusIn,
    CorrectionIn,
    DisagreementIn,
    DisagreementOut,
    ImageAgreement,
    ImageOut,
    LeaseOut,
    ProjectAgreement,
    ReviewEventOut,
    ReviewStats,
)
from labelbay.db.models import Role
from labelbay.services import agreement, review
from labelbay.services.images import get_image
from labelbay.services.projects import require_project

router = APIRouter(prefix="/api/v1", tags=["review"])

IoU = Annotated[float, Query(gt=0, le=1, description="Minimum IoU of matched boxes")]


def _lease(context: ContextDep) -> timedelta:
    return timedelta(seconds=context.settings.review_lease_seconds)


@router.get("/projects/{project_id}/review/next")
def next_image(
    project_id: int,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    selection: ImageSelection,
    strategy: review.Strategy = "unreviewed",
    state: review.State = "unreviewed",
    mode: review.Mode = "review",
    seed: Annotated[str, Query(max_length=100)] = "0",
    versus: Annotated[int | None, Query(description="The other model version")] = None,
) -> LeaseOut:
    """The next image that most needs a person, held for the caller by a lease (annotator and
    up); `image` is null when the queue is empty. Two reviewers never hold the same image: the
    claim is one SQL statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL). While the caller's lease
    lives, the same image comes back (renewed); a verdict (`POST /images/{id}/review`) or a
    release ends it, and an expired one returns the image to the queue.

    Order by `strategy` (ties last):
    - `unreviewed`: upload order;
    - `uncertain` (needs `model_version_id`): the prediction's uncertainty, highest first —
      1 minus the smallest margin among its labels, a detection's margin |2·score - 1|, a
      classification's top-1 minus top-2 score; then newest first;
    - `disagreement` (needs `model_version_id` and `versus`): 1 - F1 of the two versions'
      IoU-matched labels, highest first (computed by `POST …/review/disagreement`; 409 before);
    - `likely-errors`: false positives + missed labels in the project's latest completed
      evaluation (of `model_version_id` if given), most first, then newest first; images with
      none are left out; 409 without an evaluation;
    - `random`: the images ordered by md5 of their id (32 hex digits) as a ring, walked from md5
      of `seed` (the first at or after it, then round from the start) — the same seed, the same
      order.

    `state=rejected` draws from images rejected for a fix. `mode=annotate` hands out images
    that have fewer than the project's `annotators_per_image` distinct annotators and none of the
    caller's labels, so nobody gets the same image twice. The image list's filters narrow every
    queue."""
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.annotator)
    query = review.QueueQuery(
        strategy=strategy,
        state=state,
        mode=mode,
        seed=seed,
        model_version_id=selection.model_version_id,
        versus_id=versus,
        selection=selection,
    )
    image = review.next_image(
        session, project=project, user=user, query=query, lease=_lease(context)
    )
    return LeaseOut(
        image=None if image is None else ImageOut.of(image),
        lease_until=None if image is None else image.lease_until,
        strategy=strategy,
    )


@router.post("/images/{image_id}/lease")
def renew_lease(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep, context: ContextDep
) -> LeaseOut:
    """Extend the caller's lease on the image by the lease time (409 if they hold none)."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    review.renew_lease(session, image=image, user=user, lease=_lease(context))
    return LeaseOut(image=ImageOut.of(image), lease_until=image.lease_until, strategy=None)


@router.delete("/images/{image_id}/lease", status_code=status.HTTP_204_NO_CONTENT)
def release_lease(image_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Give the image back to the queue without a verdict (409 if the caller holds no lease)."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    review.release_lease(session, image=image, user=user)


@router.post("/images/{image_id}/review/undo")
def undo_review_step(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep, context: ContextDep
) -> ReviewEventOut:
    """Take back the caller's latest step on the image while it is still the image's latest:
    a verdict (accept or reject: the earlier status comes back) or an "accept all predictions"
    (their verdicts are cleared and the annotations made deleted), annotator and up. The image
    goes back in review by the caller under a fresh lease. The history keeps everything: the
    undo is an event naming the one it takes back (`details.undone`). 409 when the latest step
    is someone else's, is not undoable, or the image is in review by someone else."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    event = review.undo(session, image=image, user=user, lease=_lease(context))
    return ReviewEventOut.of(event, user)


@router.get("/images/{image_id}/review/history")
def review_history(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[ReviewEventOut]:
    """Every step of the image's review, oldest first: claims, releases, verdicts with reasons,
    accepted and corrected predictions, accepted consensus (viewer and up). Append-only."""
    get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    return [
        ReviewEventOut.of(event, who) for event, who in review.history(session, image_id=image_id)
    ]


@router.get("/projects/{project_id}/review/stats")
def review_stats(project_id: int, user: CurrentUser, session: SessionDep) -> ReviewStats:
    """Images per review state, and per reviewer: images accepted, rejected, predictions
    corrected, and the median seconds from taking an image to its verdict (viewer and up)."""
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    return ReviewStats.model_validate(review.review_stats(session, project_id=project_id))


@router.post("/projects/{project_id}/review/disagreement")
def compute_disagreement(
    project_id: int, body: DisagreementIn, user: CurrentUser, session: SessionDep
) -> DisagreementOut:
    """Compute and store, for every image both model versions predicted, 1 - F1 of their
    IoU-matched labels (annotator and up); the `disagreement` queue orders by it. Replaces what
    was stored for the pair: run it again after re-running either model."""
    require_project(session, user=user, project_id=project_id, min_role=Role.annotator)
    images = review.compute_disagreement(
        session,
        project_id=project_id,
        model_version_id=body.model_version_id,
        versus_id=body.versus,
        iou=body.iou,
    )
    return DisagreementOut(images=images)


@router.post("/images/{image_id}/predictions/{model_version_id}/accept-all")
def accept_all_predictions(
    image_id: uuid.UUID, model_version_id: int, user: CurrentUser, session: SessionDep
) -> dict[str, str]:
    """Every detection of the model version without a verdict becomes an annotation, in one step
    (annotator and up); answers the verdicts per detection."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    review.accept_predictions(session, image=image, user=user, model_version_id=model_version_id)
    return review.prediction_verdicts(session, image=image, model_version_id=model_version_id)


@router.post(
    "/images/{image_id}/predictions/{model_version_id}/correct",
    status_code=status.HTTP_201_CREATED,
)
def correct_prediction(
    image_id: uuid.UUID,
    model_version_id: int,
    body: CorrectionIn,
    user: CurrentUser,
    session: SessionDep,
) -> AnnotationOut:
    """Fix one detection (annotator and up): the fixed label becomes the caller's annotation,
    the detection's verdict becomes `corrected`, and the history records both."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    label = labels.make(body.kind, body.label, body.geometry, text=body.text)
    annotation = review.correct_prediction(
        session,
        image=image,
        user=user,
        model_version_id=model_version_id,
        index=body.index,
        label=label,
    )
    return AnnotationOut.model_validate(annotation)


@router.get("/images/{image_id}/agreement")
def image_agreement(
    image_id: uuid.UUID, user: CurrentUser, session: SessionDep, iou: IoU = 0.5
) -> ImageAgreement:
    """How much the image's annotators agree (viewer and up): mean pairwise F1 of their labels
    matched one to one with equal class and IoU ≥ `iou` (null with fewer than two annotators),
    each annotator's mean F1 with the others and their labels, and the consensus: boxes
    clustered by IoU, kept when at least half of the annotators drew one, with their averaged
    coordinates and majority class (a tie goes to the class voted first)."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    return ImageAgreement.model_validate(agreement.image_agreement(session, image=image, iou=iou))


@router.post("/images/{image_id}/consensus/accept", status_code=status.HTTP_201_CREATED)
def accept_consensus(
    image_id: uuid.UUID, body: ConsensusIn, user: CurrentUser, session: SessionDep
) -> list[AnnotationOut]:
    """Make the consensus the image's ground truth (annotator and up): its labels replace the
    annotators' own annotations (kept in the review history) and the image is accepted.
    409 with fewer than two annotators."""
    image = get_image(session, user=user, image_id=image_id, min_role=Role.annotator)
    made = agreement.accept_consensus(session, image=image, user=user, iou=body.iou)
    return [AnnotationOut.model_validate(row) for row in made]


@router.get("/projects/{project_id}/agreement")
def project_agreement(
    project_id: int, user: CurrentUser, session: SessionDep, iou: IoU = 0.5
) -> ProjectAgreement:
    """Agreement over the project's images with two or more annotators (viewer and up): the mean
    per-image agreement, each annotator's agreement with the others, and for image classes
    Cohen's kappa (when exactly two people labelled) and Krippendorff's alpha (nominal)."""
    require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    return ProjectAgreement.model_validate(
        agreement.project_agreement(session, project_id=project_id, iou=iou)
    )
