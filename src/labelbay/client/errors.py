"""What the client raises: the server said no (with its status and words), or could not be asked."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of everything the client raises; the message is meant for a person."""


class ServerUnreachable(ClientError):
    """No answer came back: the server is down, the address is wrong, or the connection broke."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not reach the server at {url}: {reason}")
        self.url = url
        self.reason = reason


class ApiError(ClientError):
    """The server answered with a 4xx or 5xx; `detail` is its own explanation."""

    def __init__(self, *, status_code: int, method: str, path: str, detail: str) -> None:
        super().__init__(f"{method} {path}: {status_code} {detail}")
        self.status_code = status_code
        self.method = method
        self.path = path
        self.detail = detail


class JobFailed(ClientError):
    """Work the server ran on our behalf (a label import job) ended without a result."""


def error_detail(body: Any, fallback: str) -> str:
    """The server's words from an error body: `{"detail": "text"}`, FastAPI's list of validation
    errors (each as `where: message`), `{"error": ...}` (the KServe routes), or `fallback`."""
    if isinstance(body, dict):
        detail = body.get("detail", body.get("error"))
        if isinstance(detail, str) and detail:
            return detail
        if isinstance(detail, list) and detail:
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                    parts.append(f"{where}: {item.get('msg', item)}" if where else str(item))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
    return fallback
