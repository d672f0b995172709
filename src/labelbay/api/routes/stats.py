"""The project dashboard's figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from labelbay.api.deps import CurrentUser, SessionDep
from labelbay.api.schemas import ProjectStats
from labelbay.db.models import Role
from labelbay.errors import NotFound
from labelbay.services.models import get_version
from labelbay.services.projects import require_project
from labelbay.services.stats import project_stats

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/projects/{project_id}/stats")
def get_stats(
    project_id: int,
    user: CurrentUser,
    session: SessionDep,
    model: Annotated[str | None, Query(max_length=100)] = None,
    model_version: Annotated[str | None, Query(max_length=50)] = None,
) -> ProjectStats:
    """Images, reviewed images and by whom, images and labels per model version, labels per class
    (annotated, and predicted by `model`: default the project's default model), annotations per
    day, and each model version's latest evaluation (viewer and up)."""
    project, _ = require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    version_id: int | None = None
    name = model or project.default_model
    if name:
        try:
            version_id = get_version(session, name=name, version=model_version).id
        except NotFound:
            if model:  # asked for by name: say so; the project's default may be unregistered
                raise
    return ProjectStats.model_validate(
        project_stats(session, project_id=project_id, model_version_id=version_id)
    )
