"""The web app: the Vite build in `labelbay/static/app/`, served at `/` with a fallback to
`index.html` for the app's own client-side routes (`/projects/3`, `/images/<id>`, ...).

The fallback never answers for the API and operations paths, so an unknown `/api/...` URL still
gets the API's 404 (or 405) and not a web page. Include this router last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

import labelbay

APP_DIR = Path(labelbay.__file__).parent / "static" / "app"
# Paths that belong to the API or to operations, never to the web app.
RESERVED_PREFIXES: tuple[str, ...] = (
    "/api",
    "/v2",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/health",
    "/ready",
    "/metrics",
    "/config",
)
# Vite puts content-hashed files under assets/: they never change under the same name.
IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labelbay</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>labelbay</h1>
<p>The API is running (<a href="/docs">/docs</a>), but the web app has not been built.</p>
<p>Build it with <code>make frontend</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp;
npm run build</code>), which writes <code>src/labelbay/static/app/</code>, then reload.</p>
</body></html>
"""


def is_reserved(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES)


class WebAppRoute(APIRoute):
    """A catch-all that steps aside (no match at all, not even a partial one) for reserved
    paths and for methods other than GET/HEAD, so the API's own 404/405 answers stand."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        if is_reserved(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(route_class=WebAppRoute, include_in_schema=False)


def resolve_file(path: str, root: Path) -> Path | None:
    """The built file the path names, if it is one and lies inside the build folder."""
    if not path:
        return None
    candidate = (root / path).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


@router.get("/{path:path}", response_model=None)
def web_app(path: str) -> Any:
    """A file of the build, or `index.html` for any client-side route."""
    index = APP_DIR / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-store"})
    found = resolve_file(path, APP_DIR)
    if found is not None:
        cache = IMMUTABLE if path.startswith("assets/") else "no-cache"
        return FileResponse(found, headers={"Cache-Control": cache})
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        # It names a file (a stale asset, /favicon.ico): a 404, not the app's page.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
