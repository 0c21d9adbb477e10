"""Hostile values for every API, as hypothesis strategies: one place for what an attacker or a
careless integrator sends, beyond anything the OpenAPI documents allow.

JSON is produced as raw text, so that what ``json.dumps`` would never write (``NaN``, 5,000
digits, 100,000 brackets, lone surrogate escapes) reaches the service as it would over HTTP.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

#: Text no service stores, or that breaks naive code: NUL and other controls, lone
#: surrogates, a BOM, right-to-left override, characters outside the BMP, non-ASCII digits.
ODD_CHARACTERS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\n", "\r", "\t",
                  "\ud800", "\udfff", "\ufeff", "\u202e", "\U0001f600", "\u0661\u0662", "²",
                  "\u2028", "\uffff", "%00", "'", '"', "\\", "../"]

_with_odd_character = st.builds(lambda a, odd, b: a + odd + b, st.text(max_size=5),
                                st.sampled_from(ODD_CHARACTERS), st.text(max_size=5))
hostile_text: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(ODD_CHARACTERS), _with_odd_character, _with_odd_character,
    st.text(alphabet=st.characters(codec=None), max_size=20),  # includes lone surrogates
    st.integers(min_value=200, max_value=70_000).map(lambda n: "x" * n),
    st.sampled_from(["", " ", "2026-Q4", "sales", "null", "true", "0", "-1"]),
)

#: JSON number and constant literals, as raw text; several are not JSON at all.
hostile_number_literal: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0",
                     "9" * 25, "-" + "9" * 25, "9" * 5000, "1" + "0" * 4301, "1.5e308",
                     "0.1e999999999", "9223372036854775808", "-9223372036854775809",
                     "1E+2", "0x10", "01", ".5", "1.", "+1", "1_000"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)

#: Dates near and beyond the ends of the calendar, and strings that only look like dates.
hostile_date: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["9999-12-31", "0001-01-01", "1999-12-31", "3000-01-01", "2026-02-30",
                     "+10000-01-01", "2026-13-01", "2026-1-1", "2026-10-01T00:00:00Z",
                     "\u0662\u0660\u0662\u0666-\u0661\u0660-\u0660\u0661", "20261001", ""]),
    st.dates().map(str),
)


def raw(value: str) -> str:
    """A JSON string literal for ``value``, lone surrogates written as escapes."""
    return json.dumps(value, ensure_ascii=True)


def deep(depth: int, kind: str = "[") -> str:
    return (kind * depth + ("]" if kind == "[" else "") * depth if kind == "["
            else '{"a":' * depth + "1" + "}" * depth)


#: Raw JSON documents that are hostile as a whole.
hostile_document: st.SearchStrategy[str] = st.one_of(
    st.sampled_from([33, 1000, 100_000]).flatmap(
        lambda depth: st.sampled_from([deep(depth, "["), deep(depth, "{")])),
    st.sampled_from(["NaN", "[NaN]", '{"a": Infinity}', "", " ", "{", "[1,]", '{"a":1,}',
                     '{"a":1}{"b":2}', "\ufeff{}", '{"a":"\\ud800"}', '{"\\u0000":1}',
                     '"' + "x" * 100_000 + '"', "[" + ",".join(["1"] * 20_000) + "]",
                     "null", "true", "[]", '{"a":"\\x41"}', "{'a': 1}"]),
)

#: Raw values the input boundary refuses, one of each class, wherever they stand.
refused_literal: st.SearchStrategy[str] = st.sampled_from([
    "NaN", "-Infinity", "1e400", "9" * 25, "9" * 5000, '"a\\ud800b"', '"\\udfff"',
    '"a\\u0000b"', '"\\u001b"', '"\\u0085"', '{"na\\u0007me": 1}', deep(33)])

#: A JSON value of any type, as raw text, to put where a field of some type is expected.
hostile_value: st.SearchStrategy[str] = st.one_of(
    refused_literal, refused_literal, refused_literal,
    hostile_text.map(raw),
    hostile_number_literal,
    hostile_date.map(raw),
    st.sampled_from(["null", "true", "false", "[]", "{}", "[null]", '{"": null}', deep(40)]),
)


def with_fields(body: dict[str, Any], literals: dict[str, str]) -> str:
    """``body`` as raw JSON, with each field of ``literals`` set to its raw JSON literal."""
    members = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in body.items()
               if key not in literals]
    members += [f"{json.dumps(field)}: {literal}" for field, literal in literals.items()]
    return "{" + ", ".join(members) + "}"


def with_field(body: dict[str, Any], field: str, literal: str) -> str:
    """``body`` as raw JSON, with ``field`` set to the raw JSON ``literal``."""
    return with_fields(body, {field: literal})


def hostile_bodies(valid: dict[str, Any] | None) -> st.SearchStrategy[bytes]:
    """Bodies for a route that takes ``valid``: it with one text field given an odd
    character (the rest valid, so the value reaches the handler), it with several fields
    hostile, or a hostile document; bytes as a client would send them."""
    documents = [hostile_document, hostile_document]
    if valid:
        fields = [*sorted(valid), "unknown_field"]
        some_fields = st.dictionaries(st.sampled_from(fields), hostile_value, min_size=1,
                                      max_size=len(fields)).map(
            lambda literals: with_fields(valid, literals))
        texts = sorted(key for key, value in valid.items() if isinstance(value, str))
        documents = [some_fields, some_fields, hostile_document]
        if texts:
            one_text = st.builds(
                lambda field, odd, at_end: with_field(
                    valid, field, raw(valid[field] + odd if at_end else odd + valid[field])),
                st.sampled_from(texts), st.sampled_from(ODD_CHARACTERS), st.booleans())
            documents = [one_text, one_text, one_text, *documents]
    raw_bytes = st.sampled_from([b"\xff\xfe{}", b'{"a": "\xed\xa0\x80"}', b"\x00",
                                 b'{"a": "caf\xe9"}'])
    return st.one_of(*(document.map(lambda text: text.encode("utf-8", "surrogatepass"))
                       for document in documents), raw_bytes)


#: Header values a client may send (HTTP carries bytes; the services see them as Latin-1).
_latin1_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                              exclude_characters="\x7f"), max_size=40)
hostile_headers: st.SearchStrategy[dict[str, str]] = st.fixed_dictionaries({}, optional={
    "If-Match": st.one_of(st.sampled_from(['"²"', '"\u00b9"', '"1"', '"01"', '"0"', '"-1"', "1",
                                           "*", 'W/"1"', '"1", "2"', '"' + "9" * 40 + '"', '""',
                                           '"1" garbage', '"' + "9" * 9000 + '"']),
                          _latin1_text),
    "Idempotency-Key": st.one_of(st.sampled_from(["", " ", "k" * 201, "key-é", "k" * 9000]),
                                 _latin1_text),
    "X-Request-ID": _latin1_text,
    "Content-Type": st.sampled_from(["application/json", "text/plain",
                                     "application/json; charset=utf-16",
                                     "application/merge-patch+json", "multipart/form-data"]),
    "Accept": st.sampled_from(["*/*", "text/html", "application/xml", "\u00ff"]),
})

#: Authorization headers: none, malformed, non-ASCII, overlong.
hostile_authorization: st.SearchStrategy[str | None] = st.sampled_from(
    [None, "", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer caf\u00e9",
     "Bearer " + "a" * 5000, "bearer\tx", "Bearer \u00ff\u00fe"])


def hostile_path_segment() -> st.SearchStrategy[str]:
    """A path parameter: hostile text, percent-encoded as a client must send it."""
    return hostile_text.map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="")
                            or "%20")


hostile_query: st.SearchStrategy[str] = st.lists(
    st.tuples(st.sampled_from(["page", "page_size", "cycle", "department", "kind", "status",
                               "depth", "active_on", "since", "until", "owner", "item_id",
                               "recipient", "subscription_id", "direction", "x"]),
              st.one_of(hostile_text, hostile_number_literal, hostile_date)),
    max_size=3,
).map(lambda pairs: "&".join(
    f"{key}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for key, value in pairs))
