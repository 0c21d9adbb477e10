"""Who may change subscriptions and deliveries.

Admins manage every subscription; heads manage the subscriptions of their own department;
viewers (and heads, for other departments) read only.
"""

from __future__ import annotations

from services.notifications.domain.errors import Forbidden
from shared.identity import Caller


def require_write(caller: Caller, department: str | None) -> None:
    """Raise :class:`Forbidden` unless ``caller`` may change what belongs to ``department``."""
    if caller.may_write_for(department):
        return
    if caller.role == "head":
        raise Forbidden(f"a head of {caller.department} manages only subscriptions of "
                        f"department {caller.department!r}")
    raise Forbidden(f"role {caller.role!r} may only read subscriptions")
