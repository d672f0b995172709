"""The OpenAPI schema, with the error answers every route can give documented in one place.

FastAPI lists a route's success code and, when it has parameters, a 422 whose `detail` is a list
of validation errors. labelbay's routes also answer (each with `{"detail": "..."}`):

| code | when | which operations |
|---|---|---|
| 400 | a body that can't be parsed (JSON nested too deep, a bad multipart body) | with a body |
| 401 | no credential, or a wrong one | behind sign-in |
| 403 | a role too low for this | behind sign-in |
| 404 | the object does not exist, or the caller may not know it does | path parameters, sign-in |
| 408 | the body arrived too slowly (`api/limits.py`) | with a body |
| 409 | a duplicate, an illegal transition, a replayed signature | that change state |
| 413 | the body is over its limit (`api/limits.py`) | with a body |
| 415 | the body is not of the media type the route reads | with a body |
| 422 | unacceptable values; `detail` is a text, or FastAPI's list | with parameters or a body |
| 429 | the address's or the user's rate limit | all but probes |

Which operations get which code is read off each route (its dependencies, path parameters and
body), so a new route is documented without anyone listing codes by hand. Under `/v2` (the KServe
v2 routes) the body is `{"error": "..."}`, as that protocol has it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from labelbay.api.deps import get_current_user, get_reader_or_signed_link
from labelbay.api.errors import is_v2
from labelbay.api.middleware import UNLIMITED_PATHS


class ErrorOut(BaseModel):
    """Every error answer's body: what went wrong, in words meant for the caller."""

    detail: str


class V2ErrorOut(BaseModel):
    """An error answer under `/v2`, in the Open Inference Protocol's shape."""

    error: str


ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
V2_ERROR_REF = {"$ref": "#/components/schemas/V2ErrorOut"}
VALIDATION_REF = {"$ref": "#/components/schemas/HTTPValidationError"}
DESCRIPTIONS = {
    400: "The body could not be parsed",
    401: "Not signed in, or the credential is wrong or expired",
    403: "Signed in, but the role is too low for this",
    404: "Not found, or not visible to the caller",
    408: "The request body arrived too slowly",
    409: "Conflicts with the current state (a duplicate, an illegal transition)",
    413: "The request body is over its limit",
    415: "The body is not of a media type this route reads",
    422: "Values not acceptable",
    429: "Rate limit reached; see Retry-After",
}
CHANGING_METHODS = frozenset({"post", "put", "patch", "delete"})


def _signed_in(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        item = stack.pop()
        if item.call in (get_current_user, get_reader_or_signed_link):
            return True
        stack.extend(item.dependencies)
    return False


def error_codes(route: RouteContext, method: str, operation: dict[str, Any]) -> set[int]:
    """The error answers `route` can give for `method`, read off its shape."""
    codes: set[int] = set()
    has_body = route.body_field is not None or "requestBody" in operation
    if route.path not in UNLIMITED_PATHS:
        codes.add(429)
    if _signed_in(route.dependant):
        codes |= {401, 403, 404}  # 404: what the request names may be gone or out of sight
    if route.dependant.path_params:
        codes |= {404, 422}
    if has_body:
        codes |= {400, 408, 413, 415, 422}
    if route.dependant.query_params or route.dependant.header_params:
        codes.add(422)
    if method in CHANGING_METHODS:
        codes.add(409)
    return codes


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document each route's error answers (see the module docstring)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ErrorOut.model_json_schema()
        components["V2ErrorOut"] = V2ErrorOut.model_json_schema()
        validation = components.get("HTTPValidationError")
        if validation is not None:
            # Our own 422s (domain `Invalid`) carry one text; FastAPI's carry a list of errors.
            listed = validation["properties"]["detail"]
            validation["properties"]["detail"] = {
                "anyOf": [{"type": "string"}, listed],
                "title": "Detail",
            }
        # Routes of included routers come wrapped, with their prefix and dependencies applied.
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            error_ref = V2_ERROR_REF if is_v2(route.path_format or "") else ERROR_REF
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for code in sorted(error_codes(route, method.lower(), operation)):
                    declared = responses.get(str(code))
                    if declared is None:
                        responses[str(code)] = {
                            "description": DESCRIPTIONS[code],
                            "content": {"application/json": {"schema": error_ref}},
                        }
                        continue
                    # A route's own body for this code (an upload's "nothing stored" result)
                    # does not stop the shared answers for it: the error body, FastAPI's list.
                    body = declared.setdefault("content", {}).setdefault("application/json", {})
                    own = body.get("schema")
                    if not own and error_ref is V2_ERROR_REF:
                        body["schema"] = error_ref
                    elif own is not None and own not in (ERROR_REF, VALIDATION_REF):
                        shared = [error_ref] + ([VALIDATION_REF] if code == 422 else [])
                        body["schema"] = {"anyOf": [own, *shared]}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
