"""Per-event CPU of the consumers' decoding (``python -m bench.decoding``): no broker, no
database, one process.

Times, in microseconds per event, over a realistic stream of ``okr.goals.v1`` values (the
mix of ``python -m bench.metrics --only throughput``: one objective and one key result
created per hundred events, the rest check-ins carrying the key result's full state; a
quarter of the texts hold non-ASCII characters, which the producer writes as ``\\uXXXX``
escapes):

* ``parse``: :func:`shared.cloudevents.parse_event` of the raw bytes;
* ``decode``: the metrics consumer's ``decode`` of the parsed event (the typed contract
  decoder and the mapping onto the read model's states);
* ``parse + decode``: both, as the consumer runs them.

It imports only :mod:`shared` and :mod:`services`, never the rest of ``bench``, so the same
file times another checkout of the code side by side: ``PYTHONPATH=<checkout> python
bench/decoding.py``. The figure is the median of ``--repeats`` timings of the whole stream
(the machine is shared: alternate checkouts and compare medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from services.metrics.service_layer.goal_events import decode
from shared.cloudevents import CloudEvent, new_event, parse_event
from shared.contract import EventType

AT = "2026-11-02T09:30:00Z"
GOALS = "/okr/goals"


def goal_events(count: int) -> list[bytes]:
    """``count`` values of okr.goals.v1 as the goals service writes them."""
    def event(event_type: EventType, data: dict[str, Any]) -> bytes:
        return new_event(event_type, GOALS, "bench", data).to_json()

    def title(number: int) -> str:
        return f"Réduire le délai de livraison {number}" if number % 4 == 0 else \
            f"Reduce delivery lead time {number}"

    objectives = max(1, count // 100)
    out = []
    ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(objectives)]
    for number, (objective, kr) in enumerate(ids):
        out.append(event(EventType.OBJECTIVE_CREATED, {
            "id": objective, "version": 1, "cycle": "2026-Q4", "kind": "department",
            "departments": ["sales"], "owner": "Ada Lovelace", "title": title(number),
            "description": "Ship faster without breaking things.", "status": "active",
            "created_at": AT, "updated_at": AT}))
        out.append(event(EventType.KEY_RESULT_CREATED, _kr(kr, objective, 1, number)))
    version = 1
    while len(out) < count:
        version += 1
        for number, (objective, kr) in enumerate(ids):
            if len(out) >= count:
                break
            out.append(event(EventType.KEY_RESULT_CHECKED_IN, {
                "key_result": _kr(kr, objective, version, number), "check_in": {
                    "id": str(uuid.uuid4()), "key_result_id": kr, "value": version * 1.5,
                    "confidence": 0.6, "note": title(version) if version % 3 == 0 else "",
                    "author": "Grace Hopper", "source": "person", "created_at": AT}}))
    return out


def _kr(kr: str, objective: str, version: int, number: int) -> dict[str, Any]:
    return {"id": kr, "objective_id": objective, "version": version,
            "title": f"Lead time under {number % 10 + 2} days", "measure": "increase",
            "start": 0, "target": 100, "unit": "%", "weight": 1, "aggregation": "check_ins",
            "current": version * 1.5, "confidence": 0.6,
            "last_checkin_at": AT if version > 1 else None, "created_at": AT,
            "updated_at": AT}


def per_event(function: Callable[[Any], Any], items: Sequence[Any], repeats: int) -> list[float]:
    """CPU microseconds per item of ``function`` over ``items``, once per repeat (CPU time,
    not wall time: on a shared machine the wall clock also counts other processes' turns)."""
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        for item in items:
            function(item)
        timings.append((time.process_time() - started) * 1e6 / len(items))
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decoding", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--label", default="", help="a name printed with the figures")
    args = parser.parse_args(argv)
    raw = goal_events(args.events)
    parsed: list[CloudEvent] = [parse_event(value) for value in raw]
    for event in parsed:
        decode(event)  # all valid: a failure here is a bug, not a measurement

    def both(value: bytes) -> object:
        return decode(parse_event(value))

    label = f"{args.label}: " if args.label else ""
    print(f"{label}{len(raw)} events, {sum(map(len, raw)) / len(raw):.0f} bytes on average, "
          f"median (min-max) of {args.repeats} passes, CPU us/event")
    for name, function, items in (("parse", parse_event, raw), ("decode", decode, parsed),
                                  ("parse + decode", both, raw)):
        timings = per_event(function, items, args.repeats)
        print(f"{label}{name:<15} {statistics.median(timings):7.2f}  "
              f"({min(timings):.2f}-{max(timings):.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
