"""Text from events, made safe to show: no invisible characters that reorder or hide it.

Titles, notes, department names and the roll-up's ``why`` come from other people's input,
and every byte from outside is hostile. Before such text is shown to a person (a chat
message, an e-mail's subject and body), :func:`visible` removes

* the bidirectional controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069
  isolates) and marks (U+200E, U+200F, U+061C), with which a title can make the rest of
  a line read backwards (a "Trojan Source" trick);
* the zero-width and invisible characters (U+200B-U+200D, U+2060-U+2064, U+FEFF,
  U+180E), with which a title can look like another or hide text;
* control characters (C0, DEL, C1 and the line and paragraph separators), replaced by a
  space, so that nothing breaks a line in a subject or a header.

The webhook body keeps the event's text as it came: it is data for machines.
"""

from __future__ import annotations

import re

#: Removed: bidi controls and marks, zero-width and invisible formatting characters.
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
                       "\u200b-\u200d\u2060-\u2064\ufeff\u180e]")
#: Replaced by a space: control characters and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    """``text`` without invisible characters, with control characters as spaces."""
    return CONTROL.sub(" ", INVISIBLE.sub("", text))


def visible_lines(text: str) -> str:
    """:func:`visible` of each line, keeping the line breaks (``\\n``) between them."""
    return "\n".join(visible(line) for line in text.split("\n"))
