"""Putting labels read from another tool's file onto a project's images, as people's annotations
or as one model version's predictions.

Images are matched by file name (YOLO files by stem), each label is fitted to its image, and what
cannot be used is reported with its place in the file. A second run of the same file changes
nothing: an annotation equal to one the image already has is skipped, and a model version's
prediction of an image is replaced by the file's labels for it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from labelbay.db.models import Annotation, Image, ModelVersion, Prediction, User
from labelbay.errors import Invalid
from labelbay.imports.label_formats import Problem, Reading, Record
from labelbay.labels import Label, Source, uncertainty
from labelbay.services.annotations import add_annotation, label_of

Target = Literal["annotations", "predictions"]
MAX_REPORTED = 1000
MATCH_CHUNK = 500


@dataclass
class LabelImport:
    images_in_file: int = 0
    images_matched: int = 0
    added: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def problem(self, place: str, reason: str) -> None:
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(Problem(place, reason))


def external_version(
    session: Session, *, name: str, version: str, class_names: Sequence[str]
) -> ModelVersion:
    """The model version imported predictions belong to: an existing one, or a new row of format
    `external` (it has no weights here, so a job cannot run it; its labels can be reviewed,
    exported and evaluated like any model's)."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if row is None:
        row = ModelVersion(
            name=name,
            version=version,
            task="detect",
            format="external",
            class_names=list(class_names),
        )
        session.add(row)
        session.flush()
    return row


def import_labels(
    session: Session,
    *,
    project_id: int,
    reading: Reading,
    target: Target,
    user: User,
    model_version: ModelVersion | None = None,
) -> LabelImport:
    if target == "predictions" and model_version is None:
        raise Invalid("importing predictions needs the model version they belong to")
    report = LabelImport(images_in_file=len(set(reading.images)))
    for problem in reading.problems:
        report.problem(problem.place, problem.reason)
    wanted = "prediction" if target == "predictions" else "annotation"
    records = [r for r in reading.records if r.origin in (None, wanted)]
    by_image: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_image[record.image].append(record)
    names = set(by_image) | set(reading.images)
    images = _match(session, project_id=project_id, names=names)
    report.images_matched = len(images)
    report.unmatched = sorted(names - set(images))[:MAX_REPORTED]
    for name, image in images.items():
        made: list[tuple[Label, Record]] = []
        for record in by_image.get(name, []):
            try:
                label = record.make(image.width, image.height).fitted(image.width, image.height)
            except Invalid as error:
                report.problem(record.place, str(error))
                continue
            if label is None:
                report.problem(record.place, "nothing of it lies inside the image")
                continue
            made.append((label, record))
        if target == "predictions":
            assert model_version is not None
            found = [label for label, _ in made]
            _replace_prediction(
                session, image=image, version=model_version, labels=found, report=report
            )
        else:
            _add_annotations(session, image=image, user=user, made=made, report=report)
    return report


def _match(session: Session, *, project_id: int, names: set[str]) -> dict[str, Image]:
    """Each name's image: by file name, else by stem (YOLO names images by stem); the oldest
    image when several share it. Only the named images are read, a chunk of names per query: by
    name, then the names that matched none by `stem.` prefix."""
    found: dict[str, Image] = {}
    in_project = Image.project_id == project_id
    exact = sorted(names)
    for start in range(0, len(exact), MATCH_CHUNK):
        chunk = exact[start : start + MATCH_CHUNK]
        stmt = select(Image).where(in_project, Image.original_filename.in_(chunk))
        for image in session.scalars(stmt.order_by(Image.id.desc())):
            found[image.original_filename] = image  # oldest last, so it wins
    rest = sorted(n for n in names if n not in found)
    for start in range(0, len(rest), MATCH_CHUNK):
        stems = {PurePosixPath(n).stem: n for n in rest[start : start + MATCH_CHUNK]}
        prefixes = [Image.original_filename.like(_like(stem) + ".%", escape="\\") for stem in stems]
        stmt = select(Image).where(in_project, or_(*prefixes))
        for image in session.scalars(stmt.order_by(Image.id.desc())):
            stem = PurePosixPath(image.original_filename).stem
            if stem in stems:
                found[stems[stem]] = image
    return found


def _like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _key(label: Label) -> str:
    data = label.to_json()
    return json.dumps(
        {k: data.get(k) for k in ("kind", "label", "geometry", "text")}, sort_keys=True
    )


def _add_annotations(
    session: Session,
    *,
    image: Image,
    user: User,
    made: list[tuple[Label, Record]],
    report: LabelImport,
) -> None:
    existing = {
        _key(label_of(a))
        for a in session.scalars(select(Annotation).where(Annotation.image_id == image.id))
    }
    for label, record in made:
        key = _key(label)
        if key in existing:
            report.unchanged += 1
            continue
        try:
            add_annotation(session, image=image, user=user, label=label)
        except Invalid as error:
            report.problem(record.place, str(error))
            continue
        existing.add(key)
        report.added += 1


def _replace_prediction(
    session: Session,
    *,
    image: Image,
    version: ModelVersion,
    labels: list[Label],
    report: LabelImport,
) -> None:
    rows: list[dict[str, Any]] = [
        label.model_copy(update={"source": Source(model_version_id=version.id)}).to_json()
        for label in labels
    ]
    prediction = session.scalar(
        select(Prediction).where(
            Prediction.image_id == image.id, Prediction.model_version_id == version.id
        )
    )
    if prediction is not None and prediction.detections == rows:
        report.unchanged += len(rows)
        return
    if prediction is None:
        prediction = Prediction(image_id=image.id, model_version_id=version.id)
        session.add(prediction)
    prediction.detections = rows
    prediction.num_detections = len(rows)
    prediction.uncertainty = uncertainty(labels)
    prediction.review = {}
    report.added += len(rows)
    session.flush()
