"""Which subscriptions a notice matches, through an index rather than a scan.

Each subscription with filters is filed under the values of its most selective filter
(objectives, else departments, else event types, else statuses). A notice's candidates are
the subscriptions filed under one of its own values; only those are checked against their
full filters. Default-rule subscriptions are filed by their department. So the work per
notice grows with the number of plausible subscriptions, not with all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from services.notifications.domain.notices import Notice
from services.notifications.domain.rules import departments_hearing
from services.notifications.domain.subscriptions import Filters, Subscription

#: The filters a subscription is filed under, most selective first.
_KEY_ORDER = ("objectives", "departments", "event_types", "statuses")


def _values(notice: Notice, dimension: str) -> tuple[str, ...]:
    if dimension == "departments":
        return notice.departments
    if dimension == "objectives":
        return (notice.objective_id,)
    if dimension == "event_types":
        return (notice.event_type,)
    return (notice.status,) if notice.status else ()


def matches(filters: Filters, notice: Notice) -> bool:
    """The definition: every filter given holds a value of the notice (AND of ORs)."""
    return ((not filters.objectives or notice.objective_id in filters.objectives)
            and (not filters.departments or not filters.departments.isdisjoint(
                notice.departments))
            and (not filters.event_types or notice.event_type in filters.event_types)
            and (not filters.statuses or notice.status in filters.statuses))


class SubscriptionIndex:
    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._by_id: dict[str, Subscription] = {}
        self._filed: dict[str, dict[str, list[str]]] = {d: defaultdict(list) for d in _KEY_ORDER}
        self._defaults: dict[str | None, list[str]] = defaultdict(list)
        for subscription in subscriptions:
            self.add(subscription)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, subscription: Subscription) -> None:
        self._by_id[subscription.id] = subscription
        if subscription.follows_defaults:
            self._defaults[subscription.department].append(subscription.id)
            return
        for dimension in _KEY_ORDER:
            values: frozenset[str] = getattr(subscription.filters, dimension)
            if values:
                for value in values:
                    self._filed[dimension][value].append(subscription.id)
                return

    def get(self, subscription_id: str) -> Subscription | None:
        return self._by_id.get(subscription_id)

    def match(self, notice: Notice) -> list[Subscription]:
        candidates: set[str] = set()
        for dimension in _KEY_ORDER:
            filed = self._filed[dimension]
            for value in _values(notice, dimension):
                candidates.update(filed.get(value, ()))
        found = [self._by_id[i] for i in candidates if matches(self._by_id[i].filters, notice)]
        for department in departments_hearing(notice):
            found.extend(self._by_id[i] for i in self._defaults.get(department, ()))
        return sorted(found, key=lambda s: s.id)
