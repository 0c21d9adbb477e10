"""Who is calling a service that does not own the tokens (metrics, notifications).

The goals service owns the tokens and answers who one belongs to; the other services keep
that answer as a :class:`Caller` and their service layers decide with it. The goals service
has its own, richer ``Principal`` (``services/goals/domain/access.py``: a role enum, the
token id, the permission checks its use cases run).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as the goals service knows the token."""

    name: str
    role: str  # "admin" | "head" | "viewer"
    department: str | None = None
    token_id: str | None = None
    """The token's id (None for the bootstrap admin token): whose ``Idempotency-Key``s."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_write_for(self, department: str | None) -> bool:
        """Admins write anything; heads only what belongs to their own department."""
        if self.is_admin:
            return True
        return self.role == "head" and department is not None and department == self.department
