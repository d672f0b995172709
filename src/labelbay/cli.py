"""The `labelbay` command: serve, workers, labeling, imports, migrations, users and models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelbay.client.commands import remote_app
from labelbay.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from labelbay.inference.base import Model

app = typer.Typer(
    help="labelbay: label images with ML models and review the labels.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(models_app, name="models")
app.add_typer(remote_app, name="remote")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int, typer.Option(help="API processes.")] = 1,
) -> None:
    """Upgrade the database and serve the API and web UI (embedded defaults: SQLite + ./data)."""
    import uvicorn

    from labelbay.db.migrate import upgrade
    from labelbay.logs import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    upgrade(settings.database_url)
    _hint_first_user()
    uvicorn.run(
        "labelbay.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app trusts forwarded headers from LABELBAY_TRUSTED_PROXIES only
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    queue: Annotated[str | None, typer.Option(help="Queue (default from settings).")] = None,
) -> None:
    """A Celery worker that runs job tasks from the broker (LABELBAY_BROKER_URL)."""
    import os

    from labelbay.jobs.celery_app import celery_app
    from labelbay.logs import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            queue or settings.job_queue,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            settings.log_level,
            "--hostname",
            f"labelbay-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def label(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (walked).")],
    model: Annotated[
        str, typer.Option("--model", help="A built-in (text, circles, faces) or registered model.")
    ] = "circles",
    out: Annotated[Path, typer.Option("--out", help="Where the labels go.")] = Path("labels.json"),
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="coco, json, csv, yolo or yolo-seg (zips), labelstudio, voc (a zip), cvat, "
            "masks (PNGs in a zip).",
        ),
    ] = "coco",
    render: Annotated[
        Path | None, typer.Option("--render", help="Also write images with boxes drawn here.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per model call.")] = 8,
) -> None:
    """Label images offline with a model and write COCO (default), JSON, CSV, YOLO or Label
    Studio tasks: the same files, with the same columns, as the API's project export."""
    from labelbay.labeler import OUTPUT_FORMATS, find_images, label_files

    if output_format not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")
    try:
        files = find_images(paths)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    if not files:
        typer.echo("no images found (jpg, jpeg, png, webp)", err=True)
        raise typer.Exit(code=1)
    loaded = _load_model(model)
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    with out.open("wb") as handle:
        summary = label_files(
            loaded,
            files,
            out=handle,
            output_format=output_format,
            root=root,
            render_dir=render,
            batch_size=batch_size,
        )
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"wrote {out} ({output_format})")


