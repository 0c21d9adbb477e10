import threading

import pytest

from shared.messaging.backoff import Backoff


def test_delay_doubles_up_to_the_maximum_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=0.5)
    assert [backoff.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_wait_returns_false_at_once_when_stopping() -> None:
    stop = threading.Event()
    stop.set()
    assert Backoff(initial=5.0, maximum=5.0).wait(stop) is False


def test_wait_returns_true_after_the_delay() -> None:
    assert Backoff(initial=0.01, maximum=0.01).wait(threading.Event()) is True


@pytest.mark.parametrize(("initial", "maximum"), [(0, 1), (2, 1), (-1, 1)])
def test_nonsense_settings_are_refused(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError):
        Backoff(initial=initial, maximum=maximum)
