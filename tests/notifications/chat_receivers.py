"""Local stand-ins for Slack and Microsoft Teams incoming webhooks, over real HTTP: each
checks the shape of what it is sent as the real service does and answers 400 (Slack's
``invalid_blocks``, Teams' bad payload) when it is wrong, 200 otherwise."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}


def slack_problems(body: Any) -> list[str]:
    """What Slack would refuse in an incoming-webhook body (Block Kit)."""
    problems: list[str] = []
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return ["no fallback 'text'"]
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return ["'blocks' must hold 1 to 50 blocks"]
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCK_TYPES:
            problems.append(f"unknown block type {kind!r}")
        elif kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                problems.append("a header needs plain_text of 1 to 150 characters")
        elif kind == "section":
            text = block.get("text", {})
            if text.get("type") not in {"mrkdwn", "plain_text"} \
                    or not 0 < len(text.get("text", "")) <= 3000:
                problems.append("a section needs text of 1 to 3000 characters")
        elif kind == "context":
            if not block.get("elements"):
                problems.append("a context needs elements")
        elif kind == "actions":
            for element in block.get("elements", []):
                url = element.get("url", "")
                if element.get("type") != "button" or not url.startswith(("http://",
                                                                          "https://")):
                    problems.append("an action must be a button with an http(s) url")
    return problems


def teams_problems(body: Any) -> list[str]:
    """What Teams would refuse: a message whose attachment is an Adaptive Card."""
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["not a 'message'"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["one attachment expected"]
    attachment = attachments[0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return ["the attachment is not an Adaptive Card"]
    card = attachment.get("content") or {}
    problems: list[str] = []
    if card.get("type") != "AdaptiveCard" or not card.get("version"):
        problems.append("content must be an AdaptiveCard with a version")
    for element in card.get("body", []):
        if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append("a TextBlock needs text")
        elif element.get("type") == "FactSet":
            if not all(isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                       for f in element.get("facts", [])):
                problems.append("facts need a title and a value")
        elif element.get("type") not in {"TextBlock", "FactSet"}:
            problems.append(f"unexpected element {element.get('type')!r}")
    for action in card.get("actions", []):
        if action.get("type") != "Action.OpenUrl" or not action.get("url", "").startswith(
                ("http://", "https://")):
            problems.append("an action must open an http(s) url")
    return problems


class ChatReceiver:
    """Keeps each body it accepted, and each refusal with its problems."""

    def __init__(self, kind: str) -> None:
        self.check = slack_problems if kind == "slack" else teams_problems
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[list[str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/services/T000/B000/XXXX"

    def start(self) -> ChatReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body = json.loads(raw)
                    problems = receiver.check(body)
                except (ValueError, AttributeError, TypeError) as error:
                    body, problems = None, [f"not JSON of the expected shape: {error}"]
                if problems:
                    receiver.refused.append(problems)
                    answer = b"invalid_payload"
                    self.send_response(400)
                else:
                    receiver.accepted.append(body)
                    answer = b"ok"
                    self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
