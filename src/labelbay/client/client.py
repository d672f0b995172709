"""`Client`: a running labelbay server's REST API, called with an API key, as typed methods.

Only GETs are retried (connection errors, 429, 502, 503, 504, with back-off): repeating one
changes nothing on the server, while a repeated upload or job start could do the work twice. Files
are streamed from disk, in uploads and label imports alike, and exports are streamed to disk.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar
from urllib.parse import unquote

import httpx
from pydantic import BaseModel, TypeAdapter

from labelbay.client.errors import ApiError, ClientError, JobFailed, ServerUnreachable, error_detail
from labelbay.client.models import (
    Image,
    ImagePage,
    Job,
    LabelImportReport,
    ModelInfo,
    Project,
    UploadResult,
    User,
)

API = "/api/v1"
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# How a label import run as a job may say that it is over (202 + a status URL to poll).
IMPORT_DONE = frozenset({"completed", "done", "succeeded", "finished"})
IMPORT_FAILED = frozenset({"failed", "cancelled", "error"})
CHUNK_BYTES = 1 << 20

ProgressFn = Callable[[int], object]
M = TypeVar("M", bound=BaseModel)


class Client:
    """A labelbay server at `base_url`, called as the owner of `api_key` (or of a bearer token).

    The key goes into the `Authorization` header and nowhere else: not into `repr`, errors or logs.
    Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ClientError(f"the server URL must start with http:// or https://: {base_url!r}")
        if not api_key:
            raise ClientError("no API key")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "labelbay-client"},
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Users and projects

    def me(self) -> User:
        """Whose key this is."""
        return self._get(f"{API}/users/me", User)

    def projects(self) -> list[Project]:
        """Projects the key's user is a member of (all of them for an administrator)."""
        body = self._json(self._send("GET", f"{API}/projects"))
        return TypeAdapter(list[Project]).validate_python(body["projects"])

    def project(self, project_id: int) -> Project:
        return self._get(f"{API}/projects/{project_id}", Project)

    def find_project(self, ref: str | int) -> Project:
        """A project by id, or by its exact name if that is unique among the visible ones."""
        if isinstance(ref, int) or ref.isdigit():
            return self.project(int(ref))
        named = [p for p in self.projects() if p.name == ref]
        if not named:
            raise ClientError(f"no project named {ref!r} that this key's user can see")
        if len(named) > 1:
            ids = ", ".join(str(p.id) for p in named)
            raise ClientError(f"{len(named)} projects are named {ref!r}; give the id ({ids})")
        return named[0]

    def create_project(
        self, name: str, *, labels: Sequence[str] = (), description: str = ""
    ) -> Project:
        body = {"name": name, "labels": list(labels), "description": description}
        return self._model(self._send("POST", f"{API}/projects", json=body), Project)

    # Images

    def iter_images(self, project_id: int, *, page_size: int = 500) -> Iterator[Image]:
        """Every image of the project in upload order, read page by page."""
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._get(f"{API}/projects/{project_id}/images", ImagePage, params=params)
            yield from page.images
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def upload_images(
        self,
        project_id: int,
        files: Sequence[Path],
        *,
        metadata: Mapping[str, Any] | None = None,
        on_bytes: ProgressFn | None = None,
    ) -> UploadResult:
        """Upload `files` in one streamed request. Files the server refuses are in `rejected`
        (a request where every file was refused answers 422 with the same body: no exception).
        `on_bytes` hears of each chunk of file bytes as it is sent."""
        data = {"metadata": json.dumps(dict(metadata))} if metadata else {}
        with ExitStack() as stack:
            parts = [
                ("files", (path.name, stack.enter_context(_CountingFile(path, on_bytes))))
                for path in files
            ]
            response = self._send(
                "POST", f"{API}/projects/{project_id}/images", data=data, files=parts
            )
        if response.status_code == 422:
            body = self._json(response, check=False)
            if isinstance(body, dict) and "rejected" in body:
                return UploadResult.model_validate(body)
        return self._model(response, UploadResult)

    # Labels in and out

    def import_labels(
        self,
        project_id: int,
        file: Path,
        *,
        format: str,
        target: str = "annotations",
        model: str | None = None,
        model_version: str | None = None,
        with_images: bool = False,
        poll_s: float = 0.5,
        on_status: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> LabelImportReport:
        """Put the labels of `file` (a COCO JSON, a YOLO zip, Label Studio tasks… as `format`)
        onto the project's images, as people's `annotations` or as `predictions` of `model`;
        `with_images`: store the images of a zip that match none of the project's.

        A server that runs the import as a job answers 202 with the job; it is followed (at the
        `Location` header, a `status_url`, or `GET /jobs/{id}`) until its `status` is final, and
        the report is gathered from it. A server that imports in the request (before imports
        became jobs; it reads the field `file`, not `files`) answers 200 with the report.
        `on_status` sees each polled body."""
        data = {"format": format, "target": target}
        if model is not None:
            data["model"] = model
        if model_version is not None:
            data["model_version"] = model_version
        if with_images:
            data["with_images"] = "true"
        response = self._post_file(
            f"{API}/projects/{project_id}/labels/import", file, "files", data
        )
        if response.status_code == 422 and _missing_field(response, "file"):
            # Refused by validation, so nothing was done: send it again as that server wants it.
            response = self._post_file(
                f"{API}/projects/{project_id}/labels/import", file, "file", data
            )
        if response.status_code != 202:
            return self._model(response, LabelImportReport)
        return self._follow_import(response, poll_s=poll_s, on_status=on_status)

    def _post_file(
        self, path: str, file: Path, field: str, data: Mapping[str, str]
    ) -> httpx.Response:
        with file.open("rb") as handle:
            return self._send("POST", path, data=data, files=[(field, (file.name, handle))])

    def _follow_import(
        self,
        accepted: httpx.Response,
        *,
        poll_s: float,
        on_status: Callable[[Mapping[str, Any]], None] | None,
    ) -> LabelImportReport:
        body = self._json(accepted, check=False)
        body = body if isinstance(body, dict) else {}
        url = accepted.headers.get("Location") or body.get("status_url")
        if not url and isinstance(body.get("id"), int):
            url = f"{API}/jobs/{body['id']}"
        if not isinstance(url, str) or not url:
            raise ClientError(
                "the server accepted the import to run later but said nowhere to follow it "
                f"(no Location header, status_url or job id): {body}"
            )
        while True:
            state = self._json(self._send("GET", url, follow_redirects=True))
            if on_status is not None:
                on_status(state)
            status = str(state.get("status", "")).lower()
            if status in IMPORT_DONE:
                return _import_report(state)
            if status in IMPORT_FAILED:
                reason = state.get("error") or state.get("detail") or status
                raise JobFailed(f"the label import {status}: {reason}")
            time.sleep(poll_s)

    def export(
        self,
        project_id: int,
        out: Path,
        *,
        format: str = "coco",
        source: str = "predictions",
        model: str | None = None,
        model_version: str | None = None,
        include_images: bool = False,
        filters: Mapping[str, str] | None = None,
        on_bytes: ProgressFn | None = None,
    ) -> Path:
        """Download the project's labels into the file `out` (or, if `out` is a folder, into the
        file name the server gives), streamed: written to a `.part` file beside it and renamed
        once whole, so a broken download leaves no half file under the real name. `filters` are
        the image list's (`filename`, `review_status`, `label`, `metadata.<key>`…)."""
        params: dict[str, str] = {"format": format, "source": source}
        params.update(filters or {})
        if model is not None:
            params["model"] = model
        if model_version is not None:
            params["model_version"] = model_version
        if include_images:
            params["include_images"] = "true"
        path = f"{API}/projects/{project_id}/export"
        response = self._send("GET", path, params=params, stream=True)
        try:
            self._check(response)
            target = out / _attachment_name(response, project_id) if out.is_dir() else out
            partial = target.with_name(f".{target.name}.part")
            try:
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        handle.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
            except httpx.TransportError as exc:
                partial.unlink(missing_ok=True)
                raise ServerUnreachable(self.base_url, f"the export broke off: {exc}") from exc
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, target)
            return target
        finally:
            response.close()

    # Models and jobs

    def models(self) -> list[ModelInfo]:
        """Models a job can name: registered versions and the built-in ones."""
        body = self._json(self._send("GET", f"{API}/models"))
        return TypeAdapter(list[ModelInfo]).validate_python(body)

    def start_job(
        self,
        project_id: int,
        *,
        model: str,
        model_version: str | None = None,
        image_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Job:
        """Run `model` over the project's images (all, the given ones, or those whose metadata
        matches); the job runs on the server whatever happens to this process."""
        body: dict[str, Any] = {"model": model}
        if model_version is not None:
            body["model_version"] = model_version
        if image_ids is not None:
            body["image_ids"] = [str(i) for i in image_ids]
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return self._model(self._send("POST", f"{API}/projects/{project_id}/jobs", json=body), Job)

    def job(self, job_id: int) -> Job:
        return self._get(f"{API}/jobs/{job_id}", Job)

    def cancel_job(self, job_id: int) -> Job:
        """Cancel the job's queued images; a batch already running finishes."""
        return self._model(self._send("POST", f"{API}/jobs/{job_id}/cancel"), Job)

    def wait_for_job(
        self,
        job_id: int,
        *,
        poll_s: float = 1.0,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll the job until it is completed, failed or cancelled; `on_update` sees each read.
        Interrupting this (Ctrl-C) stops the waiting, not the job."""
        while True:
            job = self.job(job_id)
            if on_update is not None:
                on_update(job)
            if job.finished:
                return job
            time.sleep(poll_s)

    # HTTP

    def _get(self, path: str, model: type[M], **kwargs: Any) -> M:
        return self._model(self._send("GET", path, **kwargs), model)

    def _model(self, response: httpx.Response, model: type[M]) -> M:
        return model.model_validate(self._json(response))

    def _json(self, response: httpx.Response, *, check: bool = True) -> Any:
        if check:
            self._check(response)
        try:
            return response.json()
        except ValueError as exc:
            if not check:
                return None
            raise ClientError(
                f"{response.request.method} {response.request.url.path}: the server's answer "
                f"({response.status_code}) is not JSON"
            ) from exc

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = None
        text = response.text.strip()[:300] or response.reason_phrase
        raise ApiError(
            status_code=response.status_code,
            method=response.request.method,
            path=response.request.url.path,
            detail=error_detail(body, text),
        )

    def _send(
        self, method: str, url: str, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request; a GET is tried again after a broken connection or a 429/502/503/504."""
        attempts = 1 + (self.retries if method == "GET" else 0)
        for attempt in range(1, attempts + 1):
            request = self._http.build_request(
                method, url, **{k: v for k, v in kwargs.items() if k != "follow_redirects"}
            )
            try:
                response = self._http.send(
                    request, stream=stream, follow_redirects=kwargs.get("follow_redirects", False)
                )
            except httpx.TransportError as exc:
                if attempt < attempts:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
                    continue
                raise ServerUnreachable(self.base_url, _transport_reason(exc, method)) from exc
            if response.status_code in RETRIED_STATUSES and attempt < attempts:
                response.close()
                time.sleep(_retry_after(response) or self.backoff_s * 2 ** (attempt - 1))
                continue
            return response
        raise AssertionError("unreachable")  # the loop returns or raises


class _CountingFile:
    """A file opened for reading that reports each chunk read, for upload progress. httpx reads
    it in chunks (never whole) and learns its size from `fileno()`."""

    def __init__(self, path: Path, on_bytes: ProgressFn | None) -> None:
        self._file: IO[bytes] = path.open("rb")
        self._on_bytes = on_bytes
        self.name = path.name

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if self._on_bytes is not None and chunk:
            self._on_bytes(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()


def _transport_reason(exc: httpx.TransportError, method: str) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"cannot connect ({exc or type(exc).__name__})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    done = "" if method == "GET" else f"; the {method} may or may not have taken effect"
    return f"the connection broke ({exc or type(exc).__name__}){done}"


def _missing_field(response: httpx.Response, name: str) -> bool:
    """FastAPI's 422 for a required form field `name` that the request did not have."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, list) and any(
        isinstance(item, dict)
        and item.get("type") == "missing"
        and item.get("loc") == ["body", name]
        for item in detail
    )


def _import_report(state: Mapping[str, Any]) -> LabelImportReport:
    """The report of a finished label import: a job's (`JobOut`: counts in `progress`, the
    problems and unmatched names in `report`), or a report body (itself, or its `report`)."""
    counts = state.get("progress")
    if isinstance(counts, dict) and "images_in_file" in counts:
        lists = state.get("report") or {}
        return LabelImportReport(
            images_in_file=counts["images_in_file"],
            images_matched=counts.get("images_matched", 0),
            added=counts.get("labels_added", 0),
            unchanged=counts.get("unchanged", 0),
            images_added=counts.get("images_added", 0),
            problems=lists.get("problems", []),
            unmatched=lists.get("unmatched", []),
            problem_count=counts.get("problems", len(lists.get("problems", []))),
            unmatched_count=counts.get("unmatched", len(lists.get("unmatched", []))),
        )
    return LabelImportReport.model_validate(state.get("report") or state.get("result") or state)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 30.0) if value.isdigit() else None


def _attachment_name(response: httpx.Response, project_id: int) -> str:
    """The file name of `Content-Disposition`, reduced to a plain name; a default without one."""
    header = response.headers.get("Content-Disposition", "")
    match = re.search(r'filename="?([^";]+)"?', header)
    name = Path(unquote(match.group(1))).name if match else ""
    return name if name and not name.startswith(".") else f"project-{project_id}-export"
