"""Text from events is shown, never read as markup: Slack and Teams payloads escape it by
each platform's rules everywhere it goes, and no message (chat or e-mail) carries the
invisible characters with which a title could reorder or hide what a line says."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest

from services.notifications.adapters.email import compose
from services.notifications.domain.chat import slack_payload, teams_payload
from services.notifications.domain.digests import build_digest
from services.notifications.domain.messages import DIGEST_TYPE, Message
from shared.contract import EventType
from tests.notifications.builders import notice
from tests.notifications.chat_receivers import slack_problems, teams_problems

CONSOLE = "https://okr.example.org"
HOSTILE = ["<!channel> ship it", "<https://evil.example|click here>", "*bold* & _it_",
           "[x](http://evil.example)", "**Grow** {{DATE(2017-02-14T06:08:39Z, SHORT)}}",
           "<at>Finance</at> > all", "- not a list", "1. not a list either"]
#: The bidi controls and zero-width characters a title must not bring into a message.
INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f"]
TEAMS_SPECIAL = set("\\`*_~[]()<>#!|{}")
ESCAPABLE = set(string.punctuation)  # CommonMark: a backslash escapes any of these


def _messages(title: str, why: str | None = None, department: str = "sales"
              ) -> list[Message]:
    """An immediate message and a digest whose every text field holds ``title``."""
    details = {"progress": 0.4, "expected_progress": 0.5, "why": why or title}
    alarm = notice(title=title, summary=f"'{title}' is now off_track (was on_track)",
                   details=details, departments=(department,))
    routine = notice(title=title, kind="department", departments=(department,),
                     event_type=EventType.KEY_RESULT_CHECKED_IN.value,
                     summary=f"check-in on '{title}'", settled=False)
    return [Message(EventType.OBJECTIVE_STATUS_CHANGED.value, alarm.to_dict()),
            Message(DIGEST_TYPE, build_digest([alarm, routine]))]


def _slack_texts(payload: dict[str, Any]) -> Iterator[str]:
    """Every text Slack reads as markup: the fallback, and each block's text."""
    yield payload["text"]
    for block in payload["blocks"]:
        if "text" in block:
            yield block["text"]["text"]
        for element in block.get("elements", ()):
            if element.get("type") == "mrkdwn":
                yield element["text"]


def _teams_texts(payload: dict[str, Any]) -> Iterator[str]:
    card = payload["attachments"][0]["content"]
    for element in card["body"]:
        if element["type"] == "TextBlock":
            yield element["text"]
        for fact in element.get("facts", ()):
            yield fact["value"]


def _unescaped_teams_specials(text: str) -> list[str]:
    """Markdown specials not preceded by a backslash (a backslash escapes one character)."""
    found, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in ESCAPABLE:
            index += 2
            continue
        if char in TEAMS_SPECIAL:
            found.append(char)
        index += 1
    return found


@pytest.mark.parametrize("title", HOSTILE)
def test_slack_never_reads_event_text_as_a_mention_a_link_or_an_entity(title: str) -> None:
    for message in _messages(title):
        payload = slack_payload(message, CONSOLE)
        assert slack_problems(payload) == []
        for text in _slack_texts(payload):
            assert "<" not in text and ">" not in text, text
            # every & opens one of the three entities Slack documents
            assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0, text
        assert "&lt;!channel&gt;" in json.dumps(payload) or "!channel" not in title


@pytest.mark.parametrize("title", HOSTILE)
def test_teams_never_reads_event_text_as_markdown(title: str) -> None:
    for message in _messages(title):
        payload = teams_payload(message, CONSOLE)
        assert teams_problems(payload) == []
        texts = list(_teams_texts(payload))
        for text in texts:
            assert _unescaped_teams_specials(text) == [], text
            assert "{{" not in text, text
            for line in text.split("\n"):  # our own list markers ("- ") aside
                assert not re.match(r"\s*(\d+\.|[-+])\s", line.removeprefix("- ")), line
        # and the title is still there to read, unchanged but for the escapes
        assert any(title == re.sub(r"\\(.)", r"\1", t).removeprefix("OKR: ")
                   .split(" is now")[0].strip("'") for t in texts) or message.is_digest


def test_the_department_name_and_the_why_are_escaped_too() -> None:
    (alarm, digest) = _messages("Plain title", why="<!here> see [this](http://evil.example)",
                                department="<!subteam^S1> [sales](http://evil.example)")
    slack = json.dumps(slack_payload(alarm, CONSOLE)) + json.dumps(slack_payload(digest,
                                                                                  CONSOLE))
    assert "<!here>" not in slack and "&lt;!here&gt;" in slack
    assert "<!subteam" not in slack and "&lt;!subteam^S1&gt;" in slack
    teams = json.dumps(teams_payload(alarm, CONSOLE)) + json.dumps(teams_payload(digest,
                                                                                 CONSOLE))
    assert "[this](http" not in teams and "\\\\[this\\\\]\\\\(http" in teams
    assert "[sales](http" not in teams and "\\\\[sales\\\\]" in teams


@pytest.mark.parametrize("control", INVISIBLE)
def test_no_bidi_control_or_zero_width_character_reaches_a_reader(control: str) -> None:
    title = f"Grow {control}eunever{control} revenue"
    for message in _messages(title, department="sales"):
        subject = message.subject()
        payloads = [slack_payload(message, CONSOLE), teams_payload(message, CONSOLE)]
        email = compose("d-1", message, "okr@example.org", "head@example.org")
        shown = [subject, message.text(), message.html(), str(email["Subject"]),
                 *(json.dumps(p, ensure_ascii=False) for p in payloads)]
        for text in shown:
            assert control not in text
        assert "Grow eunever revenue" in message.text()
    # the webhook body is data for machines: it keeps the title as it came
    (alarm, _) = _messages(title)
    assert control in json.loads(alarm.webhook_body(notice().occurred_at))["data"]["title"]


def test_a_line_break_in_a_title_cannot_start_a_new_line_in_a_subject() -> None:
    (alarm, _) = _messages("Grow\r\nBcc: everyone@example.org")
    assert "\n" not in alarm.subject() and "\r" not in alarm.subject()
    email = compose("d-1", alarm, "okr@example.org", "head@example.org")
    assert "Bcc" not in {key for key, _ in email.items()}
