"""Maps domain errors to HTTP answers, one status per kind, and the database's refusals of a
client's values to 4xx: whatever a client sends, a 500 means a bug of ours."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError

from labelbay.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    Invalid: 422,
}


async def domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


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
    return JSONResponse({"detail": detail}, status_code=409)


async def out_of_range_handler(request: Request, exc: Exception) -> JSONResponse:
    """A number or text the database cannot hold (an id beyond 64 bits, a NUL in a string)."""
    log.info("%s %s: value refused by the database: %s", request.method, request.url.path, exc)
    detail = "a value in the request is out of range for this server (a number too large?)"
    return JSONResponse({"detail": detail}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DataError, out_of_range_handler)
    app.add_exception_handler(OverflowError, out_of_range_handler)
