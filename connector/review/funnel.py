"""The funnel, measured from what happened to each person: the stage transitions the
sync recorded and what became of their deals. Pure: journeys in, numbers out; the
caller says what `now` is and which period to look at.

A journey's cohort is the moment marketing qualified it (its first move to MQL).
Conversion counts what a cohort reached within a horizon after qualifying, so a recent
cohort is not compared, half-grown, with an older one that had months to convert."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from mqlsync.connector.model import Stage, Transition, as_utc

#: the steps of the funnel a review measures; "won" is a deal won (or the customer stage)
STEPS = ("mql", "sal", "sql", "opportunity", "won")
_RANKS = {"mql": Stage.MQL.rank, "sal": Stage.SAL.rank, "sql": Stage.SQL.rank,
          "opportunity": Stage.OPPORTUNITY.rank}
#: the stages a person spends time in on the way
TIMED = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Outcome:
    """What became of a person's deal: won, lost, or open (won is None)."""

    won: bool | None
    closed_at: datetime | None = None
    amount: float | None = None
    deal: str | None = None


@dataclass(frozen=True)
class Journey:
    """One person's way through the funnel: the stage transitions in time order, and
    what they looked like when marketing qualified them (for the breakdowns)."""

    person: str
    steps: tuple[Transition, ...] = ()
    channel: str | None = None
    grade: str | None = None
    score: float | None = None
    rules: tuple[str, ...] = ()
    model_version: str | None = None
    outcome: Outcome | None = None

    # Derived once per journey (a review asks each journey the same questions for every
    # breakdown and signal): the dataclass is frozen, so these never go stale.
    @cached_property
    def mql_at(self) -> datetime | None:
        """When marketing qualified the person (the first move to MQL); None for people
        sales took on without one (set to SQL in the CRM)."""
        return next((as_utc(t.at) for t in self.steps if t.to_stage == Stage.MQL), None)

    @cached_property
    def _milestones(self) -> dict[str, datetime | None]:
        start = self.mql_at
        out: dict[str, datetime | None] = dict.fromkeys(STEPS)
        if start is None:
            return out
        for t in self.steps:
            at = as_utc(t.at)
            if at < start or t.to_stage in (Stage.RECYCLED, Stage.DISQUALIFIED):
                continue
            for step, rank in _RANKS.items():
                if out[step] is None and t.to_stage.rank >= rank:
                    out[step] = at
            if out["won"] is None and t.to_stage == Stage.CUSTOMER:
                out["won"] = at
        outcome = self.outcome
        if outcome is not None and outcome.won and outcome.closed_at is not None:
            out["won"] = max(as_utc(outcome.closed_at), start)
        return out

    def reached(self, step: str) -> datetime | None:
        """When the journey first reached a step, or a later one, after qualifying."""
        return self._milestones[step]

    @cached_property
    def stays(self) -> tuple[tuple[str, float], ...]:
        """(stage, days) of every stage left since qualifying, for the time in stage."""
        start = self.mql_at
        if start is None:
            return ()
        return tuple((here.to_stage.value, (as_utc(after.at) - as_utc(here.at)) / DAY)
                     for here, after in zip(self.steps, self.steps[1:], strict=False)
                     if here.to_stage in TIMED and as_utc(here.at) >= start)

    @cached_property
    def _rejection(self) -> Transition | None:
        start = self.mql_at
        if start is None:
            return None
        return next((t for t in self.steps if t.to_stage == Stage.RECYCLED
                     and t.reason.startswith("rejected by sales") and as_utc(t.at) >= start), None)

    @property
    def rejected_at(self) -> datetime | None:
        """When sales rejected the person after marketing qualified them."""
        return as_utc(self._rejection.at) if self._rejection else None

    @property
    def rejection_reason(self) -> str | None:
        """The CRM's value behind the rejection: "rejected by sales on 2026-11-02 (BAD_TIMING)"."""
        reason = self._rejection.reason if self._rejection else ""
        return reason[reason.index("(") + 1:-1] if reason.endswith(")") and "(" in reason else None

    @property
    def out_of_order(self) -> bool:
        """A deal won before the person's first qualification: the data disagrees with
        itself (a date typed wrong, or a record imported late)."""
        start, outcome = self.mql_at, self.outcome
        return bool(start and outcome and outcome.won and outcome.closed_at and as_utc(outcome.closed_at) < start)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Funnel:
    """One cohort's funnel: how many reached each step within the horizon, the rate of
    each step from the one before, rejections, and the time spent (median days)."""

    start: datetime
    end: datetime
    horizon_days: float
    reached: dict[str, int]
    rejected: int
    days_in_stage: dict[str, float | None]
    days_to_won: float | None
    won_amount: float
    out_of_order: int
    #: rejections by the CRM's reason ("(none)" where it gave none), most first
    rejection_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def mqls(self) -> int:
        return self.reached["mql"]

    def rate(self, step: str, base: str = "mql") -> float | None:
        return _rate(self.reached[step], self.reached[base])

    @property
    def steps(self) -> dict[str, float | None]:
        """Each step's conversion from the step before it."""
        return {b: _rate(self.reached[b], self.reached[a]) for a, b in zip(STEPS, STEPS[1:], strict=False)}

    @property
    def rejection_rate(self) -> float | None:
        return _rate(self.rejected, self.mqls)


