"""`labelbay remote …`: upload a folder, import labels, export, and run jobs on a running server.

The server and the key come from `--url`/`--api-key` or `LABELBAY_URL`/`LABELBAY_API_KEY`; the key
is never printed. Exit codes: 0 done; 1 the server refused, could not be reached, refused some
files, or the job did not complete every image; 130 interrupted (a job keeps running on the
server). The client modules load inside the commands, so `labelbay --help` stays quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from labelbay.client.client import Client
    from labelbay.client.models import Job

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
NOTES_SHOWN = 20  # per kind of note; the rest is counted

remote_app = typer.Typer(
    help="Work with a running labelbay server through its API with an API key "
    "(LABELBAY_URL, LABELBAY_API_KEY).",
    no_args_is_help=True,
)
jobs_app = typer.Typer(help="Run a model over a project's images; follow or cancel the job.")
remote_app.add_typer(jobs_app, name="jobs", no_args_is_help=True)

ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="LABELBAY_URL", help="The server, e.g. https://labelbay.example.com."
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="LABELBAY_API_KEY",
        help="An API key; better in the environment variable, as options show in `ps`.",
    ),
]
ProjectRef = Annotated[str, typer.Option("--project", "-p", help="Project id or exact name.")]


@remote_app.command("projects")
def projects(url: ServerUrl = None, api_key: ApiKey = None) -> None:
    """The projects the key's user can see: id, role, name."""
    with _server(url, api_key) as server:
        for project in server.projects():
            typer.echo(f"{project.id:>6}  {project.role:<9} {project.name}")


@remote_app.command("models")
def models(url: ServerUrl = None, api_key: ApiKey = None) -> None:
    """Models a job can run (* marks the active version)."""
    with _server(url, api_key) as server:
        for model in server.models():
            mark = "*" if model.is_active else " "
            typer.echo(
                f"{mark} {model.name:<24} v{model.version:<8} {model.format:<14} {model.task}"
            )


@remote_app.command("upload")
def upload(
    folder: Annotated[Path, typer.Argument(help="A folder of images (walked).")],
    project: ProjectRef,
    url: ServerUrl = None,
    api_key: ApiKey = None,
    batch_files: Annotated[int, typer.Option(min=1, help="Files per request.")] = 50,
    metadata: Annotated[
        str | None,
        typer.Option(help='A JSON object stored on every image, e.g. \'{"site": "A"}\'.'),
    ] = None,
) -> None:
    """Upload the JPEG, PNG and WebP files of FOLDER, in batches, with a progress bar. Other files
    are skipped with a note. Files whose content the project already has are not sent again, so
    running it again after an interruption sends only the rest."""
    from tqdm import tqdm

    from labelbay.client.folder import scan_folder, upload_folder

    meta = _json_object(metadata, "--metadata")
    try:
        scan = scan_folder(folder)
    except FileNotFoundError as exc:
        _fail(str(exc))
    _notes(
        [f"skipped {p.relative_to(folder)}: not an image by its name" for p in scan.not_images],
        "files that are not images",
    )
    if not scan.images:
        _fail(f"no images (jpg, jpeg, png, webp) in {folder}")
    with _server(url, api_key) as server:
        target = server.find_project(project)
        bar = tqdm(
            total=scan.image_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="upload"
        )
        try:
            outcome = upload_folder(
                server,
                target.id,
                scan,
                batch_files=batch_files,
                metadata=meta,
                on_bytes=bar.update,
            )
        except KeyboardInterrupt:
            bar.close()
            typer.echo(
                "\ninterrupted: the files sent so far are stored; run the same command again "
                "to send the rest",
                err=True,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        finally:
            bar.close()
    _notes([f"refused {r.filename}: {r.reason}" for r in outcome.rejected], "refused files")
    _notes(
        [f"skipped {a.relative_to(folder)}: same content as {b}" for a, b in outcome.duplicates],
        "files with the same content as another",
    )
    typer.echo(
        f"project {target.id} ({target.name}): uploaded {outcome.stored}, "
        f"already there {outcome.already_there}, duplicates {len(outcome.duplicates)}, "
        f"refused {len(outcome.rejected)}, not images {len(scan.not_images)}"
    )
    for job_id in outcome.job_ids:
        typer.echo(f"job {job_id} runs the project's default model on them")
    if outcome.rejected:
        raise typer.Exit(EXIT_FAILED)


@remote_app.command("import")
def import_labels(
    file: Annotated[Path, typer.Argument(help="The labels: a file or a zip.", exists=True)],
    project: ProjectRef,
    label_format: Annotated[
        str, typer.Option("--format", help="coco, yolo, labelstudio… (what the server reads).")
    ],
    target: Annotated[
        str, typer.Option("--as", help="annotations (people's labels) or predictions.")
    ] = "annotations",
    model: Annotated[
        str | None, typer.Option(help="With --as predictions: the model they came from.")
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="Its version (default 1).")] = None,
    with_images: Annotated[
        bool,
        typer.Option("--with-images", help="Store the zip's images that the project lacks."),
    ] = False,
    url: ServerUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Put the labels of FILE onto the project's images (matched by file name), as people's
    annotations or as a model's predictions. Records that cannot be used are listed with their
    place and reason; running it again changes nothing."""
    if target not in ("annotations", "predictions"):
        raise typer.BadParameter("--as must be annotations or predictions")
    if target == "predictions" and not model:
        raise typer.BadParameter("--as predictions needs --model: the model they came from")
    seen: list[str] = []

    def on_status(state: Mapping[str, Any]) -> None:
        status = str(state.get("status", ""))
        if not seen or seen[-1] != status:
            seen.append(status)
            typer.echo(f"import {status}", err=True)

    with _server(url, api_key) as server:
        found = server.find_project(project)
        report = server.import_labels(
            found.id,
            file,
            format=label_format,
            target=target,
            model=model,
            model_version=model_version,
            with_images=with_images,
            on_status=on_status,
        )
    _notes([f"{p.place}: {p.reason}" for p in report.problems], "problems")
    _notes([f"not in the project: {name}" for name in report.unmatched], "images not found")
    stored = f"{report.images_added} images stored, " if report.images_added else ""
    typer.echo(
        f"project {found.id}: {report.images_matched} of {report.images_in_file} images matched; "
        f"{stored}{report.added} {target} added, {report.unchanged} unchanged, "
        f"{report.problem_count} problems"
    )


@remote_app.command("export")
def export(
    project: ProjectRef,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="A file, or a folder for the server's file name.")
    ] = Path("."),
    label_format: Annotated[
        str, typer.Option("--format", help="coco, yolo, csv, json, labelstudio…")
    ] = "coco",
    source: Annotated[str, typer.Option(help="predictions, annotations or both.")] = "predictions",
    model: Annotated[
        str | None, typer.Option(help="Whose predictions (default: the project's model).")
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="Default: the active one.")] = None,
    include_images: Annotated[
        bool, typer.Option("--include-images", help="Put the images into the zip too.")
    ] = False,
    where: Annotated[
        list[str] | None,
        typer.Option(help="An image filter KEY=VALUE (filename, label, metadata.site…); repeat."),
    ] = None,
    url: ServerUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Download the project's labels, streamed to disk."""
    from tqdm import tqdm

    filters = dict(_pair(item) for item in where or [])
    with _server(url, api_key) as server:
        found = server.find_project(project)
        with tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc="export") as bar:
            written = server.export(
                found.id,
                out,
                format=label_format,
                source=source,
                model=model,
                model_version=model_version,
                include_images=include_images,
                filters=filters,
                on_bytes=bar.update,
            )
    typer.echo(f"wrote {written} ({written.stat().st_size} bytes)")


