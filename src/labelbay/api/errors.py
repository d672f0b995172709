"""Maps domain errors to HTTP answers, one status per kind, and the database's refusals of a
client's values to 4xx: whatever a client sends, a 500 means a bug of ours.

Error bodies are `{"detail": message}`, except under `/v2` (the KServe v2 / Open Inference
Protocol routes), where the protocol has them as `{"error": message}`: `error_body` picks the key
by path, for the handlers here and for the middleware that answers before any route.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException

from labelbay.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
}

V2_PREFIX = "/v2"


def is_v2(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_body(path: str, message: Any) -> dict[str, Any]:
    """The error answer's body for a request to `path`."""
    return {"error" if is_v2(path) else "detail": message}


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
    return JSONResponse(error_body(request.url.path, str(exc)), status_code=status)


async def v2_http_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, with the v2 key under `/v2`: an unknown path there, a wrong method."""
    assert isinstance(exc, HTTPException)
    if not is_v2(request.url.path):
        return await http_exception_handler(request, exc)
    return JSONResponse(
        error_body(request.url.path, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """A bug of ours (the exception is still raised and logged): JSON under `/v2`, Starlette's
    plain text elsewhere."""
    if is_v2(request.url.path):
        return JSONResponse({"error": "internal server error"}, status_code=500)
    return PlainTextResponse("Internal Server Error", status_code=500)


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A unique constraint refused the write: the request clashes with what is stored (a
    duplicate name). The database's own text is logged, not shown: it quotes SQL. Any other
    refusal (a foreign key, a trigger) is a bug of ours and stays a 500."""
    assert isinstance(exc, IntegrityError)
    orig = exc.orig
    if getattr(orig, "sqlstate", None) != "23505" and "UNIQUE constraint" not in str(orig):
        raise exc
    log.info("%s %s: constraint refused the write: %s", request.method, request.url.path, exc)
    detail = "this clashes with something that already exists (a duplicate name?)"
    return JSONResponse(error_body(request.url.path, detail), status_code=409)


async def out_of_range_handler(request: Request, exc: Exception) -> JSONResponse:
    """A number or text the database cannot hold (an id beyond 64 bits, a NUL in a string)."""
    log.info("%s %s: value refused by the database: %s", request.method, request.url.path, exc)
    detail = "a value in the request is out of range for this server (a number too large?)"
    return JSONResponse(error_body(request.url.path, detail), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(HTTPException, v2_http_error_handler)
    app.add_exception_handler(Exception, server_error_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DataError, out_of_range_handler)
    app.add_exception_handler(OverflowError, out_of_range_handler)
