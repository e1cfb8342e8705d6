"""`mqlsync review`: is the MQL definition working? Journeys from a connection's state
(or a history of CSV exports), the funnel of a period, its breakdowns, each rule's lift,
and the four signals, as one report: terminal, JSON or a self-contained HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.model import DealOutcome, Transition, iso
from mqlsync.connector.review import Funnel, Journey, Outcome, Signal, breakdown, funnel, signals
from mqlsync.connector.review.funnel import STEPS
from mqlsync.connector.scoring import Scorer
from mqlsync.connector.state import StateStore

from .leads import stored

#: the breakdowns a report shows, in order
SHOWN = ("channel", "grade", "score band", "model version", "month")


def journeys_from_state(loaded: LoadedMapping, store: StateStore) -> list[Journey]:
    """Every person of the connection the state has seen move, with what they looked
    like when qualified: their channel, and their grade, score and the rules that fired,
    scored again from the ledger as of that moment (the scoring is honest about time:
    nothing after it counts)."""
    conn = loaded.mapping.connection
    steps: dict[str, list[Transition]] = {}
    for t in store.transitions_of(conn):
        steps.setdefault(t.contact_id, []).append(t)
    deals = store.outcomes_of(conn)
    scorer = Scorer(loaded.model)
    out: list[Journey] = []
    for held in stored(store, conn, sorted(steps)):
        pid, person = held.contact_id, held.contact
        moves = tuple(sorted(steps[pid], key=lambda t: t.at))
        outcome = person_outcome(deals.get(pid, ()))
        journey = Journey(pid, moves, channel=person.channel if person else None, outcome=outcome)
        mql_at = journey.mql_at
        if person is not None and mql_at is not None:
            card = scorer.score(person, held.activities, mql_at)
            journey = Journey(pid, moves, channel=person.channel, grade=card.grade, score=card.total,
                              rules=tuple(h.rule_id for h in card.hits if h.points > 0),
                              model_version=card.model_version, outcome=outcome)
        out.append(journey)
    return out


def person_outcome(deals: Sequence[DealOutcome]) -> Outcome | None:
    """What became of a person, from all their deals: won at the first deal won; else
    open while one is open; else lost at the last close."""
    won = sorted((d for d in deals if d.won and d.closed_at), key=lambda d: d.closed_at)  # type: ignore[arg-type, return-value]  # closed_at checked
    if won:
        return Outcome(True, won[0].closed_at, won[0].amount, won[0].deal_id)
    if any(d.won is None for d in deals):
        return Outcome(None)
    lost = sorted((d for d in deals if d.closed_at), key=lambda d: d.closed_at)  # type: ignore[arg-type, return-value]  # closed_at checked
    return Outcome(False, lost[-1].closed_at, lost[-1].amount, lost[-1].deal_id) if lost else None


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    #: what counts as conversion: reached within this many days of qualifying
    horizon_days: float
    #: the length of each period the signals compare
    signal_days: float
    now: datetime


def _funnel_json(f: Funnel) -> dict[str, Any]:
    return {"mqls": f.mqls, "reached": f.reached, "rate_from_mql": {s: f.rate(s) for s in STEPS},
            "step_rate": f.steps, "rejected": f.rejected, "rejection_rate": f.rejection_rate,
            "rejection_reasons": f.rejection_reasons,
            "median_days_in_stage": f.days_in_stage, "median_days_to_won": f.days_to_won,
            "won_amount": f.won_amount, "out_of_order": f.out_of_order}


def lift(overall: Funnel, by_rule: dict[str, Funnel], step: str = "sql") -> list[dict[str, Any]]:
    """Each rule's lift: the share of the MQLs it fired for that reached `step`, over the
    share of all MQLs that did. Above 1, the rule picks leads that convert."""
    base = overall.rate(step)
    rows = []
    for rule, f in by_rule.items():
        rate = f.rate(step)
        rows.append({"rule": rule, "mqls": f.mqls, "reached": f.reached[step], "rate": rate,
                     "lift": (rate / base) if rate is not None and base else None})
    return sorted(rows, key=lambda r: (-(r["lift"] or 0), -r["mqls"], r["rule"]))


def report(name: str, journeys: Sequence[Journey], period: Period) -> dict[str, Any]:
    """The whole review as plain data (what --json prints and the HTML shows)."""
    whole = funnel(journeys, period.start, period.end, period.horizon_days)
    found: list[Signal] = signals(journeys, period.now, period.signal_days, min(30.0, period.horizon_days))
    disordered = [j.person for j in journeys if j.out_of_order]
    # The steps this data knows of: an export of MQLs and won deals has no SAL or SQL.
    known = [s for s in STEPS if s == "mql" or any(j.reached(s) for j in journeys)]
    lift_step = "sql" if "sql" in known else "won"
    # Period over period: the last `signal_days` of MQLs against the ones before.
    span = timedelta(days=period.signal_days)
    recent = funnel(journeys, period.now - span, period.now, period.horizon_days)
    before = funnel(journeys, period.now - 2 * span, period.now - span, period.horizon_days)
    return {
        "name": name, "since": iso(period.start), "until": iso(period.end), "now": iso(period.now),
        "periods": [{"since": iso(f.start), "until": iso(f.end), **_funnel_json(f)} for f in (before, recent)],
        "horizon_days": period.horizon_days, "people": len(journeys), "steps": known,
        "funnel": _funnel_json(whole),
        "breakdowns": {d: {k: _funnel_json(f) for k, f in breakdown(journeys, d, period.start, period.end,
                                                                     period.horizon_days).groups.items()}
                       for d in SHOWN},
        "lift": {"step": lift_step, "rules": lift(whole, breakdown(journeys, "rule", period.start, period.end,
                                                                    period.horizon_days).groups, lift_step)},
        "signals": [{"name": s.name, "status": s.status, "text": s.text, "numbers": s.numbers} for s in found],
        "out_of_order": disordered,
    }


def default_period(journeys: Sequence[Journey], since: datetime | None, until: datetime | None,
                   now: datetime | None, horizon_days: float, signal_days: float) -> Period:
    """The whole history unless told otherwise: from the first qualification to the day
    after the last thing that happened; `now` defaults to that end, so a review of an
    old export still compares its last periods."""
    times = [t.at for j in journeys for t in j.steps] + [j.outcome.closed_at for j in journeys
                                                        if j.outcome and j.outcome.closed_at]
    first = min((j.mql_at for j in journeys if j.mql_at), default=None)
    last = max(times, default=None)
    end = until or now or ((last + timedelta(days=1)) if last else None)
    start = since or first or end
    assert end is not None and start is not None, "a review needs a period: pass --since and --until"
    return Period(start, end, horizon_days, signal_days, now or end)