def cohort(journeys: Iterable[Journey], start: datetime, end: datetime) -> list[Journey]:
    """The journeys marketing qualified in [start, end)."""
    start, end = as_utc(start), as_utc(end)
    return [j for j in journeys if (at := j.mql_at) is not None and start <= at < end]


def funnel(journeys: Iterable[Journey], start: datetime, end: datetime, horizon_days: float = 90) -> Funnel:
    """The funnel of the people qualified in [start, end): what each reached within
    `horizon_days` of qualifying (a deal won later is counted by `days_to_won`, not as a
    conversion of this cohort), rejections in that time, median days in each stage and
    to a won deal."""
    horizon = timedelta(days=horizon_days)
    members = cohort(journeys, start, end)
    reached = dict.fromkeys(STEPS, 0)
    rejected = 0
    reasons: Counter[str] = Counter()
    stays: dict[str, list[float]] = {s.value: [] for s in TIMED}
    to_won: list[float] = []
    amount = 0.0
    disordered = 0
    for j in members:
        mql_at = j.mql_at
        assert mql_at is not None  # a cohort member was qualified
        latest = mql_at + horizon
        for step, at in j._milestones.items():
            if at is not None and at <= latest:
                reached[step] += 1
        rejected_at = j.rejected_at
        if rejected_at is not None and rejected_at - mql_at <= horizon:
            rejected += 1
            reasons[j.rejection_reason or "(none)"] += 1
        for stage, days in j.stays:
            stays[stage].append(days)
        if j.out_of_order:
            disordered += 1
        elif (won := j.reached("won")) is not None:
            to_won.append((won - mql_at) / DAY)
            amount += (j.outcome.amount or 0.0) if j.outcome else 0.0
    return Funnel(as_utc(start), as_utc(end), horizon_days, reached, rejected,
                  {k: median(v) for k, v in stays.items()}, median(to_won), amount, disordered,
                  dict(reasons.most_common()))


def score_band(score: float | None, width: int = 20) -> str | None:
    """"60-79" for a score of 65: the bands a breakdown by score groups people in."""
    if score is None:
        return None
    low = int(score // width) * width
    return f"{low}-{low + width - 1}"


#: how a breakdown groups journeys: each journey's keys (a rule: every rule it fired)
DIMENSIONS: dict[str, Callable[[Journey], Iterable[str | None]]] = {
    "channel": lambda j: [j.channel],
    "grade": lambda j: [j.grade],
    "score band": lambda j: [score_band(j.score)],
    "rule": lambda j: j.rules,
    "model version": lambda j: [j.model_version],
    "month": lambda j: [f"{j.mql_at:%Y-%m}" if j.mql_at else None],
}


@dataclass(frozen=True)
class Breakdown:
    """One dimension's funnels, by value, largest first."""

    dimension: str
    groups: dict[str, Funnel] = field(default_factory=dict)


def breakdown(journeys: Sequence[Journey], dimension: str, start: datetime, end: datetime,
              horizon_days: float = 90) -> Breakdown:
    members = cohort(journeys, start, end)
    keyed: dict[str, list[Journey]] = {}
    for j in members:
        for key in DIMENSIONS[dimension](j):
            keyed.setdefault(key if key is not None else "(none)", []).append(j)
    groups = {k: funnel(v, start, end, horizon_days) for k, v in keyed.items()}
    # Months in time order; any other dimension largest first.
    ordered = dict(sorted(groups.items(), key=lambda kv: (kv[0],) if dimension == "month" else (-kv[1].mqls, kv[0])))
    return Breakdown(dimension, ordered)
