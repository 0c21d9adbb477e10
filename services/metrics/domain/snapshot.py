"""The figures of every node at one moment: to compare, to serve, to publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from services.metrics.domain.status import Status


class ObjectiveFigures(NamedTuple):
    progress: float | None
    confidence: float | None
    status: Status | None


class KeyResultFigures(NamedTuple):
    current: float | None
    progress: float | None
    confidence: float | None


@dataclass(frozen=True, slots=True)
class RollupSnapshot:
    objectives: dict[str, ObjectiveFigures]
    key_results: dict[str, KeyResultFigures]
