"""A seeded company and its year of goal events, for ``python -m bench scale``.

The shape, per quarterly cycle of one year (every cycle is planned on the year's first day):

* one company objective owned by every department (collective);
* collective targets owned by sales and marketing (every third also by one more
  department, finance and production included), each with a key result that **sums** the
  revenue key results of the department objectives under it;
* department objectives contributing to a collective target of their department (or to
  the company objective), their first key result summing their teams' revenue in sales and
  marketing;
* team objectives contributing to a department objective of their department;
* links: every collective target ``funded_by`` a finance objective and ``supplied_by`` a
  production objective, every tenth team objective ``depends_on`` a production key result.

Every objective has four key results (the last one of the company takes the remainder);
key results are split evenly over the four cycles. Check-ins follow the calendar: a third
of the key results are fed by integrations (CRM, ERP, finance) with a value every night at
02:00, as ``POST /v1/check-ins/batch`` sends them (``source: system``); the others get a
person's weekly check-in on their own weekday and hour, skipped one week in ten. A key
result is checked in during its own quarter only; ``weeks`` ends the year early.

Everything is drawn from one ``random.Random(seed)``: ids, values, envelope ids and times
(the simulated moment of each change), so the same arguments give byte-identical events.
The event data are the goals service's own entities' ``state()``, keyed and typed as its
outbox writes them (docs/events.md).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.goals.domain.goals import (
    Aggregation,
    CheckIn,
    CheckInSource,
    KeyResult,
    Measure,
    Objective,
    ObjectiveKind,
)
from services.goals.domain.graph import Contribution, ItemType, Link, LinkKind
from services.goals.domain.reference_data import Cycle, Department
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from shared.cloudevents import KAFKA_CONTENT_TYPE, CloudEvent
from shared.contract import GOALS_SOURCE, EventType

YEAR = 2025  # a past year: no check-in lies in the future of the goals service's clock
KEY_RESULTS_PER_OBJECTIVE = 4
NAMED_DEPARTMENTS = ["sales", "marketing", "finance", "production", "customer-success",
                     "people", "it", "legal", "procurement", "research"]
INTEGRATION_SHARE = 3  # every third key result is fed nightly by an integration
SKIPPED_WEEK = 0.1  # a person forgets a weekly check-in one week in ten
STATUSES = ["on_track", "at_risk", "off_track"]


@dataclass(frozen=True)
class ScaleOptions:
    key_results: int = 10_000
    departments: int = 8
    subscriptions: int = 10_000
    weeks: int = 52
    seed: int = 2026

    def __post_init__(self) -> None:
        if self.key_results < 4 * 2 * KEY_RESULTS_PER_OBJECTIVE:
            raise ValueError("key results: at least 32 (two objectives in each of 4 cycles)")
        if not 4 <= self.departments <= 100:
            raise ValueError("departments: 4 (the defaults) to 100")
        if not 0 <= self.weeks <= 52 or self.subscriptions < 0:
            raise ValueError("weeks: 0 to 52; subscriptions: 0 or more")


@dataclass(frozen=True)
class GoalEvent:
    """One event as the relay publishes it: partition key, value and headers."""

    key: str
    value: bytes
    event_id: str

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [("content-type", KAFKA_CONTENT_TYPE.encode()), ("ce_id", self.event_id.encode())]


@dataclass
class _Fed:
    """A key result that takes check-ins, with how its value moves through its quarter."""

    key_result: KeyResult
    departments: list[str]
    cycle: Cycle
    integration: bool
    pace: float  # share of the way to target reached by the quarter's end
    weekday: int
    hour: int


@dataclass
class Company:
    """The planned structure; :meth:`events` yields it and its year of check-ins."""

    options: ScaleOptions
    rng: random.Random
    departments: list[str]
    cycles: list[Cycle] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)
    key_results: dict[str, list[KeyResult]] = field(default_factory=dict)  # per objective
    contributions: list[Contribution] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    fed: list[_Fed] = field(default_factory=list)
    check_ins: int = 0

    @classmethod
    def plan(cls, options: ScaleOptions) -> Company:
        rng = random.Random(options.seed)
        keys = (NAMED_DEPARTMENTS + [f"unit-{i}" for i in range(options.departments)])
        company = cls(options, rng, keys[:options.departments])
        for quarter in range(4):
            share = options.key_results // 4 + (quarter < options.key_results % 4)
            company._plan_cycle(quarter, share)
        return company

    # -- identities and moments, all from the seed ----------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @staticmethod
    def planned_at() -> datetime:
        return datetime(YEAR, 1, 1, 8, tzinfo=UTC)

    # -- the structure ---------------------------------------------------------------------

    def _objective(self, cycle: Cycle, kind: ObjectiveKind, departments: list[str],
                   title: str) -> Objective:
        at = self.planned_at()
        objective = Objective(cycle=cycle.key, kind=kind, departments=sorted(departments),
                              owner=f"{departments[0]} lead", title=title, id=self.new_id(),
                              created_at=at, updated_at=at)
        self.objectives.append(objective)
        self.key_results[objective.id] = []
        return objective

    def _key_result(self, objective: Objective, cycle: Cycle, number: int, *,
                    revenue: bool = False, summing: list[KeyResult] | None = None) -> KeyResult:
        """A key result; ``summing``: the revenue key results whose values it adds up."""
        at = self.planned_at()
        rng = self.rng
        if summing:
            measure, unit, start = Measure.INCREASE, "EUR", 0.0
            target = sum(feeder.target for feeder in summing)
        elif revenue:
            measure, unit, start, target = Measure.INCREASE, "EUR", 0.0, rng.randint(5, 50) * 1e4
        else:
            measure = rng.choices([Measure.INCREASE, Measure.DECREASE, Measure.BOOLEAN],
                                  [16, 3, 1])[0]
            start = float(rng.randint(10, 100))
            target = {Measure.INCREASE: start * rng.uniform(1.2, 3.0),
                      Measure.DECREASE: start * rng.uniform(0.2, 0.8),
                      Measure.BOOLEAN: 1.0}[measure]
            unit = rng.choice(["%", "leads", "tickets", "days", "deals"])
            if measure is Measure.BOOLEAN:
                start, unit = 0.0, ""
        key_result = KeyResult(
            objective_id=objective.id, title=f"{objective.title}: key result {number + 1}",
            measure=measure, start=start, target=round(target, 2), unit=unit,
            aggregation=Aggregation.SUM if summing else Aggregation.CHECK_INS, current=start,
            id=self.new_id(), created_at=at, updated_at=at)
        self.key_results[objective.id].append(key_result)
        if not summing:
            self.fed.append(_Fed(key_result, objective.departments, cycle,
                                 integration=revenue or rng.randrange(INTEGRATION_SHARE) == 0,
                                 pace=rng.uniform(0.4, 1.25), weekday=rng.randrange(5),
                                 hour=rng.randint(9, 17)))
        return key_result

    def _contribute(self, child: tuple[ItemType, str], parent: tuple[ItemType, str]) -> None:
        at = self.planned_at()
        self.contributions.append(Contribution(
            child_type=child[0], child_id=child[1], parent_type=parent[0], parent_id=parent[1],
            weight=1.0, created_by="planning", id=self.new_id(), created_at=at))

    def _link(self, kind: LinkKind, source: tuple[ItemType, str, str],
              target: tuple[ItemType, str, str]) -> None:
        at = self.planned_at()
        self.links.append(Link(
            kind=kind, from_type=source[0], from_id=source[1], from_department=source[2],
            to_type=target[0], to_id=target[1], to_department=target[2], note="",
            created_by="planning", id=self.new_id(), created_at=at))

    def _plan_cycle(self, quarter: int, key_results: int) -> None:
        rng, departments = self.rng, self.departments
        starts = date(YEAR, 3 * quarter + 1, 1)
        ends = date(YEAR + (quarter == 3), (3 * quarter + 3) % 12 + 1, 1) - timedelta(days=1)
        at = self.planned_at()
        cycle = Cycle(key=f"{YEAR}-Q{quarter + 1}", name=f"Q{quarter + 1} {YEAR}",
                      starts_on=starts, ends_on=ends, created_at=at, updated_at=at)
        self.cycles.append(cycle)
        objectives = max(2, key_results // KEY_RESULTS_PER_OBJECTIVE)
        targets = max(1, objectives // 40)
        heads = max(len(departments), objectives // 5)
        teams = max(0, objectives - 1 - targets - heads)
        company = self._objective(cycle, ObjectiveKind.COLLECTIVE, departments,
                                  f"{cycle.key} company goal")
        shared = [self._objective(cycle, ObjectiveKind.COLLECTIVE,
                                  ["sales", "marketing"] + ([departments[2 + t // 3 % (
                                      len(departments) - 2)]] if t % 3 == 2 else []),
                                  f"{cycle.key} collective target {t + 1}")
                  for t in range(targets)]
        owned = [self._objective(cycle, ObjectiveKind.DEPARTMENT, [departments[d % len(
            departments)]], f"{cycle.key} {departments[d % len(departments)]} objective {d + 1}")
            for d in range(heads)]
        team = [self._objective(cycle, ObjectiveKind.DEPARTMENT, [departments[d % len(
            departments)]], f"{cycle.key} {departments[d % len(departments)]} team goal {d + 1}")
            for d in range(teams)]
        # the edges, decided before the key results so that a sum knows what feeds it
        parent_of: dict[str, Objective] = {o.id: company for o in shared}
        for objective in owned:
            candidates = [t for t in shared if objective.departments[0] in t.departments]
            parent_of[objective.id] = rng.choice(candidates) if candidates else company
        by_department = {d: [o for o in owned if o.departments[0] == d] for d in departments}
        for objective in team:
            parent_of[objective.id] = rng.choice(by_department[objective.departments[0]])
        by_id = {o.id: o for o in shared + owned + team}
        children: dict[str, list[Objective]] = {}
        for child, parent in parent_of.items():
            children.setdefault(parent.id, []).append(by_id[child])
        # key results, bottom up, so a summing one comes after what it sums
        revenue: dict[str, KeyResult] = {}
        left = key_results
        everyone = team + owned + shared + [company]
        for index, objective in enumerate(everyone):
            count = KEY_RESULTS_PER_OBJECTIVE if index < len(everyone) - 1 else left
            count = max(0, min(count, left))
            sells = objective is not company and bool({"sales", "marketing"}
                                                       & set(objective.departments))
            feeders = [revenue[c.id] for c in children.get(objective.id, []) if c.id in revenue]
            for number in range(count):
                if number == 0 and sells:
                    revenue[objective.id] = self._key_result(objective, cycle, 0, revenue=True,
                                                             summing=feeders)
                else:
                    self._key_result(objective, cycle, number)
            left -= count
            if objective.id in revenue:
                for feeder in feeders:
                    self._contribute((ItemType.KEY_RESULT, feeder.id),
                                     (ItemType.KEY_RESULT, revenue[objective.id].id))
        for child, parent in parent_of.items():
            self._contribute((ItemType.OBJECTIVE, child), (ItemType.OBJECTIVE, parent.id))
        finance, production = by_department["finance"], by_department["production"]
        for target in shared:
            self._link(LinkKind.FUNDED_BY, (ItemType.OBJECTIVE, target.id, "sales"),
                       (ItemType.OBJECTIVE, rng.choice(finance).id, "finance"))
            self._link(LinkKind.SUPPLIED_BY, (ItemType.OBJECTIVE, target.id, "marketing"),
                       (ItemType.OBJECTIVE, rng.choice(production).id, "production"))
        supplies = [k for o in production for k in self.key_results[o.id]]
        for objective in team[::10]:
            if objective.departments[0] != "production" and supplies:
                self._link(LinkKind.DEPENDS_ON,
                           (ItemType.OBJECTIVE, objective.id, objective.departments[0]),
                           (ItemType.KEY_RESULT, rng.choice(supplies).id, "production"))

    # -- the events ------------------------------------------------------------------------

    def _event(self, event_type: EventType, subject: str, key: str, data: dict[str, Any],
               at: datetime) -> GoalEvent:
        event = CloudEvent(type=event_type.value, source=GOALS_SOURCE, subject=subject,
                           data=data, id=self.new_id(), time=at)
        return GoalEvent(key, event.to_json(), event.id)

    def structure_events(self) -> Iterator[GoalEvent]:
        """Departments, cycles, objectives (parents first), key results (what a sum adds up
        first), contributions, links: as the goals service publishes them."""
        at = self.planned_at()
        for key in self.departments:
            department = Department(key=key, name=key.replace("-", " ").title(),
                                    created_at=at, updated_at=at)
            yield self._event(EventType.DEPARTMENT_CREATED, f"department/{key}", key,
                              department.state(), at)
        for cycle in self.cycles:
            yield self._event(EventType.CYCLE_CREATED, f"cycle/{cycle.key}", cycle.key,
                              cycle.state(), at)
        for objective in self.objectives:
            yield self._event(EventType.OBJECTIVE_CREATED, f"objective/{objective.id}",
                              objective.id, objective.state(), at)
        for objective_id, key_results in self.key_results.items():
            for key_result in key_results:
                yield self._event(EventType.KEY_RESULT_CREATED, f"key_result/{key_result.id}",
                                  objective_id, key_result.state(), at)
        owner = {k.id: k.objective_id for ks in self.key_results.values() for k in ks}
        for contribution in self.contributions:
            parent = owner.get(contribution.parent_id, contribution.parent_id)
            yield self._event(EventType.CONTRIBUTION_ADDED, f"contribution/{contribution.id}",
                              parent, contribution.state(), at)
        for link in self.links:
            yield self._event(EventType.LINK_CREATED, f"link/{link.id}",
                              owner.get(link.from_id, link.from_id), link.state(), at)

    def check_in_events(self, first_day: int, days: int,
                        people: bool = True) -> Iterator[GoalEvent]:
        """The check-ins of ``days`` days from day ``first_day`` of the year (0 = 1 January),
        in time order: each night's integration batch at 02:00, then the people's weekly
        check-ins of the day (``people=False``: the nightly batches only)."""
        rng = self.rng
        for day in range(first_day, first_day + days):
            today = date(YEAR, 1, 1) + timedelta(days=day)
            live = [f for f in self.fed if f.cycle.starts_on <= today <= f.cycle.ends_on]
            due = [f for f in live if f.integration or (
                people and f.weekday == today.weekday() and rng.random() >= SKIPPED_WEEK)]
            moments = [datetime(today.year, today.month, today.day,
                                2 if f.integration else f.hour, rng.randrange(60), tzinfo=UTC)
                       for f in due]
            for at, fed in sorted(zip(moments, due, strict=True), key=lambda pair: pair[0]):
                yield self._check_in(fed, at)

    def _check_in(self, fed: _Fed, at: datetime) -> GoalEvent:
        rng, key_result, cycle = self.rng, fed.key_result, fed.cycle
        today = at.date()
        elapsed = ((today - cycle.starts_on).days + 1) / ((cycle.ends_on - cycle.starts_on).days
                                                          + 1)
        reached = fed.pace * elapsed
        if key_result.measure is Measure.BOOLEAN:
            value = 1.0 if reached >= 0.9 else 0.0
        else:
            value = round(key_result.start + (key_result.target - key_result.start) * reached
                          * rng.uniform(0.97, 1.03), 2)
        confidence = None if fed.integration else round(
            min(1.0, max(0.1, fed.pace - 0.2 + rng.uniform(-0.1, 0.1))), 2)
        source = CheckInSource.SYSTEM if fed.integration else CheckInSource.PERSON
        author = f"{fed.departments[0]}-sync" if fed.integration else f"{fed.departments[0]} lead"
        check_in = CheckIn(key_result_id=key_result.id, value=value, confidence=confidence,
                           note="", author=author, source=source, id=self.new_id(),
                           created_at=at, observed_at=at)
        key_result.record_value(value, confidence, at, at)
        key_result.updated_at = at  # record_value stamps the wall clock
        self.check_ins += 1
        return self._event(EventType.KEY_RESULT_CHECKED_IN, f"key_result/{key_result.id}",
                           key_result.objective_id,
                           {"check_in": check_in.state(), "key_result": key_result.state()}, at)

    def year_events(self) -> Iterator[GoalEvent]:
        """The structure, then ``options.weeks`` weeks of check-ins from 1 January."""
        yield from self.structure_events()
        yield from self.check_in_events(0, 7 * self.options.weeks)

    def expected_events(self) -> int:
        """About how many :meth:`year_events` yields (people skip weeks at random): for
        progress and ETA."""
        structure = (len(self.departments) + len(self.cycles) + len(self.objectives)
                     + sum(map(len, self.key_results.values())) + len(self.contributions)
                     + len(self.links))
        end = date(YEAR, 1, 1) + timedelta(days=7 * self.options.weeks - 1)
        check_ins = 0.0
        for fed in self.fed:
            last = min(end, fed.cycle.ends_on)
            days = max(0, (last - fed.cycle.starts_on).days + 1)
            check_ins += days if fed.integration else days / 7 * (1 - SKIPPED_WEEK)
        return structure + round(check_ins)

    # -- who reads about it ----------------------------------------------------------------

    def subscriptions(self, count: int) -> list[Subscription]:
        """People's subscriptions: one in twenty follows its department's default rules;
        most name one or two objectives (collective targets and their own department's),
        the rest a department with the statuses they care about; digests mostly, as the
        brief asks (worth reading), some immediate."""
        rng, at = self.rng, self.planned_at()
        watched = [o.id for o in self.objectives if o.kind is ObjectiveKind.COLLECTIVE] + [
            o.id for o in self.objectives[:: max(1, len(self.objectives) // 2_000)]]
        made = []
        for number in range(count):
            department = rng.choice(self.departments)
            if number % 20 == 0:
                filters = Filters()
            elif rng.random() < 0.8:
                filters = Filters(objectives=frozenset(rng.sample(watched, rng.randint(1, 2))),
                                  statuses=frozenset(rng.sample(STATUSES, rng.randint(0, 2))))
            else:
                filters = Filters(departments=frozenset([department]),
                                  statuses=frozenset(rng.sample(STATUSES, rng.randint(1, 2))))
            email = rng.random() < 0.5
            made.append(Subscription(
                id=self.new_id(), recipient=f"person-{number % 5_000}", department=department,
                channel=Channel.EMAIL if email else Channel.WEBHOOK,
                target=(f"person-{number % 5_000}@example.org" if email
                        else f"https://hooks.example.org/{department}"),
                secret=None if email else "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                filters=filters,
                mode=DeliveryMode.IMMEDIATE if rng.random() < 0.2 else DeliveryMode.DIGEST,
                digest_interval_seconds=86_400, created_by="bench", created_at=at,
                updated_at=at))
        return made

