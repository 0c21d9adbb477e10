"""An objective's kept outlook (``domain/explain.py``'s ``Kept``) as the ``objectives.outlook``
column holds it: JSON ``{"parts": [[department, weight, part], ...], "line": [at, value,
slope] | null, "risk": [the LinkEnd's fields in order] | null, "risks": [[...], ...]}``:
the dependencies at risk, most at risk first, and the first of them again as ``"risk"``,
which is all an outlook written before they all were kept holds (and all that a metrics
API of that time reads, so both read the rows of the other during a rolling upgrade).
Python's JSON writes a float as its shortest repr, so every figure reads back exactly as
it was computed.
"""

from __future__ import annotations

import json

from services.metrics.domain.explain import Kept, LinkEnd
from services.metrics.domain.forecast import Line


def encoded(kept: Kept | None) -> str | None:
    if kept is None:
        return None
    risks = [[getattr(risk, name) for name in LinkEnd.__slots__] for risk in kept.risks]
    return json.dumps({"parts": [list(row) for row in kept.parts],
                       "line": None if kept.line is None else list(kept.line),
                       "risk": risks[0] if risks else None, "risks": risks},
                      separators=(",", ":"))


def decoded(stored: str | None) -> Kept | None:
    """None: nothing kept yet (a row written before the column existed, until the
    objective changes again or ``okr-metrics rebuild`` runs)."""
    if not stored:
        return None
    held = json.loads(stored)
    parts = tuple((str(d), float(w), float(p)) for d, w, p in held["parts"])
    line = None if held["line"] is None else Line(*(float(part) for part in held["line"]))
    if "risks" in held:
        return Kept(parts, line, tuple(LinkEnd(*risk) for risk in held["risks"]))
    first = held["risk"]
    return Kept(parts, line, () if first is None else (LinkEnd(*first),), all_risks=False)
