"""The model registry: versions of named models, their artifacts in object storage, one active each.

Registering checks the artifact (it must load in its format) before anything is stored, so a corrupt
or unsupported file is refused at registration and never at first use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelbay.db.models import ModelVersion
from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.inference.base import ModelError, ModelSpec, Task
from labelbay.inference.registry import get_format, validate_artifact
from labelbay.storage import ObjectStore

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,49}")
REMOTE_FORMATS = frozenset({"kserve"})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register_model(
    session: Session,
    *,
    store: ObjectStore,
    name: str,
    format: str,
    task: Task = "detect",
    version: str | None = None,
    file: Path | None = None,
    url: str | None = None,
    class_names: Sequence[str] = (),
    input_size: tuple[int, int] | None = None,
    confidence_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
    options: dict[str, Any] | None = None,
    activate: bool = True,
) -> ModelVersion:
    """Check and store a model version; it becomes the active one of its name unless told not to."""
    if not _NAME_RE.fullmatch(name):
        raise Invalid("model name: lowercase letters, digits, '.', '_' and '-', up to 100")
    if not 0.0 <= confidence_threshold <= 1.0 or not 0.0 <= iou_threshold <= 1.0:
        raise Invalid("thresholds must be between 0 and 1")
    try:
        fixed_task = get_format(format).task  # e.g. onnx-sam: segment, whatever was asked
    except ModelError as exc:
        raise Invalid(str(exc)) from exc
    if fixed_task is None and task not in ("detect", "classify"):
        raise Invalid(f"task must be detect or classify, not {task!r}")
    task = fixed_task or task
    version = version or _next_version(session, name)
    if not _VERSION_RE.fullmatch(version):
        raise Invalid(f"bad version {version!r}")
    if session.scalar(
        select(ModelVersion.id).where(ModelVersion.name == name, ModelVersion.version == version)
    ):
        raise Conflict(f"model {name} version {version} already exists")
    row = ModelVersion(
        name=name,
        version=version,
        task=task,
        format=format,
        class_names=list(class_names),
        input_width=input_size[0] if input_size else None,
        input_height=input_size[1] if input_size else None,
        confidence_threshold=confidence_threshold,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
        options=dict(options or {}),
    )
    if format in REMOTE_FORMATS:
        if not url:
            raise Invalid(f"a {format} model needs a URL")
        row.url = url
        from labelbay.inference.kserve import check_spec

        try:  # a wrong URL or model name fails here, not at the first job
            check_spec(spec_of(row, local_path=None))
        except ModelError as exc:
            raise Invalid(f"remote model refused: {exc}") from exc
    else:
        if file is None:
            raise Invalid(f"a {format} model needs a file")
        try:
            validate_artifact(format, file)
        except ModelError as exc:
            raise Invalid(f"model file refused: {exc}") from exc
        sha = file_sha256(file)
        key = f"{name}/{version}/{sha}{file.suffix.lower() or '.bin'}"
        store.put(key, file)
        row.artifact_key, row.artifact_sha256, row.artifact_size = key, sha, file.stat().st_size
    session.add(row)
    session.flush()
    if activate:
        activate_version(session, name=name, version=version)
    return row


def available_builtin_specs() -> list[ModelSpec]:
    """Default specs of the built-in models whose weights are installed here."""
    from labelbay.inference.builtin import BUILTIN_NAMES, builtin_spec

    specs = []
    for name in BUILTIN_NAMES:
        try:
            specs.append(builtin_spec(name))
        except ModelError:
            continue  # its weights' package is not installed here
    return specs


def ensure_builtin_models(session: Session) -> None:
    """Registry rows for the built-in models (format "builtin", no artifact), once.

    Safe when several processes start at the same time: each insert is in a savepoint, and a
    row another process inserted first is simply kept.
    """
    for spec in available_builtin_specs():
        if session.scalar(select(ModelVersion.id).where(ModelVersion.name == spec.name)):
            continue
        try:
            with session.begin_nested():
                session.add(
                    ModelVersion(
                        name=spec.name,
                        version=spec.version,
                        task=spec.task,
                        format="builtin",
                        class_names=list(spec.class_names),
                        confidence_threshold=spec.confidence_threshold,
                        iou_threshold=spec.iou_threshold,
                        max_detections=spec.max_detections,
                        is_active=True,
                    )
                )
        except IntegrityError:
            continue


def _next_version(session: Session, name: str) -> str:
    versions = session.scalars(select(ModelVersion.version).where(ModelVersion.name == name))
    numbers = [int(v) for v in versions if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def activate_version(session: Session, *, name: str, version: str) -> ModelVersion:
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if row is None:
        raise NotFound(f"model {name} version {version} not found")
    session.execute(update(ModelVersion).where(ModelVersion.name == name).values(is_active=False))
    row.is_active = True
    session.flush()
    return row


def list_versions(session: Session, *, name: str | None = None) -> list[ModelVersion]:
    stmt = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.id)
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return list(session.scalars(stmt))


def get_version(session: Session, *, name: str, version: str | None = None) -> ModelVersion:
    """The named version, or the active one when `version` is None.

    A built-in model's row is created on its first use here, so every caller (jobs, imports, the
    old contracts) names built-in and registered models alike.
    """
    from labelbay.inference.builtin import BUILTIN_NAMES

    stmt = select(ModelVersion).where(ModelVersion.name == name)
    stmt = stmt.where(
        ModelVersion.version == version if version is not None else ModelVersion.is_active
    )
    row = session.scalar(stmt)
    if row is None and name in BUILTIN_NAMES:
        ensure_builtin_models(session)
        row = session.scalar(stmt)
    if row is None:
        which = f"version {version}" if version else "active version"
        raise NotFound(f"model {name}: no {which}")
    return row


def spec_of(row: ModelVersion, *, local_path: Path | None) -> ModelSpec:
    input_size = (
        (row.input_width, row.input_height)
        if row.input_width is not None and row.input_height is not None
        else None
    )
    task: Task = "detect"
    if row.task in ("classify", "segment"):
        task = "classify" if row.task == "classify" else "segment"
    return ModelSpec(
        name=row.name,
        format=row.format,
        task=task,
        version=row.version,
        path=str(local_path) if local_path else None,
        url=row.url,
        class_names=tuple(row.class_names),
        input_size=input_size,
        confidence_threshold=row.confidence_threshold,
        iou_threshold=row.iou_threshold,
        max_detections=row.max_detections,
        options=dict(row.options),
    )
