"""Who may see and change subscriptions and deliveries.

Admins see and manage every subscription and delivery; heads see and manage those of
their own department; nobody else sees any (viewers, heads of other departments, and
heads for subscriptions bound to no department, e.g. the CEO's). A webhook URL is often
a secret in itself (Slack and Teams hooks are), so a subscription and its deliveries are
private to those who may change them.

A subscription or delivery the caller may not see answers 404, exactly as one that does
not exist: a 403 would confirm that the id exists and belongs to someone else. Writing
needs the role first: a viewer's change is refused (403) before its body is even read.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.notifications.domain.errors import Forbidden, NotFound
from shared.identity import Caller

WRITING_ROLES = frozenset({"admin", "head"})


def may_see(caller: Caller, department: str | None) -> bool:
    """Whether ``caller`` may see what belongs to ``department`` (``None``: no department)."""
    return caller.is_admin or (caller.role == "head" and department is not None
                               and department == caller.department)


def visible_department(caller: Caller) -> tuple[bool, str | None]:
    """(sees everything, else the one department whose items are visible (or None: none))."""
    if caller.is_admin:
        return True, None
    if caller.role == "head" and caller.department:
        return False, caller.department
    return False, None


def require_writing_role(caller: Caller) -> None:
    """Raise :class:`Forbidden` unless the caller's role may change anything at all."""
    if caller.role not in WRITING_ROLES:
        raise Forbidden(f"role {caller.role!r} may not change subscriptions or deliveries")


def require_visible(caller: Caller, department: str | None, what: str) -> None:
    """Raise :class:`NotFound` (as if it did not exist) unless ``caller`` may see it."""
    if not may_see(caller, department):
        raise NotFound(f"no {what}")


def require_write(caller: Caller, department: str | None) -> None:
    """Raise :class:`Forbidden` unless ``caller`` may change what belongs to ``department``."""
    if caller.may_write_for(department):
        return
    if caller.role == "head":
        raise Forbidden(f"a head of {caller.department} manages only subscriptions of "
                        f"department {caller.department!r}")
    raise Forbidden(f"role {caller.role!r} may not change subscriptions")


def shown_url(caller: Caller, department: str | None, url: str) -> str:
    """The URL in full for those who may change the subscription, else scheme and host."""
    if caller.may_write_for(department):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"
