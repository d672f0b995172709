"""Domain errors. Services raise these; the API maps each to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; the message is safe to show to the caller."""


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it exists."""


class Forbidden(DomainError):
    """The caller can see the thing but not do this to it."""


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, an illegal transition)."""


class Invalid(DomainError):
    """The request is well-formed but its values are not acceptable."""
