"""The default rules, for subscriptions that set no filter.

* A department's head hears when an item their department depends on (a link from one of
  their items) turns ``at_risk`` or ``off_track``.
* The owners of a collective target hear every change of its status; a subscription bound
  to no department (the executive sponsor) hears them for every collective target.
* Routine changes (check-ins) of their own department's items go into their digest only.
"""

from __future__ import annotations

from services.notifications.domain.notices import ALARMING_STATUSES, Notice
from shared.contract import EventType

NO_DEPARTMENT: str | None = None


def departments_hearing(notice: Notice) -> set[str | None]:
    """The departments whose default subscriptions hear this notice (``None``: no department)."""
    hearing: set[str | None] = set()
    if notice.is_status_change:
        if notice.status in ALARMING_STATUSES:
            hearing |= notice.dependent_departments
        if notice.collective and notice.status != notice.previous_status:
            hearing |= set(notice.departments)
            hearing.add(NO_DEPARTMENT)
    elif notice.event_type == EventType.KEY_RESULT_CHECKED_IN.value:
        hearing |= set(notice.departments)
    return hearing
