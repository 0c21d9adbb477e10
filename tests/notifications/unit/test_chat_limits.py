"""Chat messages stay within what Slack and Teams accept, however big the digest, and are
never clipped inside an escape."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from services.notifications.domain.chat import slack_payload, teams_payload
from services.notifications.domain.digests import build_digest
from services.notifications.domain.messages import DIGEST_TYPE, Message
from shared.contract import EventType
from tests.notifications.builders import AT, notice
from tests.notifications.chat_receivers import slack_problems, teams_problems
from tests.notifications.unit.test_hostile_text import _teams_texts, _unescaped_teams_specials

CONSOLE = "https://okr.example.org"
#: Microsoft's documented limit on an incoming-webhook message to Teams.
TEAMS_WEBHOOK_BYTES = 28 * 1024


def _sent(payload: dict[str, Any]) -> bytes:
    """The body as the chat sender posts it (adapters/webhooks.py)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _digest(changes: int, title: str = "Grow revenue", departments: int = 30) -> Message:
    notices = [notice(event_id=f"e-{i}", objective_id=f"o-{i}", title=f"{title} {i}",
                      kind="department", departments=(f"department {i % departments}",),
                      event_type=EventType.KEY_RESULT_CHECKED_IN.value,
                      summary=f"check-in on '{title} {i}' ({'ü' * 40})", settled=False,
                      occurred_at=AT + timedelta(seconds=i))
               for i in range(changes)]
    return Message(DIGEST_TYPE, build_digest(notices))


def _listed_and_more(payload: dict[str, Any]) -> tuple[int, int]:
    """(lines listed, K of "… and K more change(s)", 0 when absent)."""
    texts = [b["text"] for b in payload["attachments"][0]["content"]["body"]]
    listed = sum(1 for text in texts for line in text.split("\n") if line.startswith("- "))
    more = re.fullmatch(r"… and (\d+) more changes?", texts[-1])
    return listed, int(more.group(1)) if more else 0


@pytest.mark.parametrize("changes", [1, 40, 7634])
def test_a_teams_digest_of_any_size_fits_a_teams_webhook_and_counts_what_it_leaves_out(
        changes: int) -> None:
    payload = teams_payload(_digest(changes), CONSOLE)
    assert teams_problems(payload) == []
    assert len(_sent(payload)) < TEAMS_WEBHOOK_BYTES
    listed, more = _listed_and_more(payload)
    assert listed >= 1
    assert listed + more == changes  # every change is listed or counted


def test_a_teams_digest_with_huge_titles_still_fits_and_lists_something() -> None:
    payload = teams_payload(_digest(300, title="\U0001d50a" * 5000 + "*", departments=3), CONSOLE)
    assert teams_problems(payload) == []
    assert len(_sent(payload)) < TEAMS_WEBHOOK_BYTES
    listed, more = _listed_and_more(payload)
    assert listed >= 1 and listed + more == 300


def test_a_teams_alarm_with_a_huge_why_fits_a_teams_webhook() -> None:
    alarm = notice(title="ü" * 5000, details={"progress": 0.4, "why": "\U0001d50a*" * 20000})
    payload = teams_payload(Message(EventType.OBJECTIVE_STATUS_CHANGED.value,
                                    alarm.to_dict()), CONSOLE)
    assert teams_problems(payload) == []
    assert len(_sent(payload)) < TEAMS_WEBHOOK_BYTES


@pytest.mark.parametrize("shift", range(4))
def test_teams_text_is_never_clipped_inside_an_escape(shift: int) -> None:
    """Titles of markdown specials, shifted so that every clip falls on each side of a
    backslash: what is left shows no special unescaped and ends on no lone backslash."""
    title = "a" * shift + "*_[" * 1500
    alarm = notice(title=title, details={"why": title})
    for message in (Message(EventType.OBJECTIVE_STATUS_CHANGED.value, alarm.to_dict()),
                    _digest(5, title=title)):
        payload = teams_payload(message, CONSOLE)
        clipped = [text for text in _teams_texts(payload) if "…" in text]
        assert clipped, "the titles are long enough to be clipped"
        for text in _teams_texts(payload):
            assert _unescaped_teams_specials(text) == [], text[-40:]
            for piece in text.split("…"):
                trailing = len(piece) - len(piece.rstrip("\\"))
                assert trailing % 2 == 0, piece[-40:]


@pytest.mark.parametrize("shift", range(5))
def test_a_slack_digest_section_is_never_clipped_inside_an_entity(shift: int) -> None:
    title = "a" * shift + "&<>" * 2000
    payload = slack_payload(_digest(3, title=title, departments=1), CONSOLE)
    assert slack_problems(payload) == []
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert any(text.endswith("…") for text in sections)
    for text in sections:
        assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0, text[-40:]
