"""Liveness, readiness, settings and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from labelbay import __version__
from labelbay.api.deps import ContextDep

router = APIRouter(tags=["ops"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses={503: {"description": "a dependency is unreachable"}})
async def ready(context: ContextDep) -> JSONResponse:
    """Readiness: the database and the object store both answer."""
    checks: dict[str, str] = {}

    def check_db() -> None:
        with context.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    for name, probe in (("database", check_db), ("storage", context.storage.input.ping)):
        try:
            await run_in_threadpool(probe)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if healthy else "not ready", "checks": checks},
        status_code=200 if healthy else 503,
    )


@router.get("/config")
def config(context: ContextDep) -> dict[str, Any]:
    """The settings in force, without secrets."""
    view = context.settings.public_view()
    view["storage_locations"] = {name: store.url for name, store in context.storage.items()}
    return view


@router.get("/metrics", response_class=Response)
def metrics(context: ContextDep) -> Response:
    """Prometheus metrics: requests, latencies, uploads, rejects, rate-limit refusals."""
    return Response(context.metrics.render(), media_type=CONTENT_TYPE_LATEST)
