"""The four signals that an MQL definition needs another look (PRODUCT.md, Review): sales
rejects MQLs as cold, the MQL→SQL rate falls, the sales cycle lengthens, a channel or a
rule brings SQLs that never close. Each is an explicit rule with a minimum sample, said
in plain words with the numbers behind it; one without enough data says so.

Periods: the current one is the `days` before `now`, the previous one the `days` before
that. Conversion and rejection compare cohorts whose horizon has passed, so both had the
same time to convert: the current cohort is the `days` ending `horizon_days` ago."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mqlsync.connector.model import as_utc
from mqlsync.connector.review.funnel import DIMENSIONS, Funnel, Journey, cohort, funnel, median

Status = Literal["raised", "clear", "no data"]


@dataclass(frozen=True)
class Thresholds:
    """When a signal is raised, and the least data it needs to say anything."""

    #: the rejection rate rose by at least this many points
    rejection_rise_points: float = 10.0
    #: the MQL→SQL rate fell by at least this many points
    sql_drop_points: float = 10.0
    #: MQLs each period needs for either rate to count
    min_mqls: int = 30
    #: the median days from MQL to a won deal grew by this share and by at least
    cycle_rise_share: float = 0.2
    cycle_rise_days: float = 7.0
    #: won deals each period needs for the cycle to count
    min_won: int = 10
    #: a channel or rule whose SQLs close (are won) at most this share of the overall
    #: rate, with at least `min_sqls` SQLs old enough to have closed
    never_close_share: float = 0.25
    min_sqls: int = 10


@dataclass(frozen=True)
class Signal:
    name: str
    status: Status
    text: str
    numbers: dict[str, float | int | str | None] = field(default_factory=dict)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d}"


def signals(journeys: Sequence[Journey], now: datetime, days: float = 90, horizon_days: float = 30,
            close_days: float = 120, limits: Thresholds = Thresholds()) -> list[Signal]:
    """The four signals for the period of `days` before `now`."""
    now = as_utc(now)
    span, horizon = timedelta(days=days), timedelta(days=horizon_days)
    # Cohorts old enough to have had the whole horizon.
    cur_end = now - horizon
    cur = funnel(journeys, cur_end - span, cur_end, horizon_days)
    prev = funnel(journeys, cur_end - 2 * span, cur_end - span, horizon_days)
    # Data that never records a stage (an export of MQLs and won deals) cannot show its signal.
    has_sql = any(j.reached("sql") for j in journeys)
    has_verdicts = has_sql or any(j.reached("sal") or j.rejected_at for j in journeys)
    no_sql = "this data records no SQL stage: nobody in it became an SQL"
    return [_rejections(cur, prev, limits) if has_verdicts else Signal(
                "sales rejects MQLs", "no data", "this data records no verdict of sales: no SAL, SQL or rejection"),
            _sql_rate(cur, prev, limits) if has_sql else Signal("MQL→SQL rate falls", "no data", no_sql),
            _cycle(journeys, now, span, close_days, limits),
            *(_never_close(journeys, now, close_days, limits) if has_sql
              else [Signal("SQLs that never close", "no data", no_sql)])]


def _periods(cur: Funnel, prev: Funnel) -> str:
    return (f"MQLs of {_day(cur.start)}..{_day(cur.end - timedelta(days=1))} ({cur.mqls}) against "
            f"{_day(prev.start)}..{_day(prev.end - timedelta(days=1))} ({prev.mqls}), each followed for "
            f"{cur.horizon_days:g} days")


def _rejections(cur: Funnel, prev: Funnel, limits: Thresholds) -> Signal:
    return _compare("sales rejects MQLs", "rejections", cur, prev, limits, lambda f: f.rejection_rate,
                    lambda f: f.rejected, "sales rejected {rate} of the MQLs", +1, limits.rejection_rise_points,
                    "up {points:.0f} points. Ask sales why they turn these MQLs down, and tighten the rules that "
                    "qualify them")


def _sql_rate(cur: Funnel, prev: Funnel, limits: Thresholds) -> Signal:
    return _compare("MQL→SQL rate falls", "the SQL rate", cur, prev, limits, lambda f: f.rate("sql"),
                    lambda f: f.reached["sql"], "{rate} of the MQLs became SQLs", -1, limits.sql_drop_points,
                    "down {points:.0f} points. The MQL definition lets in leads sales cannot qualify: review the "
                    "threshold and the rules that fired")


def _compare(name: str, what: str, cur: Funnel, prev: Funnel, limits: Thresholds,
             rate: Callable[[Funnel], float | None], count: Callable[[Funnel], int], phrase: str, direction: int,
             points: float, advice: str) -> Signal:
    """One rate of two cohorts: raised when it moved `points` or more in `direction`."""
    numbers: dict[str, float | int | str | None] = {
        "current_mqls": cur.mqls, "previous_mqls": prev.mqls, "current_rate": rate(cur), "previous_rate": rate(prev)}
    if min(cur.mqls, prev.mqls) < limits.min_mqls:
        return Signal(name, "no data", f"too few MQLs to compare {what}: {_periods(cur, prev)}; "
                                       f"{limits.min_mqls} needed in each", numbers)
    moved = ((rate(cur) or 0) - (rate(prev) or 0)) * 100 * direction
    said = (phrase.format(rate=_pct(rate(cur))) + f" ({count(cur)} of {cur.mqls}), against {_pct(rate(prev))} "
            f"before ({count(prev)} of {prev.mqls}); {_periods(cur, prev)}")
    if moved >= points:
        return Signal(name, "raised", f"{said}: {advice.format(points=moved)}", numbers)
    return Signal(name, "clear", said, numbers)


def _cycle(journeys: Sequence[Journey], now: datetime, span: timedelta, close_days: float,
           limits: Thresholds) -> Signal:
    """Median days from MQL to a won deal, of two cohorts of MQLs each followed for
    `close_days`: measured on deals won in a period instead, a funnel whose inflow
    slows would seem to lengthen its cycle (only old leads are left to close)."""
    name = "sales cycle lengthens"
    follow = timedelta(days=close_days)
    cur_end = now - follow

    def cycle(start: datetime, end: datetime) -> list[float]:
        out = []
        for j in cohort(journeys, start, end):
            won, mql_at = j.reached("won"), j.mql_at
            if won is not None and mql_at is not None and won - mql_at <= follow and not j.out_of_order:
                out.append((won - mql_at) / timedelta(days=1))
        return out

    cur, prev = cycle(cur_end - span, cur_end), cycle(cur_end - 2 * span, cur_end - span)
    cur_med, prev_med = median(cur), median(prev)
    numbers: dict[str, float | int | str | None] = {
        "current_won": len(cur), "previous_won": len(prev), "current_median_days": cur_med,
        "previous_median_days": prev_med}
    when = (f"deals won by the MQLs of {_day(cur_end - span)}..{_day(cur_end - timedelta(days=1))} ({len(cur)}) "
            f"against those of {_day(cur_end - 2 * span)}..{_day(cur_end - span - timedelta(days=1))} "
            f"({len(prev)}), each within {close_days:g} days")
    if min(len(cur), len(prev)) < limits.min_won or cur_med is None or prev_med is None:
        return Signal(name, "no data", f"too few won deals to compare the cycle: {when}; {limits.min_won} needed "
                                       "in each", numbers)
    said = f"a won deal took {cur_med:.0f} days from MQL (median), against {prev_med:.0f} before; {when}"
    if cur_med - prev_med >= max(limits.cycle_rise_days, prev_med * limits.cycle_rise_share):
        return Signal(name, "raised", f"{said}: {cur_med - prev_med:.0f} days longer. Leads come in earlier or "
                                      "colder than before: check what qualifies them now", numbers)
    return Signal(name, "clear", said, numbers)


def _never_close(journeys: Sequence[Journey], now: datetime, close_days: float, limits: Thresholds) -> list[Signal]:
    """Per channel and per rule: of the SQLs old enough to have closed (`close_days`
    since they became SQLs), the share won, against the overall share."""
    name = "SQLs that never close"
    old_enough = now - timedelta(days=close_days)
    sqls = [j for j in journeys if (at := j.reached("sql")) is not None and at < old_enough]
    if len(sqls) < limits.min_sqls:
        return [Signal(name, "no data", f"too few SQLs old enough to have closed: {len(sqls)} became SQLs before "
                                        f"{_day(old_enough)} ({close_days:g} days ago); {limits.min_sqls} needed",
                       {"sqls": len(sqls)})]
    overall = sum(j.reached("won") is not None for j in sqls) / len(sqls)
    raised: list[Signal] = []
    for dimension in ("channel", "rule"):
        groups: dict[str, list[Journey]] = {}
        for j in sqls:
            for key in DIMENSIONS[dimension](j):
                if key is not None:
                    groups.setdefault(key, []).append(j)
        for key, members in sorted(groups.items()):
            if len(members) < limits.min_sqls:
                continue
            won = sum(j.reached("won") is not None for j in members)
            share = won / len(members)
            if share <= overall * limits.never_close_share:
                raised.append(Signal(
                    name, "raised",
                    f"{dimension} {key}: {won} of its {len(members)} SQLs won ({_pct(share)}), against "
                    f"{_pct(overall)} of all {len(sqls)} SQLs; it brings SQLs that do not close: give it fewer "
                    "points, or make sales' SQL criteria stricter for it",
                    {"dimension": dimension, "key": key, "sqls": len(members), "won": won, "rate": share,
                     "overall_rate": overall}))
    if raised:
        return raised
    return [Signal(name, "clear", f"every channel and rule with {limits.min_sqls}+ SQLs wins more than "
                                  f"{_pct(overall * limits.never_close_share)} of them (overall {_pct(overall)} "
                                  f"of {len(sqls)} SQLs)", {"sqls": len(sqls), "overall_rate": overall})]
