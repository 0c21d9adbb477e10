"""Optimistic concurrency over HTTP: ``ETag`` on reads, ``If-Match`` on writes.

Every item carries a version; a read answers with ``ETag: "<version>"``, and an update or a
deletion must send that ETag back in ``If-Match``: 428 without one, 412 when the item has
changed since (the service compares the version, see each service's ``StaleVersion``).
"""

from __future__ import annotations

import re

from flask import request

from shared.web.problems import abort_with_problem

# As the ETag writes it: an entity tag is compared as a string (RFC 9110, 8.8.3.2), so
# "01" does not name the version whose ETag is "1".
VERSION = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_VERSION = 2**63 - 1
STALE = "If-Match names an older version"
MISSING_IF_MATCH = "If-Match is missing"


def expected_version() -> int:
    """The version named by ``If-Match``; 428 without one, 412 if it is not a version."""
    if not request.if_match or request.if_match.star_tag:
        if request.if_match and request.if_match.star_tag:
            abort_with_problem(428, "If-Match must name the version read (its ETag), not '*'")
        abort_with_problem(428, "send If-Match with the ETag you read, so no update is lost")
    tags = request.if_match.as_set()
    if len(tags) != 1:
        abort_with_problem(412, "If-Match must name exactly one version")
    (tag,) = tags
    if not tag:  # '""': werkzeug reads the empty entity tag as no tag at all
        abort_with_problem(412, "If-Match names an empty entity tag, not a version of this "
                                "item")
    # ASCII digits only, no leading zero: str.isdigit and int() also take '²' or '١٢', and
    # int() '01'. A version fits 63 bits.
    if not VERSION.fullmatch(tag) or int(tag) > MAX_VERSION:
        abort_with_problem(412, f"If-Match {tag!r} is not a version of this item")
    return int(tag)


def with_etag(response_body: object, version: int) -> tuple[object, int, dict[str, str]]:
    return response_body, 200, {"ETag": f'"{version}"'}
