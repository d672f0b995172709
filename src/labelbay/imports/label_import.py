"""Putting labels read from another tool's files onto a project's images, as people's annotations
or as one model version's predictions; the work of a label-import job.

The files are read as a stream (`label_formats.read`) and written a chunk at a time: a chunk of
images' labels is matched, fitted and stored in one transaction, then the job's progress is saved.

Matching, for each image name the files use: the project's image of that file name (YOLO: of that
stem, any suffix), the oldest when several share it; else, when the import brought a file of that
name (in the zip, folder or prefix), the project's image with the same bytes (sha256), whatever its
name; else, with `with_images`, that file is stored as a new image. Images the import brought that
no label names are stored too (with `with_images`). Content matching needs the bytes, so it applies
only to images that come with the labels; labels alone are matched by name.

A second run of the same files changes nothing: an annotation equal to one the image already has
is skipped, and a model version's prediction of an image is replaced by the files' labels for it
(left alone when equal). Files that list one image's labels in several places (not grouped by
image, which no common tool writes) still end with the same labels, but a re-run rewrites them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from labelbay import labels
from labelbay.db.models import Annotation, Image, ModelVersion, Prediction
from labelbay.db.session import transaction
from labelbay.errors import Invalid
from labelbay.imports.bundle import Bundle, chunks
from labelbay.imports.label_formats import Problem, Record, read
from labelbay.imports.spool import spool
from labelbay.labels import Label, Source, uncertainty
from labelbay.runtime import Runtime
from labelbay.services.annotations import annotation_values, check_label, label_of, label_set
from labelbay.services.images import Rejection, UploadLimits, store_upload
from labelbay.services.review import image_statuses
from labelbay.uploads.multipart import FilePart

Target = Literal["annotations", "predictions"]
MAX_REPORTED = 1000
MATCH_CHUNK = 500
CHUNK_IMAGES = 500  # images per transaction
CHUNK_RECORDS = 5000  # records per transaction, whichever comes first
HASH_BATCH = 50  # brought images spooled (and hashed) at a time


@dataclass
class LabelImport:
    """What an import did. Counts are exact; the lists stop at `MAX_REPORTED`."""

    records: int = 0
    images_in_file: int = 0
    images_matched: int = 0
    images_added: int = 0
    added: int = 0
    unchanged: int = 0
    problem_count: int = 0
    unmatched_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def problem(self, place: str, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(Problem(place, reason))

    def counts(self) -> dict[str, int]:
        return {
            "records": self.records,
            "images_in_file": self.images_in_file,
            "images_matched": self.images_matched,
            "images_added": self.images_added,
            "labels_added": self.added,
            "unchanged": self.unchanged,
            "problems": self.problem_count,
            "unmatched": self.unmatched_count,
        }

    def lists(self) -> dict[str, Any]:
        return {
            "problems": [{"place": p.place, "reason": p.reason} for p in self.problems],
            "unmatched": self.unmatched,
        }


@dataclass(frozen=True)
class Request:
    project_id: int
    user_id: int | None
    format: str
    target: Target
    model_version_id: int | None = None
    with_images: bool = False


Checkpoint = Callable[[LabelImport], bool]  # saves progress; False: stop (the job was cancelled)


def external_version(session: Session, *, name: str, version: str) -> ModelVersion:
    """The model version imported predictions belong to: an existing one, or a new row of format
    `external` (it has no weights here, so a job cannot run it; its labels can be reviewed,
    exported and evaluated like any model's)."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if row is None:
        row = ModelVersion(
            name=name, version=version, task="detect", format="external", class_names=[]
        )
        session.add(row)
        session.flush()
    return row


def import_labels(
    deps: Runtime, *, request: Request, bundle: Bundle, checkpoint: Checkpoint
) -> LabelImport:
    """Read the bundle and store its labels (see the module docstring); `Invalid` when the files
    are not of the format (what earlier chunks stored stays: a re-run completes it)."""
    if request.target == "predictions" and request.model_version_id is None:
        raise Invalid("importing predictions needs the model version they belong to")
    run = _Run(deps, request, bundle)
    wanted = "prediction" if request.target == "predictions" else "annotation"
    pending: dict[str, list[Record]] = {}
    waiting = 0
    for item in read(request.format, bundle):
        if isinstance(item, Problem):
            run.report.problem(item.place, item.reason)
            continue
        name = item if isinstance(item, str) else item.image
        if name not in run.seen:
            run.seen.add(name)
            run.report.images_in_file += 1
        records = pending.setdefault(name, [])
        if isinstance(item, Record) and item.origin in (None, wanted):
            records.append(item)
            run.report.records += 1
            waiting += 1
        if len(pending) >= CHUNK_IMAGES or waiting >= CHUNK_RECORDS:
            run.store(pending)
            pending, waiting = {}, 0
            if not checkpoint(run.report):
                return run.report
    run.store(pending)
    run.finish()
    checkpoint(run.report)
    return run.report


@dataclass(frozen=True)
class _Found:
    id: uuid.UUID
    width: int
    height: int


_Labelled = dict[uuid.UUID, tuple[_Found, list[tuple[Label, Record]]]]


class _Run:
    """One import's state: what each name matched, and which predictions it has written."""

    def __init__(self, deps: Runtime, request: Request, bundle: Bundle) -> None:
        self.deps, self.request, self.bundle = deps, request, bundle
        self.report = LabelImport()
        self.seen: set[str] = set()  # names the files use
        self.found: dict[str, _Found] = {}
        self.missing: set[str] = set()
        self.brought: set[str] = set()  # bundle images already matched or stored
        self.named: set[uuid.UUID] = set()  # images the files name
        self.touched: set[uuid.UUID] = set()  # images whose prediction this run wrote
        self.before: dict[uuid.UUID, set[str]] = {}  # their labels before, when replaced
        self.names: set[str] | None = None

    def store(self, pending: dict[str, list[Record]]) -> None:
        self._resolve([n for n in pending if n not in self.found and n not in self.missing])
        labelled: _Labelled = {}
        for name, records in pending.items():
            image = self.found.get(name)
            if image is None:
                continue
            self.named.add(image.id)
            if not records:
                continue
            made = labelled.setdefault(image.id, (image, []))[1]
            for record in records:
                try:
                    label = record.make(image.width, image.height).fitted(image.width, image.height)
                except Invalid as error:
                    self.report.problem(record.place, str(error))
                    continue
                if label is None:
                    self.report.problem(record.place, "nothing of it lies inside the image")
                    continue
                made.append((label, record))
        if not labelled:
            return
        with transaction(self.deps.sessions) as session:
            if self.request.target == "predictions":
                self._predict(session, labelled)
            else:
                self._annotate(session, labelled)

    def finish(self) -> None:
        """Store the brought images no label named; then, for predictions, an image the files
        name without labels gets an empty prediction (the model found nothing there)."""
        if self.request.with_images:
            left = [e.name for e in self.bundle.images() if e.name not in self.brought]
            for start in range(0, len(left), MATCH_CHUNK):
                self._resolve(left[start : start + MATCH_CHUNK], named=False)
        if self.request.target != "predictions":
            return
        empty = sorted(self.named - self.touched)
        for start in range(0, len(empty), MATCH_CHUNK):
            nothing: _Labelled = {
                i: (_Found(i, 0, 0), []) for i in empty[start : start + MATCH_CHUNK]
            }
            with transaction(self.deps.sessions) as session:
                self._predict(session, nothing)

    # Matching

    def _resolve(self, names: list[str], *, named: bool = True) -> None:
        if not names:
            return
        with self.deps.sessions() as session:
            matched = _match(session, project_id=self.request.project_id, names=set(names))
        for name, image in matched.items():
            self._found(name, _Found(image.id, image.width, image.height))
        rest = [n for n in names if n not in matched and self.bundle.image(n) is not None]
        for start in range(0, len(rest), HASH_BATCH):
            self._by_content(rest[start : start + HASH_BATCH])
        for name in names:
            if name not in self.found and named:
                self.missing.add(name)
                self.report.unmatched_count += 1
                if len(self.report.unmatched) < MAX_REPORTED:
                    self.report.unmatched.append(name)
            elif name in self.found:
                self.report.images_matched += int(named)

    def _found(self, name: str, image: _Found) -> None:
        self.found[name] = image
        entry = self.bundle.image(name)
        if entry is not None:
            self.brought.add(entry.name)

    def _by_content(self, names: list[str]) -> None:
        """Names of brought images: the project's image with the same bytes, or a new one."""
        limits = _limits(self.deps)
        entries = {name: self.bundle.image(name) for name in names}
        parts = {
            name: spool(
                chunks(entry), filename=PurePosixPath(entry.name).name, max_bytes=limits.max_bytes
            )
            for name, entry in entries.items()
            if entry is not None
        }
        try:
            with self.deps.sessions() as session:
                stmt = select(Image).where(
                    Image.project_id == self.request.project_id,
                    Image.sha256.in_({p.sha256 for p in parts.values()}),
                )
                by_hash = {i.sha256: i for i in session.scalars(stmt.order_by(Image.id.desc()))}
                same = {h: _Found(i.id, i.width, i.height) for h, i in by_hash.items()}
            for name, part in parts.items():
                if part.sha256 in same:
                    self._found(name, same[part.sha256])
                elif self.request.with_images:
                    stored = self._store_image(part, limits)
                    if isinstance(stored, Rejection):
                        self.report.problem(part.filename, stored.reason)
                    else:
                        same[part.sha256] = stored
                        self._found(name, stored)
        finally:
            for part in parts.values():
                part.discard()

    def _store_image(self, part: FilePart, limits: UploadLimits) -> _Found | Rejection:
        outcome = store_upload(
            sessions=self.deps.sessions,
            store=self.deps.storage.input,
            part=part,
            project_id=self.request.project_id,
            uploader_id=self.request.user_id,
            limits=limits,
        )
        if isinstance(outcome, Rejection):
            return outcome
        self.report.images_added += 1
        return _Found(outcome.id, outcome.width, outcome.height)

    # Writing

    def _annotate(self, session: Session, labelled: _Labelled) -> None:
        if self.names is None:
            self.names = label_set(session, project_id=self.request.project_id)
        keys: dict[uuid.UUID, set[str]] = {image_id: set() for image_id in labelled}
        classes: dict[uuid.UUID, set[str]] = {image_id: set() for image_id in labelled}
        stmt = select(Annotation).where(Annotation.image_id.in_(list(labelled)))
        for row in session.scalars(stmt):
            key = _key(label_of(row))
            keys[row.image_id].add(key)
            if row.kind == "classification":
                classes[row.image_id].add(key)
        rows: list[dict[str, Any]] = []
        for image_id, (image, made) in labelled.items():
            for label, record in made:
                try:
                    label.check_inside(image.width, image.height)
                    name = check_label(
                        session,
                        project_id=self.request.project_id,
                        label=label.label,
                        names=self.names,
                    )
                except Invalid as error:
                    self.report.problem(record.place, str(error))
                    continue
                key = _key(label)
                if key in keys[image_id]:
                    self.report.unchanged += 1
                    continue
                if label.kind == "classification":  # an image has one class: it replaces
                    keys[image_id] -= classes[image_id]
                    classes[image_id] = {key}
                    rows = [
                        r
                        for r in rows
                        if r["image_id"] != image_id or r["kind"] != "classification"
                    ]
                    session.execute(
                        delete(Annotation).where(
                            Annotation.image_id == image_id, Annotation.kind == "classification"
                        )
                    )
                values = annotation_values(
                    label, name=name, image_id=image_id, user_id=self.request.user_id
                )
                rows.append(values)
                keys[image_id].add(key)
                self.report.added += 1
        if rows:
            session.execute(insert(Annotation), rows)  # one executemany (pipelined by psycopg)

    def _predict(self, session: Session, labelled: _Labelled) -> None:
        version_id = self.request.model_version_id
        assert version_id is not None
        source = Source(model_version_id=version_id)
        stmt = select(Prediction).where(
            Prediction.image_id.in_(list(labelled)), Prediction.model_version_id == version_id
        )
        existing = {p.image_id: p for p in session.scalars(stmt)}
        # A new row takes its image's review state (the copy the review queues walk).
        statuses = image_statuses(session, labelled.keys() - existing.keys())
        for image_id, (_, made) in labelled.items():
            rows = [label.model_copy(update={"source": source}).to_json() for label, _ in made]
            prediction = existing.get(image_id)
            old_rows = prediction.detections if prediction is not None else []
            if image_id in self.touched:  # more labels of an image met earlier in the files
                before = self.before.get(image_id, set())
                self._count(rows, before)
                assert prediction is not None
                prediction.detections = [*old_rows, *rows]
                prediction.num_detections = len(prediction.detections)
                prediction.uncertainty = uncertainty(
                    [labels.parse(row) for row in prediction.detections]
                )
                continue
            self.touched.add(image_id)
            old_keys = {_row_key(r) for r in old_rows}
            self._count(rows, old_keys)
            if prediction is not None and old_rows == rows:
                continue
            if prediction is None:
                prediction = Prediction(
                    image_id=image_id, model_version_id=version_id, image_status=statuses[image_id]
                )
                session.add(prediction)
            else:
                self.before[image_id] = old_keys
            prediction.detections = rows
            prediction.num_detections = len(rows)
            prediction.uncertainty = uncertainty([label for label, _ in made])
            prediction.review = {}

    def _count(self, rows: Iterable[dict[str, Any]], before: set[str]) -> None:
        for row in rows:
            if _row_key(row) in before:
                self.report.unchanged += 1
            else:
                self.report.added += 1


def _limits(deps: Runtime) -> UploadLimits:
    settings = deps.settings
    return UploadLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_filename_length=settings.max_filename_length,
    )


def _match(session: Session, *, project_id: int, names: set[str]) -> dict[str, Image]:
    """Each name's image: by file name (a name with folders by its last part), else by stem (YOLO
    names images by stem); the oldest image when several share it. Only the named images are
    read, a chunk of names per query: by name, then the names that matched none by `stem.`
    prefix."""
    found: dict[str, Image] = {}
    in_project = Image.project_id == project_id
    bare = {name: PurePosixPath(name).name for name in names}
    exact = sorted(names)
    for start in range(0, len(exact), MATCH_CHUNK):
        chunk = {bare[n]: n for n in exact[start : start + MATCH_CHUNK]}
        stmt = select(Image).where(in_project, Image.original_filename.in_(list(chunk)))
        for image in session.scalars(stmt.order_by(Image.id.desc())):
            found[chunk[image.original_filename]] = image  # oldest last, so it wins
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


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: row.get(k) for k in ("kind", "label", "geometry", "text", "score")}, sort_keys=True
    )
