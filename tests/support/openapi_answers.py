"""Real answers compared with an OpenAPI 3.0 document: which documented response an answer
is, and what in its body the documented schema does not allow.

OpenAPI 3.0 schemas are JSON Schema with ``nullable``; they are turned into JSON Schema
(``nullable: true`` adds ``null``), so a member the service writes as ``null`` fails unless
the document says it may. Dates and times must be in the one form every API writes
(``shared/web/dates.py``): ``date-time`` as RFC 3339 in UTC with ``Z``, ``date`` as
``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

UTC_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Flask's (and email.utils') RFC 1123 date, which no JSON body may hold.
RFC_1123 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
_ANNOTATIONS = ("nullable", "example", "examples", "deprecated", "readOnly", "writeOnly")

FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(lambda value: not isinstance(value, str)
                            or UTC_MOMENT.fullmatch(value) is not None)
FORMATS.checks("date")(lambda value: not isinstance(value, str)
                       or DAY.fullmatch(value) is not None)


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema (object) as JSON Schema."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: json_schema(member) for name, member in value.items()}
        elif key not in _ANNOTATIONS:
            out[key] = json_schema(value)
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def operation_of(document: dict[str, Any], method: str, path: str
                 ) -> tuple[str, dict[str, Any]] | None:
    """The documented (template, operation) a request path is, literal segments first."""
    candidates = []
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path.split("?")[0]) and method.lower() in operations:
            candidates.append((template.count("{"), template))
    if not candidates:
        return None
    template = min(candidates)[1]
    return template, document["paths"][template][method.lower()]


def body_errors(document: dict[str, Any], method: str, path: str, status: int,
                content_type: str, body: Any) -> list[str]:
    """What in an answer its documented response does not allow (empty: it conforms)."""
    found = operation_of(document, method, path)
    if found is None:
        return [f"{method} {path} is not documented"]
    template, operation = found
    responses = operation.get("responses", {})
    response = responses.get(str(status))
    if response is None:
        return [f"{method} {template}: status {status} is not documented"]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].split("/")[-1]]
    media = content_type.split(";")[0].strip()
    content = response.get("content", {})
    if not content:
        return []
    if media not in content:
        return [f"{method} {template} {status}: {media} is not documented ({list(content)})"]
    schema = content[media].get("schema")
    if schema is None:
        return []
    root = {**json_schema(schema), "components": json_schema(document.get("components", {}))}
    validator = Draft202012Validator(root, format_checker=FORMATS)
    return [f"{method} {template} {status}: at {'/'.join(map(str, error.absolute_path))}: "
            f"{error.message}" for error in validator.iter_errors(body)]
