"""What a delivery says: the webhook body and the e-mail (plain text and HTML)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifications.domain.digests import digest_groups
from services.notifications.domain.text import visible, visible_lines

DIGEST_TYPE = "okr.notification.digest"


@dataclass(frozen=True)
class Message:
    """One delivery's content; ``type`` is the event type, or ``okr.notification.digest``."""

    type: str
    data: dict[str, Any]

    def webhook_body(self, timestamp: datetime) -> bytes:
        """The JSON body Standard Webhooks suggests: ``type``, ``timestamp``, ``data``."""
        return json.dumps({"type": self.type,
                           "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
                           "data": self.data}, separators=(",", ":"), sort_keys=True).encode()

    @property
    def is_digest(self) -> bool:
        return self.type == DIGEST_TYPE

    def subject(self) -> str:
        """One line, without invisible or control characters (``domain/text.py``)."""
        if self.is_digest:
            return f"OKR digest: {self.data['count']} change(s)"
        return visible(f"OKR: {self.data['summary']}")

    def text(self) -> str:
        return visible_lines(self._text())

    def html(self) -> str:
        return visible(self._html())

    def _text(self) -> str:
        if not self.is_digest:
            return f"{self.data['summary']}\n\nObjective: {self.data['title']} " \
                   f"({self.data['objective_id']})\nEvent: {self.data['event_type']}\n"
        lines = [self.subject(), ""]
        for title, changes in digest_groups(self.data):
            lines.append(title)
            lines.extend(f"  - {change}" for change in changes)
            lines.append("")
        return "\n".join(lines)

    def _html(self) -> str:
        if not self.is_digest:
            return (f"<p><strong>{html.escape(self.data['summary'])}</strong></p>"
                    f"<p>Objective: {html.escape(self.data['title'])}</p>")
        parts = [f"<h1>{html.escape(self.subject())}</h1>"]
        for title, changes in digest_groups(self.data):
            parts.append(f"<h2>{html.escape(title)}</h2><ul>")
            parts.extend(f"<li>{html.escape(change)}</li>" for change in changes)
            parts.append("</ul>")
        return "".join(parts)
