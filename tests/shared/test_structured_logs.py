"""Logs are one JSON object a line and carry the request or event being handled."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.observability.logging import configure_logging, log_context


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_record_logged_while_handling_an_event_carries_its_id(
    capsys: pytest.CaptureFixture[str], restore_root_logger: None
) -> None:
    configure_logging("goals", "INFO", json_format=True)
    with log_context(event_id="e-1", event_type="okr.cycle.created"):
        logging.getLogger("okr.test").warning("applied %s", "it")
    logging.getLogger("okr.test").warning("outside")

    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["message"] == "applied it"
    assert (inside["service"], inside["event_id"], inside["level"]) == ("goals", "e-1", "WARNING")
    assert "event_id" not in outside
