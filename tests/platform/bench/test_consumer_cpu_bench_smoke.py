"""A tiny run of ``python -m bench.consumer_cpu``: the consumer's batch work on a real
database, with and without forecasts, and the seeded events it compares two checkouts by.
Only correctness is asserted, never timing."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from bench.consumer_cpu import _seeded_events, main

pytestmark = pytest.mark.timeout(120)

FIGURES = re.compile(r"sqlite (\d+) events in batches of (\d+): CPU ([\d.]+) s "
                     r"\(([\d.]+) us/event\), wall ([\d.]+) s")


@pytest.mark.parametrize("flags", [[], ["--no-forecasts"], ["--batch", "100"]])
def test_the_batch_work_runs_and_reports_its_cpu(
        flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", "sqlite", "--events", "300", "--label", "smoke", *flags]) == 0
    found = FIGURES.search(capsys.readouterr().out)
    assert found, "no figures printed"
    events, batch, cpu, per_event, wall = found.groups()
    assert int(batch) == (100 if "--batch" in flags else 1000)
    assert int(events) >= 300  # the cycle and objectives come before the check-ins
    assert float(cpu) > 0 and float(per_event) > 0 and float(wall) > 0


def _timeless(events: list[tuple[str, bytes]]) -> list[tuple[str, dict[str, object]]]:
    """The events without the moment they were made (their envelope's ``time``, now)."""
    return [(key, {k: v for k, v in json.loads(value).items() if k != "time"})
            for key, value in events]


def test_the_same_seed_gives_the_same_events_and_leaves_uuid4_alone() -> None:
    unseeded = uuid.uuid4
    assert _timeless(_seeded_events(50, 11)) == _timeless(_seeded_events(50, 11))
    assert _timeless(_seeded_events(50, 11)) != _timeless(_seeded_events(50, 12))
    assert uuid.uuid4 is unseeded
