"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from labelbay import __version__
from labelbay.api.context import AppContext
from labelbay.api.errors import install_error_handlers
from labelbay.api.limits import BodyLimitMiddleware
from labelbay.api.middleware import RequestContextMiddleware
from labelbay.api.openapi import install_openapi
from labelbay.api.routes import (
    analyses,
    assist,
    auth,
    evaluations,
    exports,
    images,
    imports,
    jobs,
    kserve,
    legacy,
    ops,
    projects,
    queue,
    review,
    stats,
    thumbnails,
    web,
)
from labelbay.config import Settings, get_settings
from labelbay.jobs.dispatch import Dispatcher
from labelbay.jobs.start import requeue_unfinished as requeue

log = logging.getLogger(__name__)


def requeue_unfinished(context: AppContext) -> None:
    """In-process mode: work that was queued but never finished (a restart, a crash) goes back on
    the pool. Running a task twice is harmless: every write of the task code is idempotent.
    With Celery the broker keeps the messages (late acks), so nothing is re-sent here; what was
    never published is the dispatcher's."""
    if context.settings.executor != "inprocess":
        return
    try:
        with context.sessions() as session:
            count = requeue(
                session, executor=context.executor, batch_size=context.settings.job_batch_size
            )
    except Exception:
        # The server must start (and answer /ready with 503) even when the database is down.
        log.exception("could not look for unfinished tasks at start-up")
        return
    if count:
        log.info("re-queued %d unfinished tasks", count)


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app over the given settings (default: from the environment)."""
    settings = settings or get_settings()
    context = AppContext.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        requeue_unfinished(context)
        # Publishes what nobody published and re-queues expired leases (`jobs/dispatch.py`).
        dispatcher = Dispatcher(context.runtime, context.executor)
        dispatcher.start()
        yield
        dispatcher.close()
        context.close()

    app = FastAPI(
        title="labelbay",
        version=__version__,
        summary="Label images with machine-learning models and review the labels as a team.",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    install_openapi(app)
    for module in (
        ops,
        auth,
        projects,
        images,
        assist,
        review,
        queue,
        jobs,
        evaluations,
        stats,
        kserve,
        analyses,
        exports,
        imports,
        legacy,
    ):
        app.include_router(module.router)
    app.include_router(thumbnails.router)
    app.include_router(web.router)  # last: its catch-all serves the web app's client routes
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(RequestContextMiddleware, context=context)
    if settings.trusted_proxies:
        # Only these peers' X-Forwarded-For is believed (`labelbay serve` turns uvicorn's own
        # handling, which trusts 127.0.0.1 by default, off).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
