"""Projects, members and label sets."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.api.params import metadata_filters
from labelbay.api.schemas import (
    LabelIn,
    LabelOut,
    LabelPatch,
    MemberIn,
    MemberOut,
    ProjectCreate,
    ProjectList,
    ProjectOut,
    ProjectPatch,
)
from labelbay.db.models import Role
from labelbay.services import projects
from labelbay.services.images import delete_objects_quietly

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, user: CurrentUser, session: SessionDep) -> ProjectOut:
    """Create a project; the caller becomes its owner."""
    project = projects.create_project(
        session,
        owner=user,
        name=body.name,
        description=body.description,
        meta=body.metadata,
        labels=body.labels,
    )
    session.refresh(project)
    return ProjectOut.of(project, Role.owner)


@router.get("")
def list_projects(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
) -> ProjectList:
    """Projects the caller is a member of (all of them for an administrator).

    Filter on metadata with `metadata.<key>=<value>` query parameters.
    """
    stmt = projects.visible_projects(
        session, user=user, meta_filters=metadata_filters(request.query_params)
    )
    out = []
    for project in session.scalars(stmt):
        role = projects.role_in(session, user=user, project_id=project.id)
        assert role is not None
        out.append(ProjectOut.of(project, role))
    return ProjectList(projects=out)


@router.get("/{project_id}")
def get_project(project_id: int, user: CurrentUser, session: SessionDep) -> ProjectOut:
    """One project (any member)."""
    project, role = projects.require_project(
        session, user=user, project_id=project_id, min_role=Role.viewer
    )
    return ProjectOut.of(project, role)


@router.patch("/{project_id}")
def update_project(
    project_id: int, body: ProjectPatch, user: CurrentUser, session: SessionDep
) -> ProjectOut:
    """Change name, description, metadata, the default model or how many annotators label each
    image (manager or owner)."""
    project, role = projects.require_project(
        session, user=user, project_id=project_id, min_role=Role.manager
    )
    projects.update_project(
        session,
        project=project,
        name=body.name,
        description=body.description,
        meta=body.metadata,
        default_model=body.default_model,
        annotators_per_image=body.annotators_per_image,
    )
    return ProjectOut.of(project, role)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(
    project_id: int, user: CurrentUser, session: SessionDep, context: ContextDep
) -> None:
    """Delete a project with its images, their objects and everything attached (owner only)."""
    project, _ = projects.require_project(
        session, user=user, project_id=project_id, min_role=Role.owner
    )
    keys = projects.delete_project(session, project=project)
    session.commit()
    delete_objects_quietly(context.storage.input, keys)


@router.get("/{project_id}/members")
def list_members(project_id: int, user: CurrentUser, session: SessionDep) -> list[MemberOut]:
    """Members and their roles (any member)."""
    projects.require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    return [MemberOut.of(m) for m in projects.list_members(session, project_id=project_id)]


@router.put("/{project_id}/members")
def set_member(
    project_id: int, body: MemberIn, user: CurrentUser, session: SessionDep
) -> MemberOut:
    """Add a member or change a role. Managers handle annotators and viewers; owners handle all."""
    _, role = projects.require_project(
        session, user=user, project_id=project_id, min_role=Role.manager
    )
    member = projects.set_member(
        session, project_id=project_id, actor_role=role, email=body.email, role=body.role
    )
    return MemberOut.of(member)


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(project_id: int, user_id: int, user: CurrentUser, session: SessionDep) -> None:
    """Remove a member (same rules as changing a role; the last owner stays)."""
    _, role = projects.require_project(
        session, user=user, project_id=project_id, min_role=Role.manager
    )
    projects.remove_member(session, project_id=project_id, actor_role=role, user_id=user_id)


@router.get("/{project_id}/labels")
def list_labels(project_id: int, user: CurrentUser, session: SessionDep) -> list[LabelOut]:
    """The project's label set (any member)."""
    projects.require_project(session, user=user, project_id=project_id, min_role=Role.viewer)
    return [
        LabelOut.model_validate(label)
        for label in projects.list_labels(session, project_id=project_id)
    ]


@router.post("/{project_id}/labels", status_code=status.HTTP_201_CREATED)
def add_label(project_id: int, body: LabelIn, user: CurrentUser, session: SessionDep) -> LabelOut:
    """Add a label to the set (manager or owner)."""
    projects.require_project(session, user=user, project_id=project_id, min_role=Role.manager)
    label = projects.add_label(
        session,
        project_id=project_id,
        name=body.name,
        color=body.color,
        description=body.description,
    )
    return LabelOut.model_validate(label)


@router.patch("/{project_id}/labels/{label_id}")
def update_label(
    project_id: int,
    label_id: int,
    body: LabelPatch,
    user: CurrentUser,
    session: SessionDep,
) -> LabelOut:
    """Rename or recolour a label (manager or owner)."""
    projects.require_project(session, user=user, project_id=project_id, min_role=Role.manager)
    label = projects.get_label(session, project_id=project_id, label_id=label_id)
    for field, value in body.model_dump(exclude_none=True).items():
        setattr(label, field, value)
    session.flush()
    return LabelOut.model_validate(label)


@router.delete("/{project_id}/labels/{label_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_label(
    project_id: int,
    label_id: int,
    user: CurrentUser,
    session: SessionDep,
) -> None:
    """Remove a label from the set (manager or owner)."""
    projects.require_project(session, user=user, project_id=project_id, min_role=Role.manager)
    session.delete(projects.get_label(session, project_id=project_id, label_id=label_id))
