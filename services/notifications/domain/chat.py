"""Messages for the places people already read: Slack (Block Kit) and Microsoft Teams (an
Adaptive Card in a message attachment), from the same content as every other channel.

Each message says what changed (the settled status, from what), by how much (progress
against the progress expected by now, in points), why (the roll-up's ``why`` when the
metrics service explains it) and what to expect (its ``forecast``), and links to the item
in the web console when its address is configured (``OKR_CONSOLE_URL``). A digest lists
its changes grouped by collective target and department. Slack's limits are kept (a
header of 150 characters, sections of 3,000, 50 blocks); text from events is escaped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from services.notifications.domain.messages import Message

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


def _groups(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    groups = [(f"Collective target: {g['title']}", [c["summary"] for c in g["changes"]])
              for g in data.get("collective_targets", ())]
    groups += [(f"Department: {g['department']}", [c["summary"] for c in g["changes"]])
               for g in data.get("departments", ())]
    return groups


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    """Slack's escaping: a name cannot open a link, a mention or a command."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message, console_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification's fallback) and blocks."""
    data = message.data
    headline = message.subject().removeprefix("OKR: ")
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": _clip(headline, SLACK_HEADER_LIMIT), "emoji": False}}]
    if message.is_digest:
        for title, lines in _groups(data)[:SLACK_BLOCK_LIMIT - 2]:
            body = f"*{_mrkdwn(title)}*\n" + "\n".join(f"• {_mrkdwn(line)}" for line in lines)
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": _clip(body, SLACK_TEXT_LIMIT)}})
    else:
        found = facts(data)
        if found:
            body = "\n".join(f"*{label}:* {_mrkdwn(value)}" for label, value in found)
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": _clip(body, SLACK_TEXT_LIMIT)}})
        context = f"{_mrkdwn(data.get('title') or '')} · {data.get('event_type', '')}"
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _clip(context, SLACK_TEXT_LIMIT)}]})
        link = item_link(console_url, data.get("objective_id"))
        if link:
            blocks.append({"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Open in the console"},
                "url": link}]})
    return {"text": _clip(message.subject(), SLACK_TEXT_LIMIT), "blocks": blocks}


def teams_payload(message: Message, console_url: str | None) -> dict[str, Any]:
    """A Teams incoming-webhook body: a message with one Adaptive Card attachment."""
    data = message.data
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": message.subject(),
                                   "weight": "Bolder", "size": "Medium", "wrap": True}]
    actions: list[dict[str, Any]] = []
    if message.is_digest:
        for title, lines in _groups(data):
            body.append({"type": "TextBlock", "text": title, "weight": "Bolder",
                         "wrap": True, "spacing": "Medium"})
            body.append({"type": "TextBlock", "text": "\n".join(f"- {line}" for line in lines),
                         "wrap": True})
    else:
        found = facts(data)
        if found:
            body.append({"type": "FactSet", "facts": [{"title": label, "value": value}
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