@jobs_app.command("run")
def jobs_run(
    project: ProjectRef,
    model: Annotated[str, typer.Option(help="A built-in or registered model.")],
    model_version: Annotated[str | None, typer.Option(help="Default: the active one.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Show progress until the job ends.")
    ] = False,
    url: ServerUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Run MODEL over every image of the project. With --follow, wait with a progress bar; the
    exit code is 1 unless every image was done. Ctrl-C stops following, not the job."""
    with _server(url, api_key) as server:
        found = server.find_project(project)
        job = server.start_job(found.id, model=model, model_version=model_version)
        typer.echo(f"job {job.id}: {job.model} v{job.model_version} on {job.total} images")
        if follow:
            _follow(server, job)
        else:
            typer.echo(f"follow it with: labelbay remote jobs follow {job.id}")


@jobs_app.command("follow")
def jobs_follow(
    job_id: Annotated[int, typer.Argument(help="The job.")],
    url: ServerUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Show a job's progress until it ends (at once if it has); exit code 1 unless every image
    was done."""
    with _server(url, api_key) as server:
        _follow(server, server.job(job_id))


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="The job.")],
    url: ServerUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Cancel a job's queued images (a batch already running finishes)."""
    with _server(url, api_key) as server:
        job = server.cancel_job(job_id)
    typer.echo(f"job {job.id} {job.status}: {job.done} of {job.total} images were done")


def _follow(server: Client, job: Job) -> None:
    from tqdm import tqdm

    bar = tqdm(total=job.total, unit="img", desc=f"job {job.id}")

    def show(update: Job) -> None:
        bar.total = update.total
        bar.n = update.done + update.failed
        bar.set_postfix_str(update.status, refresh=False)
        bar.refresh()

    try:
        final = server.wait_for_job(job.id, on_update=show)
    except KeyboardInterrupt:
        bar.close()
        typer.echo(
            f"\nstopped following; job {job.id} keeps running on the server.\n"
            f"  follow it again: labelbay remote jobs follow {job.id}\n"
            f"  cancel it:       labelbay remote jobs cancel {job.id}",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        bar.close()
    rate = f" ({final.images_per_second} images/s)" if final.images_per_second else ""
    typer.echo(
        f"job {final.id} {final.status}: {final.done} done, {final.failed} failed "
        f"of {final.total}{rate}"
    )
    _notes([f"image {e.get('image_id')}: {e.get('error')}" for e in final.errors], "errors")
    if not final.succeeded:
        raise typer.Exit(EXIT_FAILED)


@contextmanager
def _server(url: str | None, api_key: str | None) -> Iterator[Client]:
    """A client for the server; its refusals and unreachability end the command with the
    message and exit code 1."""
    from labelbay.client.client import Client
    from labelbay.client.errors import ApiError, ClientError

    if not url:
        _fail("no server: pass --url or set LABELBAY_URL")
    if not api_key:
        _fail("no API key: set LABELBAY_API_KEY (or pass --api-key)")
    try:
        with Client(url, api_key) as client:
            yield client
    except ApiError as exc:
        hint = " (is LABELBAY_API_KEY a valid, unexpired key?)" if exc.status_code == 401 else ""
        _fail(f"{exc}{hint}")
    except ClientError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILED)


def _notes(lines: Sequence[str], what: str) -> None:
    for line in lines[:NOTES_SHOWN]:
        typer.echo(line, err=True)
    if len(lines) > NOTES_SHOWN:
        typer.echo(f"… and {len(lines) - NOTES_SHOWN} more {what}", err=True)


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object")
    return value


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"--where wants KEY=VALUE, not {item!r}")
    return key, value
