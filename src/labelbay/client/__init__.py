"""A typed client for a running labelbay server, and the `labelbay remote` commands built on it.

    from labelbay.client import Client

    with Client("https://labelbay.example.com", api_key) as server:
        project = server.find_project("birds")
        job = server.start_job(project.id, model="circles")
        job = server.wait_for_job(job.id)

It depends on httpx and pydantic only, never on the server's modules, and the server never imports
it (import-linter contracts in pyproject.toml say both). The names below load on first use, so the
`labelbay` command does not import httpx unless a `remote` command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelbay.client.client import Client
    from labelbay.client.errors import ApiError, ClientError, JobFailed, ServerUnreachable
    from labelbay.client.models import (
        Image,
        ImportProblem,
        Job,
        LabelImportReport,
        ModelInfo,
        Project,
        Rejected,
        UploadResult,
        User,
    )

_MODULE_OF = {
    "Client": "client",
    "ApiError": "errors",
    "ClientError": "errors",
    "JobFailed": "errors",
    "ServerUnreachable": "errors",
    "Image": "models",
    "ImportProblem": "models",
    "Job": "models",
    "LabelImportReport": "models",
    "ModelInfo": "models",
    "Project": "models",
    "Rejected": "models",
    "UploadResult": "models",
    "User": "models",
}
__all__ = [
    "ApiError",
    "Client",
    "ClientError",
    "Image",
    "ImportProblem",
    "Job",
    "JobFailed",
    "LabelImportReport",
    "ModelInfo",
    "Project",
    "Rejected",
    "ServerUnreachable",
    "UploadResult",
    "User",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