@app.command()
def evaluate(
    ground_truth: Annotated[Path, typer.Argument(help="Ground truth: a COCO file.")],
    predictions: Annotated[
        Path,
        typer.Argument(help="A COCO results list, or a COCO file whose annotations have scores."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    iou: Annotated[float, typer.Option(help="IoU for P/R/F1, per image and confusion.")] = 0.5,
    score: Annotated[float, typer.Option(help="Score threshold for P/R/F1 and confusion.")] = 0.0,
    iou_type: Annotated[
        str, typer.Option("--iou-type", help="bbox, or segm (mask IoU, as COCOeval's segm).")
    ] = "bbox",
) -> None:
    """Evaluate detections offline with COCO's bbox or segm metrics (the numbers pycocotools'
    COCOeval gives), precision/recall/F1 and per class; the same report the API stores."""
    import json

    from labelbay.errors import Invalid
    from labelbay.evaluation.cocofile import evaluate_files
    from labelbay.evaluation.table import format_report

    if not 0 < iou <= 1:
        raise typer.BadParameter("--iou must be in (0, 1]")
    if iou_type not in ("bbox", "segm"):
        raise typer.BadParameter("--iou-type must be bbox or segm")
    try:
        report = evaluate_files(
            ground_truth,
            predictions,
            iou_threshold=iou,
            score_threshold=score,
            iou_type="segm" if iou_type == "segm" else "bbox",
        )
    except Invalid as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(report) if as_json else format_report(report))


def _load_model(name: str) -> Model:
    """A built-in model without touching the database; otherwise the registry's active version."""
    from labelbay.db.migrate import upgrade
    from labelbay.inference.base import ModelError
    from labelbay.inference.builtin import BUILTIN_NAMES, load_builtin
    from labelbay.runtime import build_runtime

    try:
        if name in BUILTIN_NAMES:
            return load_builtin(name)
        settings = get_settings()
        upgrade(settings.database_url)  # a fresh folder has no registry tables yet
        return build_runtime(settings).models.get(name)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@app.command("task-worker")
def task_worker(
    queue: Annotated[str | None, typer.Option(help="Queue (default from settings).")] = None,
) -> None:
    """Consume the old Object Detection Worker's JSON task messages
    (`{"task_id", "image_key", "callback_url"}`) and write `results/{task_id}.json`."""
    from labelbay.jobs.legacy import consume
    from labelbay.logs import configure_logging
    from labelbay.runtime import build_runtime

    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    runtime = build_runtime(settings)
    try:
        consume(runtime, queue_name=queue)
    finally:
        runtime.close()


@app.command("import")
def import_images(
    project_id: Annotated[int, typer.Argument(help="The project to import into.")],
    source_url: Annotated[
        str, typer.Argument(help="s3://bucket/prefix?endpoint=... or a folder (path or file://).")
    ],
    copy: Annotated[
        bool, typer.Option("--copy", help="Copy into the input location (default: reference).")
    ] = False,
    model: Annotated[str | None, typer.Option(help="Run this model on what was added.")] = None,
) -> None:
    """Import the images of a bucket prefix or a folder; a re-run imports only new or changed
    keys. Without --copy the images stay where they are and are read from there."""
    from labelbay.db.migrate import upgrade
    from labelbay.db.models import Project
    from labelbay.errors import DomainError
    from labelbay.imports.service import run_import
    from labelbay.jobs.executors import CeleryExecutor, InlineExecutor
    from labelbay.jobs.start import start_job
    from labelbay.runtime import build_runtime

    settings = get_settings()
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    try:
        result = run_import(
            runtime,
            project_id=project_id,
            url=source_url,
            mode="copy" if copy else "reference",
            user_id=None,
        )
        for rejection in result.rejected:
            typer.echo(f"refused {rejection.filename}: {rejection.reason}", err=True)
        typer.echo(
            f"added {len(result.added)}, updated {len(result.updated)}, "
            f"unchanged {result.unchanged}, refused {len(result.rejected)}"
        )
        if model and result.added:
            # With Celery the workers run it; without, it runs here before the command ends.
            celery = settings.executor == "celery"
            executor = CeleryExecutor(runtime) if celery else InlineExecutor(runtime)
            try:
                with runtime.sessions() as session:
                    job = start_job(
                        session,
                        executor=executor,
                        batch_size=settings.job_batch_size,
                        project=session.get_one(Project, project_id),
                        user=None,
                        model_name=model,
                        image_ids=result.added,
                    )
            finally:
                executor.close()
            typer.echo(f"job {job.id} queued for the workers" if celery else f"job {job.id} done")
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        runtime.close()


@contextmanager
def _database(*, upgrade_first: bool = True) -> Iterator[Session]:
    """A transaction on the configured database (migrated first, unless told not to); a domain
    error ends the command with its message and exit code 1."""
    from labelbay.db.migrate import upgrade
    from labelbay.db.session import make_engine, make_sessionmaker, transaction
    from labelbay.errors import DomainError

    database_url = get_settings().database_url
    if upgrade_first:
        upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()


def _hint_first_user() -> None:
    from labelbay.services.users import count_users

    with _database(upgrade_first=False) as session:
        if count_users(session) == 0:
            typer.echo(
                "No users yet: create one with "
                "`labelbay user create --email you@example.com --password ... --admin`",
                err=True,
            )


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from labelbay.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail address; it is the sign-in name.")],
    password: Annotated[
        str, typer.Option(help="At least 8 characters.", prompt=True, hide_input=True)
    ],
    admin: Annotated[
        bool, typer.Option("--admin", help="Administrator: sees every project.")
    ] = False,
) -> None:
    """Create a user (the database is upgraded first if needed)."""
    from labelbay.services.users import create_user

    with _database() as session:
        user = create_user(session, email=email, password=password, is_admin=admin)
        typer.echo(f"created user {user.id} <{user.email}>{' (admin)' if admin else ''}")


