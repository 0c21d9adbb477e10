"""Domain errors; the HTTP layer maps each to one status code."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request the domain refuses, with a message for the caller."""


class InvalidInput(DomainError):
    """The request is well-formed but breaks a rule (422)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` was sent again with a different request (422)."""


class UnknownReference(DomainError):
    """A list filter names something the service never heard of (400); ``field`` names
    the filter."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    """The item does not exist (404)."""


class Forbidden(DomainError):
    """The caller's role or department does not allow this (403)."""


class Conflict(DomainError):
    """The request conflicts with the current state (409)."""


class StaleVersion(DomainError):
    """The item changed since the version the caller read (412)."""
