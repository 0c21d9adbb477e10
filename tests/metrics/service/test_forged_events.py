"""Goal events are trusted only from their producer (real Tansu broker, real databases).

A record on ``okr.goals.v1`` from another source, or one whose version the goals service
could not have written (a forged check-in at version 2,000,000,000 for a real key result),
is dead-lettered with its reason; the real check-in after it is applied, so one forged
record cannot freeze an item (before, every later real event looked stale).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from shared.config import KafkaSettings
from shared.contract import Topic
from tests.metrics import goal_events as ge
from tests.metrics.conftest import objective_row, processed_count, wait_for
from tests.metrics.goal_events import GoalsTopic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.timeout(90)


def _consuming_a_key_result_at_version_2(metrics: Metrics, goals_topic: GoalsTopic,
                                         run_in_background: Any) -> tuple[str, str]:
    """A consumer running on an objective and its key result checked in at version 2 (20
    of 100); their ids."""
    objective, kr = ge.new_id(), ge.new_id()
    goals_topic.send(ge.cycle(), ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
                     ge.check_in(kr, objective, version=2, value=20.0), key=objective)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == 4, 30, "the real events applied")
    return objective, kr


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
def test_forged_source_and_forged_version_are_dead_lettered_and_the_next_check_in_applies(
        metrics: Metrics, goals_topic: GoalsTopic, kafka_settings: KafkaSettings,
        run_in_background: Any) -> None:
    objective, kr = _consuming_a_key_result_at_version_2(metrics, goals_topic,
                                                         run_in_background)
    assert objective_row(metrics, objective).progress == 0.2

    intruder = dataclasses.replace(ge.check_in(kr, objective, version=3, value=99.0),
                                   source="/okr/intruder")
    far_ahead = ge.check_in(kr, objective, version=2_000_000_000, value=99.0)
    real = ge.check_in(kr, objective, version=3, value=70.0)
    goals_topic.send(intruder, far_ahead, real, key=objective)  # one key: in this order

    wait_for(lambda: processed_count(metrics) == 5, 30, "the real check-in after the forged")
    assert objective_row(metrics, objective).progress == 0.7
    values, reasons = _dead_letters(kafka_settings, 2)
    assert values == [intruder.to_json(), far_ahead.to_json()]
    assert "source '/okr/intruder' does not publish okr.goals.v1" in reasons[0], reasons[0]
    assert "at version 2000000000 skips ahead of version 2" in reasons[1], reasons[1]


FORGED = 400


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
def test_a_batch_made_mostly_of_forged_check_ins_dead_letters_each_once_and_applies_the_rest(
        metrics: Metrics, goals_topic: GoalsTopic, kafka_settings: KafkaSettings,
        run_in_background: Any) -> None:
    # An outside attack: thousands of forged check-ins among real ones stalled the consumer
    # (isolated one transaction and one dead letter at a time, past the poll interval: out
    # of the group, the batch again, each forged record dead-lettered again). The
    # projection names every forged event of a batch at once, before it touches anything.
    objective, kr = _consuming_a_key_result_at_version_2(metrics, goals_topic,
                                                         run_in_background)

    forged = [ge.check_in(kr, objective, version=1_000_000 + number, value=99.0)
              for number in range(FORGED)]
    real = [ge.check_in(kr, objective, version=3, value=50.0),
            ge.check_in(kr, objective, version=4, value=70.0)]
    half = FORGED // 2
    goals_topic.send(*forged[:half], real[0], *forged[half:], real[1], key=objective)

    wait_for(lambda: processed_count(metrics) == 6, 30, "the real check-ins among the forged")
    assert objective_row(metrics, objective).progress == 0.7
    values, reasons = _dead_letters(kafka_settings, FORGED, timeout=30,
                                    quiet_period=1.0)
    assert values == [event.to_json() for event in forged]  # once
    reason = reasons[-1]
    # judged after the real check-in before it (version 3), as without the forged ones
    assert f"at version {1_000_000 + FORGED - 1} skips ahead of version 3" in reason, reason


def test_a_copy_of_a_check_in_under_another_id_is_not_counted_again(
        metrics: Metrics, goals_topic: GoalsTopic, run_in_background: Any) -> None:
    # An outside attack: a copy of a real check-in at its version, under a new event id,
    # was counted in okr_checkins_total as a second check-in.
    objective, kr = _consuming_a_key_result_at_version_2(metrics, goals_topic,
                                                         run_in_background)
    first = ge.check_in(kr, objective, version=2, value=20.0)
    assert _check_ins_counted(metrics) == 1

    second = ge.check_in(kr, objective, version=3, value=30.0)
    copies = [dataclasses.replace(event, id=ge.new_id()) for event in (first, second, first)]
    # a later batch, the same batch, and an older version after a newer one (counted, it
    # made the live count differ from a rebuild's, where the copy shares the original's chunk)
    goals_topic.send(copies[0], second, copies[1], copies[2], key=objective)

    wait_for(lambda: processed_count(metrics) == 8, 30, "the copies and the second check-in")
    assert _check_ins_counted(metrics) == 2
    assert objective_row(metrics, objective).progress == 0.3


def _check_ins_counted(metrics: Metrics) -> int:
    with metrics.engine.connect() as connection:
        return int(connection.execute(
            select(func.coalesce(func.sum(tables.checkin_counters.c.count), 0))).scalar_one())


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
def test_a_version_far_past_a_removal_seen_in_an_earlier_batch_is_refused_as_a_rebuild_does(
        metrics: Metrics, goals_topic: GoalsTopic, kafka_settings: KafkaSettings,
        run_in_background: Any) -> None:
    # An outside attack: a forged check-in at version 10 for a key result deleted at
    # version 2 in an earlier batch brought it back in the live read model, while a rebuild
    # (the deletion and the check-in in one chunk) refused it: the two read models differed.
    objective, kr = _consuming_a_key_result_at_version_2(metrics, goals_topic,
                                                         run_in_background)
    goals_topic.send(ge.key_result_deleted(kr, objective, version=2), key=objective)
    wait_for(lambda: processed_count(metrics) == 5, 30, "the deletion")
    assert objective_row(metrics, objective).progress is None

    forged = ge.check_in(kr, objective, version=10, value=99.0)
    goals_topic.send(forged, key=objective)
    values, (reason,) = _dead_letters(kafka_settings, 1)
    assert values == [forged.to_json()]
    assert f"key_result {kr} at version 10 skips ahead of version 2" in reason, reason
    assert objective_row(metrics, objective).progress is None
    with metrics.engine.connect() as connection:
        assert connection.execute(select(tables.key_results.c.id).where(
            tables.key_results.c.id == kr)).first() is None


def _dead_letters(kafka: KafkaSettings, expect: int, timeout: float = 20.0,
                  quiet_period: float = 0.3) -> tuple[list[bytes], list[str]]:
    """The values on the goals topic's dead-letter topic, and the reason of each."""
    dead = read_topic(kafka, Topic.GOALS.dead_letter, expect=expect, timeout=timeout,
                      quiet_period=quiet_period)
    return ([record.value for record in dead],
            [dict(record.headers)["okr-dlq-reason"].decode() for record in dead])
