"""The copies of an image's review state on its predictions and disagreements (what the
uncertain and disagreement queues walk), compared with the image's own."""

from __future__ import annotations

from sqlalchemy import select

from labelbay.db.models import Image, ModelDisagreement, Prediction
from labelbay.db.session import transaction
from tests.support.stack import Stack


def review_state_copies(stack: Stack, project_id: int) -> list[tuple[str, str]]:
    """(copy, image's review state) for every prediction and disagreement of the project's
    images: the copies the uncertain and disagreement queues walk."""
    pairs: list[tuple[str, str]] = []
    with transaction(stack.context.sessions) as session:
        for copy in (Prediction, ModelDisagreement):
            rows = session.execute(
                select(copy.image_status, Image.review_status)
                .join(Image, Image.id == copy.image_id)
                .where(Image.project_id == project_id)
            )
            pairs += [(status, state) for status, state in rows]
    return pairs


def assert_copies_follow(stack: Stack, project_id: int, states: list[str]) -> None:
    pairs = review_state_copies(stack, project_id)
    assert pairs, "no copies to compare"
    assert all(status == state for status, state in pairs), pairs
    assert sorted({state for _, state in pairs}) == sorted(set(states))
