"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from labelbay import __version__
from labelbay.api.context import AppContext
from labelbay.api.errors import install_error_handlers
from labelbay.api.middleware import RequestContextMiddleware
from labelbay.api.routes import auth, images, ops, projects
from labelbay.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app over the given settings (default: from the environment)."""
    settings = settings or get_settings()
    context = AppContext.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.close()

    app = FastAPI(
        title="labelbay",
        version=__version__,
        summary="Label images with machine-learning models and review the labels as a team.",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (ops, auth, projects, images):
        app.include_router(module.router)
    app.add_middleware(RequestContextMiddleware, context=context)
    return app