@models_app.command("list")
def models_list() -> None:
    """Built-in models and registered versions (* marks the active version)."""
    from labelbay.inference.builtin import BUILTIN_NAMES
    from labelbay.services.models import list_versions

    with _database() as session:
        for name in BUILTIN_NAMES:
            typer.echo(f"  {name:<24} built-in")
        for row in list_versions(session):
            mark = "*" if row.is_active else " "
            where = row.url or row.artifact_key
            typer.echo(
                f"{mark} {row.name:<24} v{row.version:<8} {row.format:<14} {row.task:<9} {where}"
            )


@models_app.command("add")
def models_add(
    name: Annotated[str, typer.Argument(help="Model name (lowercase, digits, . _ -).")],
    file: Annotated[
        str | None, typer.Argument(help="Model file (not for kserve: use --url).")
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx-yolo, onnx-detr, onnx-classify, torchscript, kserve, onnx-sam "
            "(a zip of encoder.onnx and decoder.onnx)",
        ),
    ] = "onnx-yolo",
    task: Annotated[str, typer.Option(help="detect or classify.")] = "detect",
    version: Annotated[str | None, typer.Option(help="Default: the next number.")] = None,
    url: Annotated[str | None, typer.Option(help="Base URL of a KServe v2 server.")] = None,
    classes: Annotated[
        str | None, typer.Option(help="Class names, comma-separated, or @file with one per line.")
    ] = None,
    input_size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, e.g. 640x640.")] = None,
    confidence: Annotated[float | None, typer.Option(help="Confidence threshold.")] = None,
    iou: Annotated[float | None, typer.Option(help="IoU threshold for NMS.")] = None,
    max_detections: Annotated[int | None, typer.Option(help="Most detections per image.")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="Don't make it active.")] = False,
) -> None:
    """Check a model file (or endpoint), store it in the models location and register it."""
    from labelbay.runtime import open_storage
    from labelbay.services.models import register_model

    settings = get_settings()
    # The same storage (credentials included) the server and workers open.
    storage = open_storage(settings)
    with _database() as session:
        row = register_model(
            session,
            store=storage.models,
            name=name,
            format=format,
            task="classify" if task == "classify" else "detect",
            version=version,
            file=Path(file) if file else None,
            url=url,
            class_names=_class_names(classes),
            input_size=_size(input_size),
            confidence_threshold=confidence or settings.confidence_threshold,
            iou_threshold=iou or settings.iou_threshold,
            max_detections=max_detections or settings.max_detections,
            activate=not inactive,
        )
        typer.echo(f"registered {row.name} v{row.version} ({row.format}, {row.task})")


@models_app.command("activate")
def models_activate(name: str, version: str) -> None:
    """Make VERSION the active version of NAME (older versions are kept)."""
    from labelbay.services.models import activate_version

    with _database(upgrade_first=False) as session:
        activate_version(session, name=name, version=version)
    typer.echo(f"{name} v{version} is now active")


def _class_names(value: str | None) -> list[str]:
    if not value:
        return []
    if value.startswith("@"):
        lines = Path(value[1:]).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip()]
    return [name.strip() for name in value.split(",") if name.strip()]


def _size(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise typer.BadParameter("use WIDTHxHEIGHT, e.g. 640x640") from exc
    return width, height


if __name__ == "__main__":
    app()
