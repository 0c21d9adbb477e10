"""The subscription index a dispatcher keeps is frozen out of the cyclic collector's passes
once it is large (``Dispatcher.index``), and thawed when a rebuild replaces it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.notifications.domain.subscriptions import Subscription
from services.notifications.service_layer.dispatching import FROZEN_FROM, Dispatcher
from tests.notifications.builders import subscription


class StoredSubscriptions:
    """The two reads of the ``Subscriptions`` port that building an index makes."""

    def __init__(self, subscriptions: list[Subscription]) -> None:
        self.subscriptions = subscriptions
        self.number = 1

    def revision(self) -> int:
        return self.number

    def all(self) -> list[Subscription]:
        return list(self.subscriptions)

    def change(self, subscriptions: list[Subscription]) -> None:
        self.subscriptions = subscriptions
        self.number += 1


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Leave this test process as it found it: nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _walked(objects: list[object]) -> int:
    """How many of ``objects`` the collector's passes walk (frozen ones it does not)."""
    walked = {id(o) for o in gc.get_objects()}
    return sum(id(o) in walked for o in objects)


def test_a_large_index_is_left_out_of_the_collectors_passes() -> None:
    stored = StoredSubscriptions([subscription() for _ in range(FROZEN_FROM)])
    index = Dispatcher(10).index(stored)  # type: ignore[arg-type]

    assert len(index) == FROZEN_FROM
    assert gc.get_freeze_count() > 0
    assert _walked(stored.subscriptions) == 0


def test_a_small_index_stays_with_the_collector() -> None:
    stored = StoredSubscriptions([subscription() for _ in range(FROZEN_FROM - 1)])
    Dispatcher(10).index(stored)  # type: ignore[arg-type]

    assert gc.get_freeze_count() == 0
    assert _walked(stored.subscriptions) == FROZEN_FROM - 1


def test_a_rebuild_thaws_the_index_it_replaced() -> None:
    first = [subscription() for _ in range(FROZEN_FROM)]
    stored = StoredSubscriptions(first)
    dispatcher = Dispatcher(10)
    dispatcher.index(stored)  # type: ignore[arg-type]

    stored.change(first[:10])
    rebuilt = dispatcher.index(stored)  # type: ignore[arg-type]

    assert len(rebuilt) == 10
    assert _walked(first) == FROZEN_FROM  # the collector can free the old index again
