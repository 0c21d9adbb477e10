"""Messages for the places people already read: Slack (Block Kit) and Microsoft Teams (an
Adaptive Card in a message attachment), from the same content as every other channel.

Each message says what changed (the settled status, from what), by how much (progress
against the progress expected by now, in points), why (the roll-up's ``why`` when the
metrics service explains it) and what to expect (its ``forecast``), and links to the item
in the web console when its address is configured (``OKR_CONSOLE_URL``). A digest lists
its changes grouped by collective target and department. Slack's limits are kept (a
header of 150 characters, sections of 3,000, 50 blocks). A Teams message is kept well under
Teams' limit on an incoming-webhook body (about 28 KB): at most 20,000 bytes as sent, at
most 100 digest lines of at most 500 characters each, then "… and K more changes".
Text is clipped after it is escaped, never inside an escape (a Slack ``&amp;``, a Teams
``\\*``).

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

import json
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
#: Bytes of a Teams body as sent (compact UTF-8 JSON): well under Teams' ~28 KB.
TEAMS_PAYLOAD_LIMIT = 20_000
#: Lines a Teams digest lists, and characters (escaped) of one line or heading.
TEAMS_ITEM_LIMIT = 100
TEAMS_LINE_LIMIT = 500
#: Characters (escaped) of a Teams headline and of one fact's value.
TEAMS_TEXT_LIMIT = 2000


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


def _mrkdwn(text: str) -> str:
    """Slack's escaping: a name cannot open a link, a mention or a command."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_clip(text: str, limit: int) -> str:
    """``text`` escaped for Slack and clipped to ``limit`` without cutting an entity."""
    return _clip_mrkdwn(_mrkdwn(text), limit)


def _clip_mrkdwn(escaped: str, limit: int) -> str:
    """Escaped Slack text clipped to ``limit`` without cutting an entity (``&amp;``)."""
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


def _teams_clip(text: str, limit: int) -> str:
    """``text`` escaped for Teams and clipped to ``limit`` without cutting an escape: a
    backslash left alone at the end would escape the ellipsis, so it goes too."""
    escaped = _teams_md(text)
    if len(escaped) <= limit:
        return escaped
    clipped = escaped[:limit - 1]
    if (len(clipped) - len(clipped.rstrip("\\"))) % 2:
        clipped = clipped[:-1]
    return clipped + "…"


def _size(value: object) -> int:
    """Bytes of ``value`` as a chat body is sent (``adapters/webhooks.py``)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


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
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _clip_mrkdwn(body, SLACK_TEXT_LIMIT)}})
    else:
        found = facts(data)
        if found:
            body = "\n".join(f"*{label}:* {_mrkdwn(value)}" for label, value in found)
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _clip_mrkdwn(body, SLACK_TEXT_LIMIT)}})
        context = f"{_mrkdwn(str(data.get('title') or ''))} · " \
                  f"{_mrkdwn(str(data.get('event_type', '')))}"
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _clip_mrkdwn(context, SLACK_TEXT_LIMIT)}]})
        link = item_link(console_url, data.get("objective_id"))
        if link:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Open in the console"},
                "url": link}]})
    return {"text": _slack_clip(message.subject(), SLACK_TEXT_LIMIT), "blocks": blocks}


def teams_payload(message: Message, console_url: str | None) -> dict[str, Any]:
    """A Teams incoming-webhook body: a message with one Adaptive Card attachment."""
    data = message.data
    body: list[dict[str, Any]] = [{"type": "TextBlock",
                                   "text": _teams_clip(message.subject(), TEAMS_TEXT_LIMIT),
                                   "weight": "Bolder", "size": "Medium", "wrap": True}]
    actions: list[dict[str, Any]] = []
    if message.is_digest:
        body += _teams_digest(digest_groups(data), TEAMS_PAYLOAD_LIMIT - _size(
            _teams_message(body, actions)))
    else:
        found = facts(data)
        if found:
            body.append({"type": "FactSet", "facts": [{"title": label,
                                                       "value": _teams_clip(value,
                                                                            TEAMS_TEXT_LIMIT)}
                                                      for label, value in found]})
        link = item_link(console_url, data.get("objective_id"))
        if link:
            actions.append({"type": "Action.OpenUrl", "title": "Open in the console",
                            "url": link})
    return _teams_message(body, actions)


def _teams_digest(groups: list[tuple[str, list[str]]], room: int) -> list[dict[str, Any]]:
    """A digest's TextBlocks in at most ``room`` bytes as sent: whole groups while they
    fit, then as many lines of the next as fit (at most :data:`TEAMS_ITEM_LIMIT` in all),
    then how many lines were left out."""
    total = sum(len(lines) for _, lines in groups)
    room -= _size({"type": "TextBlock", "text": f"… and {total} more changes", "wrap": True,
                   "isSubtle": True}) + 1  # kept for the last line, and its comma
    blocks: list[dict[str, Any]] = []
    shown = 0
    for title, lines in groups:
        heading = {"type": "TextBlock", "text": _teams_clip(title, TEAMS_LINE_LIMIT),
                   "weight": "Bolder", "wrap": True, "spacing": "Medium"}
        cost = _size(heading) + _size({"type": "TextBlock", "text": "", "wrap": True}) + 2
        listed: list[str] = []
        for line in lines:
            item = f"- {_teams_clip(line, TEAMS_LINE_LIMIT)}"
            item_cost = _size(item)  # its JSON text, with 2 bytes for quotes or "\n"
            if shown >= TEAMS_ITEM_LIMIT or cost + item_cost > room:
                break
            listed.append(item)
            cost += item_cost
            shown += 1
        if (lines and not listed) or cost > room:
            break
        blocks.append(heading)
        if listed:
            blocks.append({"type": "TextBlock", "text": "\n".join(listed), "wrap": True})
        room -= cost
        if len(listed) < len(lines):
            break
    if total > shown:
        more = total - shown
        blocks.append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                       "text": f"… and {more} more change{'s' if more != 1 else ''}"})
    return blocks


def _teams_message(body: list[dict[str, Any]], actions: list[dict[str, Any]]
                   ) -> dict[str, Any]:
    card: dict[str, Any] = {"$schema": ADAPTIVE_SCHEMA, "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [
        {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}
