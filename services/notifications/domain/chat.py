"""Messages for the places people already read: Slack (Block Kit) and Microsoft Teams (an
Adaptive Card in a message attachment), from the same content as every other channel.

Each message says what changed (the settled status, from what), by how much (progress
against the progress expected by now, in points), why (the roll-up's ``why`` when the
metrics service explains it) and what to expect (its ``forecast``), and links to the item
in the web console when its address is configured (``OKR_CONSOLE_URL``). A digest lists
its changes grouped by collective target and department. Slack's limits are kept (a
header of 150 characters, sections of 3,000, 50 blocks).

Text from events (titles, notes, department names, the roll-up's ``why``) is other
people's input, so it is shown, never read as markup: first without invisible characters
(``domain/text.py``: no bidi control can reorder a line), then escaped by each platform's
rules, everywhere it goes (the fallback ``text``, headers, sections, context, card
TextBlocks and facts):

* Slack (``mrkdwn``, and the fallback ``text``): ``&``, ``<`` and ``>`` as ``&amp;``,
  ``&lt;`` and ``&gt;``, Slack's documented escaping, so that a title like ``<!channel>``
  or ``<https://evil|click>`` cannot become a mention or a link. Slack documents no escape
  for ``*``/``_``/``~``: those can at most make a title bold or italic, never a link.
* Teams (the Adaptive Card's markdown in TextBlock and Fact values): every markdown
  special character is escaped with a backslash (CommonMark's escaping), so ``[x](url)``,
  ``**bold**`` or ``<at>`` show as typed; ``{{`` is broken so that no ``{{DATE(...)}}``
  function is evaluated; a leading ``-``, ``+`` or ``1.`` cannot start a list.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from services.notifications.domain.digests import digest_groups
from services.notifications.domain.messages import Message
from services.notifications.domain.text import visible

SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
SLACK_BLOCK_LIMIT = 50
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def item_link(console_url: str | None, objective_id: str | None) -> str | None:
    """The item's page in the web console, when the console's address is configured."""
    if not console_url or not objective_id:
        return None
    return f"{console_url.rstrip('/')}/objectives/{quote(objective_id, safe='')}"


def facts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value): what changed, by how much, why, and what to expect."""
    details: dict[str, Any] = data.get("details") or {}
    found: list[tuple[str, str]] = []
    if data.get("status"):
        previous = data.get("previous_status")
        found.append(("Status", f"{previous} → {data['status']}" if previous
                      else str(data["status"])))
    progress, expected = details.get("progress"), details.get("expected_progress")
    if isinstance(progress, int | float):
        text = f"{progress:.0%}"
        if isinstance(expected, int | float):
            gap = round((progress - expected) * 100)
            text += (f" against {expected:.0%} expected by now ("
                     f"{abs(gap)} point{'s' if abs(gap) != 1 else ''} "
                     f"{'behind' if gap < 0 else 'ahead'})" if gap else
                     f" as expected by now ({expected:.0%})")
        found.append(("Progress", text))
    forecast = details.get("forecast")
    if isinstance(forecast, int | float):
        text = f"{forecast:.0%} of target at the cycle's end at this pace"
        if details.get("forecast_reached_on"):
            text += f" (reached on {details['forecast_reached_on']})"
        found.append(("Forecast", text))
    if details.get("why"):
        found.append(("Why", str(details["why"])))
    return found


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    """Slack's escaping: a name cannot open a link, a mention or a command."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_clip(text: str, limit: int) -> str:
    """``text`` escaped for Slack and clipped to ``limit`` without cutting an entity."""
    escaped = _mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    clipped = escaped[:limit - 1]
    cut = clipped.rfind("&")
    if cut != -1 and ";" not in clipped[cut:]:
        clipped = clipped[:cut]
    return clipped + "…"


#: CommonMark's backslash-escapable punctuation that Adaptive Card markdown reads.
_TEAMS_SPECIAL = re.compile(r"([\\`*_~\[\]()<>#!|{}])")
_TEAMS_LIST_START = re.compile(r"^(\s*)(?:([-+])|(\d+)\.)(?=\s|$)", re.MULTILINE)


def _teams_md(text: str) -> str:
    """Teams' Adaptive Card markdown, escaped: shown as typed, never a link or a list."""
    escaped = _TEAMS_SPECIAL.sub(r"\\\1", visible(text))
    return _TEAMS_LIST_START.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(2) else f"{m.group(1)}{m.group(3)}\\.",
        escaped)


def slack_payload(message: Message, console_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification's fallback) and blocks."""
    data = message.data
    headline = message.subject().removeprefix("OKR: ")
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": _slack_clip(headline, SLACK_HEADER_LIMIT),
        "emoji": False}}]
    if message.is_digest:
        for title, lines in digest_groups(data)[:SLACK_BLOCK_LIMIT - 2]:
            body = f"*{_mrkdwn(title)}*\n" + "\n".join(f"• {_mrkdwn(line)}" for line in lines)
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": _clip(body, SLACK_TEXT_LIMIT)}})
    else:
        found = facts(data)
        if found:
            body = "\n".join(f"*{label}:* {_mrkdwn(value)}" for label, value in found)
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": _clip(body, SLACK_TEXT_LIMIT)}})
        context = f"{_mrkdwn(str(data.get('title') or ''))} · " \
                  f"{_mrkdwn(str(data.get('event_type', '')))}"
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _clip(context, SLACK_TEXT_LIMIT)}]})
        link = item_link(console_url, data.get("objective_id"))
        if link:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Open in the console"},
                "url": link}]})
    return {"text": _slack_clip(message.subject(), SLACK_TEXT_LIMIT), "blocks": blocks}


def teams_payload(message: Message, console_url: str | None) -> dict[str, Any]:
    """A Teams incoming-webhook body: a message with one Adaptive Card attachment."""
    data = message.data
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": _teams_md(message.subject()),
                                   "weight": "Bolder", "size": "Medium", "wrap": True}]
    actions: list[dict[str, Any]] = []
    if message.is_digest:
        for title, lines in digest_groups(data):
            body.append({"type": "TextBlock", "text": _teams_md(title), "weight": "Bolder",
                         "wrap": True, "spacing": "Medium"})
            body.append({"type": "TextBlock",
                         "text": "\n".join(f"- {_teams_md(line)}" for line in lines),
                         "wrap": True})
    else:
        found = facts(data)
        if found:
            body.append({"type": "FactSet", "facts": [{"title": label,
                                                       "value": _teams_md(value)}
                                                      for label, value in found]})
        link = item_link(console_url, data.get("objective_id"))
        if link:
            actions.append({"type": "Action.OpenUrl", "title": "Open in the console",
                            "url": link})
    card: dict[str, Any] = {"$schema": ADAPTIVE_SCHEMA, "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [
        {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}
