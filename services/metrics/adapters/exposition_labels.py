"""Label values of the Prometheus text format (exposition format 0.0.4): escaped as the
format requires (backslash, double quote, newline); free text (titles, owners, units)
bounded (``TEXT_LABEL_LIMITS``), its control characters other than newline written as
spaces and lone surrogates as U+FFFD."""

from __future__ import annotations

#: The longest text written in a free-text label, in characters (the goals API's own limits;
#: longer text, from a hostile event, is cut and ends with "…").
TEXT_LABEL_LIMITS = {"title": 200, "owner": 100, "unit": 20}


def needs_escaping(value: str) -> bool:
    return "\\" in value or '"' in value or "\n" in value


def escape(value: str) -> str:
    if needs_escaping(value):
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


#: control characters other than newline (escaped as \n), and lone surrogates (not UTF-8)
_UNWRITABLE = {code: " " for code in (*range(0x00, 0x0A), *range(0x0B, 0x20),
                                      *range(0x7F, 0xA0))}
_UNWRITABLE.update({code: "\ufffd" for code in range(0xD800, 0xE000)})


def text_label(value: str, limit: int) -> str:
    """Free text (a title, an owner, a unit) as an escaped label value: at most ``limit``
    characters, control characters but newline as spaces, lone surrogates as U+FFFD."""
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    if not value.isprintable():
        value = value.translate(_UNWRITABLE)
    return escape(value)


def owners(departments: str) -> list[str]:
    """The owning departments of a read-model row (stored joined by "+"), each escaped."""
    return [escape(department) for department in departments.split("+")]
