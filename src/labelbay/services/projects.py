"""Projects, their members and roles, and their label sets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from labelbay.db.models import Image, Label, ModelVersion, Project, ProjectMember, Role, User
from labelbay.errors import Conflict, Forbidden, Invalid, NotFound
from labelbay.services.filters import metadata_conditions
from labelbay.services.users import get_user_by_email


def role_in(session: Session, *, user: User, project_id: int) -> Role | None:
    """The user's effective role in a project: admins act as owners everywhere."""
    if user.is_admin:
        return Role.owner
    role = session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user.id
        )
    )
    return Role(role) if role is not None else None


def require_project(
    session: Session, *, user: User, project_id: int, min_role: Role
) -> tuple[Project, Role]:
    """The project and the user's role, if the role is at least `min_role`.

    A user who is not a member gets `NotFound`, as if the project did not exist: not even its
    existence is shared with outsiders.
    """
    project = session.get(Project, project_id)
    role = role_in(session, user=user, project_id=project_id) if project else None
    if project is None or role is None:
        raise NotFound(f"project {project_id} not found")
    if not role.at_least(min_role):
        raise Forbidden(f"this needs the {min_role.value} role or higher; you are {role.value}")
    return project, role


@contextmanager
def hidden_as(what: str) -> Iterator[None]:
    """Inside, any `NotFound` (the row is missing, or it is in a project the user may not see)
    reads `<what> not found`: a hidden object and a missing one answer the same, and the answer
    names nothing the caller did not send (not the project, not a parent's id)."""
    try:
        yield
    except NotFound:
        raise NotFound(f"{what} not found") from None


def create_project(
    session: Session,
    *,
    owner: User,
    name: str,
    description: str = "",
    meta: Mapping[str, Any] | None = None,
    labels: Sequence[str] = (),
) -> Project:
    project = Project(
        name=name, description=description, meta=dict(meta or {}), created_by_id=owner.id
    )
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=owner.id, role=Role.owner.value))
    for label in dict.fromkeys(labels):
        session.add(Label(project_id=project.id, name=label))
    session.flush()
    return project


def visible_projects(
    session: Session, *, user: User, meta_filters: Mapping[str, str] | None = None
) -> Select[Project]:
    stmt = select(Project)
    if not user.is_admin:
        member_of = select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)
        stmt = stmt.where(Project.id.in_(member_of))
    if meta_filters:
        dialect = session.get_bind().dialect.name
        stmt = stmt.where(*metadata_conditions(Project.meta, meta_filters, dialect=dialect))
    return stmt.order_by(Project.id)


def image_count(session: Session, *, project_id: int) -> int:
    return session.scalar(select(func.count(Image.id)).where(Image.project_id == project_id)) or 0


def update_project(
    session: Session,
    *,
    project: Project,
    name: str | None = None,
    description: str | None = None,
    meta: Mapping[str, Any] | None = None,
    default_model: str | None = None,
    annotators_per_image: int | None = None,
) -> Project:
    if annotators_per_image is not None:
        project.annotators_per_image = annotators_per_image
    if default_model is not None:
        project.default_model = default_model or None
    if name is not None:
        project.name = name
    if description is not None:
        project.description = description
    if meta is not None:
        project.meta = dict(meta)
    session.flush()
    return project


def delete_project(session: Session, *, project: Project) -> list[str]:
    """Delete the project's rows; returns the storage keys of its images, for the caller to delete
    once the transaction has committed (objects go after rows, so a failure never leaves a row
    pointing at nothing)."""
    keys = list(session.scalars(select(Image.storage_key).where(Image.project_id == project.id)))
    session.execute(delete(Image).where(Image.project_id == project.id))
    session.delete(project)
    session.flush()
    return keys


def list_members(session: Session, *, project_id: int) -> list[ProjectMember]:
    stmt = select(ProjectMember).where(ProjectMember.project_id == project_id)
    return list(session.scalars(stmt.order_by(ProjectMember.created_at, ProjectMember.user_id)))


def set_member(
    session: Session, *, project_id: int, actor_role: Role, email: str, role: Role
) -> ProjectMember:
    """Add a member or change a role. Managers handle annotators and viewers; owners handle all."""
    user = get_user_by_email(session, email=email)
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    existing = session.get(ProjectMember, (project_id, user.id))
    _check_may_manage(actor_role, Role(existing.role) if existing else None, role)
    if existing is None:
        existing = ProjectMember(project_id=project_id, user_id=user.id, role=role.value)
        session.add(existing)
    else:
        if existing.role == Role.owner.value and role != Role.owner:
            _refuse_last_owner(session, project_id=project_id)
        existing.role = role.value
    session.flush()
    return existing


def remove_member(session: Session, *, project_id: int, actor_role: Role, user_id: int) -> None:
    existing = session.get(ProjectMember, (project_id, user_id))
    if existing is None:
        raise NotFound("not a member of this project")
    _check_may_manage(actor_role, Role(existing.role), None)
    if existing.role == Role.owner.value:
        _refuse_last_owner(session, project_id=project_id)
    session.delete(existing)
    session.flush()


def _check_may_manage(actor: Role, current: Role | None, new: Role | None) -> None:
    if actor == Role.owner:
        return
    touched = [r for r in (current, new) if r is not None]
    if actor == Role.manager and all(not r.at_least(Role.manager) for r in touched):
        return
    raise Forbidden("only an owner can grant, change or remove manager and owner roles")


def _refuse_last_owner(session: Session, *, project_id: int) -> None:
    owners = session.scalar(
        select(func.count()).where(
            ProjectMember.project_id == project_id, ProjectMember.role == Role.owner.value
        )
    )
    if (owners or 0) <= 1:
        raise Conflict("a project must keep at least one owner")


def add_label(
    session: Session, *, project_id: int, name: str, color: str = "", description: str = ""
) -> Label:
    name = name.strip()
    if not name:
        raise Invalid("a label needs a name")
    clash = select(Label.id).where(Label.project_id == project_id, Label.name == name)
    if session.scalar(clash) is not None:
        raise Conflict(f"label {name!r} already exists in this project")
    label = Label(project_id=project_id, name=name, color=color, description=description)
    session.add(label)
    session.flush()
    return label


def get_label(session: Session, *, project_id: int, label_id: int) -> Label:
    label = session.get(Label, label_id)
    if label is None or label.project_id != project_id:
        raise NotFound(f"label {label_id} not found")
    return label


def list_labels(session: Session, *, project_id: int) -> list[Label]:
    stmt = select(Label).where(Label.project_id == project_id).order_by(Label.id)
    return list(session.scalars(stmt))


def label_names(session: Session, *, project_id: int, model: ModelVersion | None) -> list[str]:
    """The project's label set in order; the model's classes when the set is empty."""
    names = list(
        session.scalars(select(Label.name).where(Label.project_id == project_id).order_by(Label.id))
    )
    return names or (list(model.class_names) if model is not None else [])
