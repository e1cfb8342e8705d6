"""The funnel review on generated histories whose truth is known: counts and rates by
cohort, days in the right units, and the four signals raised when the data says so,
never on a sample too small, and saying so when it lacks data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mqlsync.connector.model import Stage, Transition
from mqlsync.connector.review import Journey, Outcome, Thresholds, breakdown, funnel, signals

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def journey(pid: str, mql_at: datetime, sql_after: float | None = None, won_after: float | None = None,
            rejected_after: float | None = None, lost_after: float | None = None, why: str = "UNQUALIFIED",
            **facts) -> Journey:
    """A person qualified at `mql_at`, accepted and made an SQL `sql_after` days later,
    a deal won (or lost) some days after qualifying, or rejected by sales."""
    steps = [Transition(pid, Stage.LEAD, Stage.MQL, "score 80 met the threshold with grade A", mql_at)]
    outcome = None
    if rejected_after is not None:
        at = mql_at + rejected_after * DAY
        steps.append(Transition(pid, Stage.MQL, Stage.RECYCLED, f"rejected by sales on {at:%Y-%m-%d} ({why})", at))
    if sql_after is not None:
        at = mql_at + sql_after * DAY
        steps += [Transition(pid, Stage.MQL, Stage.SAL, "accepted by sales", at - DAY / 2),
                  Transition(pid, Stage.SAL, Stage.SQL, "all SQL criteria met", at)]
    if won_after is not None:
        outcome = Outcome(won=True, closed_at=mql_at + won_after * DAY, amount=1000.0)
    elif lost_after is not None:
        outcome = Outcome(won=False, closed_at=mql_at + lost_after * DAY)
    return Journey(pid, tuple(steps), outcome=outcome, **facts)


def cohort_of(prefix: str, start: datetime, n: int, sql: int, spread_days: float = 60, **kw) -> list[Journey]:
    """n people qualified evenly over `spread_days` from `start`, the first `sql` of them
    SQLs 10 days later."""
    return [journey(f"{prefix}{i}", start + i * (spread_days / n) * DAY, sql_after=10 if i < sql else None, **kw)
            for i in range(n)]


def test_a_cohorts_funnel_counts_what_it_reached_within_the_horizon():
    start = datetime(2026, 9, 1, tzinfo=UTC)
    people = cohort_of("a", start, 100, sql=40, spread_days=30)
    # Ten more SQLs, but 60 days after qualifying: beyond a 30-day horizon.
    people += [journey(f"late{i}", start + DAY, sql_after=60) for i in range(10)]
    people += [journey("won1", start + 2 * DAY, sql_after=5, won_after=20.5),
               journey("won2", start + 3 * DAY, sql_after=5, won_after=30.5)]
    f = funnel(people, start, start + 30 * DAY, horizon_days=30)
    assert f.mqls == 112
    # The second deal was won 30.5 days after qualifying: beyond the horizon, not a conversion.
    assert f.reached["sql"] == 42 and f.reached["sal"] == 42 and f.reached["won"] == 1
    assert f.rate("sql") == pytest.approx(42 / 112)
    assert f.steps["sql"] == 1.0  # every SAL became an SQL
    assert f.days_to_won == pytest.approx(25.5)  # median of 20.5 and 30.5 days: every won deal counts here
    # An MQL is accepted half a day before it is an SQL: 9.5 days for most of those who moved on.
    assert f.days_in_stage["mql"] == pytest.approx(9.5)
    assert f.won_amount == 2000.0
    # Outside the cohort's dates: not counted.
    assert funnel(people, start + 40 * DAY, start + 70 * DAY).mqls == 0


def test_a_falling_mql_to_sql_rate_raises_its_signal_with_the_numbers():
    cur_end = NOW - 30 * DAY  # the current cohort ends a horizon before now
    previous = cohort_of("p", cur_end - 180 * DAY, 50, sql=20, spread_days=89)
    current = cohort_of("c", cur_end - 90 * DAY, 50, sql=10, spread_days=89)
    (sql,) = [s for s in signals(previous + current, NOW) if s.name == "MQL→SQL rate falls"]
    assert sql.status == "raised"
    assert sql.text.startswith("20% of the MQLs became SQLs (10 of 50), against 40% before (20 of 50)")
    assert "down 20 points" in sql.text
    assert (sql.numbers["current_rate"], sql.numbers["previous_rate"]) == (0.2, 0.4)
    # The same rates the other way round: clear.
    flipped = cohort_of("p", cur_end - 180 * DAY, 50, sql=10, spread_days=89) + \
        cohort_of("c", cur_end - 90 * DAY, 50, sql=20, spread_days=89)
    assert [s.status for s in signals(flipped, NOW) if s.name == "MQL→SQL rate falls"] == ["clear"]


def test_a_sample_too_small_raises_nothing_and_says_so():
    cur_end = NOW - 30 * DAY
    few = cohort_of("p", cur_end - 180 * DAY, 12, sql=8, spread_days=89) + \
        cohort_of("c", cur_end - 90 * DAY, 12, sql=0, spread_days=89)
    found = {s.name: s for s in signals(few, NOW)}
    assert found["MQL→SQL rate falls"].status == "no data"
    said = found["MQL→SQL rate falls"].text
    assert "too few MQLs to compare the SQL rate" in said and "(12) against" in said and "30 needed in each" in said
    assert all(s.status == "no data" for s in found.values())
    assert found["sales cycle lengthens"].text.startswith("too few won deals to compare the cycle")
    assert found["SQLs that never close"].text.startswith("too few SQLs old enough to have closed")


def test_rising_rejections_raise_their_signal():
    cur_end = NOW - 30 * DAY
    previous = [journey(f"p{i}", cur_end - 170 * DAY + i * DAY, rejected_after=3 if i < 5 else None)
                for i in range(40)]
    current = [journey(f"c{i}", cur_end - 80 * DAY + i * DAY, rejected_after=3 if i < 16 else None,
                       why="BAD_TIMING" if i < 10 else "UNQUALIFIED") for i in range(40)]
    (rej,) = [s for s in signals(previous + current, NOW) if s.name == "sales rejects MQLs"]
    assert rej.status == "raised"
    assert rej.text.startswith("sales rejected 40% of the MQLs (16 of 40), against 12% before (5 of 40)")
    assert "up 28 points" in rej.text
    # Why, in the CRM's own words: "cold" leads show as a bad timing.
    assert funnel(current, cur_end - 90 * DAY, cur_end, 30).rejection_reasons == {"BAD_TIMING": 10, "UNQUALIFIED": 6}


def test_a_rejection_carries_the_crms_own_reason_from_the_record_to_the_transition():
    from mqlsync.connector.adapters.mapped import to_contact
    from mqlsync.connector.config import load_mapping
    from mqlsync.connector.model import ScoreCard
    from mqlsync.connector.scoring import SalesSignals, StageState, decide
    from tests.conftest import ROOT

    obj = load_mapping(ROOT / "mappings" / "hubspot.yaml").mapping.objects["contacts"]
    contact = to_contact(obj, "7", {"firstname": "Ann", "hs_lead_status": "BAD_TIMING",
                                    "mqlsync_sales_status_at": "2026-11-20T10:00:00Z"})
    assert (contact.sales_status, contact.sales_reason) == ("rejected", "BAD_TIMING")
    card = ScoreCard(contact_id="7", model_version="v", scored_at=NOW, fit=0, engagement=0, negative=0, total=0,
                     grade="D", mql=False, unmet=(), disqualified_by=(), hits=())
    decision = decide(StageState(Stage.MQL, NOW - 30 * DAY), card, SalesSignals.of(contact), NOW)
    assert [t.reason for t in decision.transitions] == ["rejected by sales on 2026-11-20 (BAD_TIMING)"]
    assert journey("x", NOW - 30 * DAY).rejection_reason is None


def test_a_lengthening_cycle_is_measured_in_days_and_raised():
    def won(prefix: str, qualified_from: datetime, cycle_days: float, n: int = 12) -> list[Journey]:
        # MQLs on consecutive days from `qualified_from`, each won `cycle_days` later.
        return [journey(f"{prefix}{i}", qualified_from + i * DAY, sql_after=2, won_after=cycle_days)
                for i in range(n)]

    # Cohorts followed for 120 days: the current one qualified 210..120 days ago.
    history = won("p", NOW - 290 * DAY, 20.0) + won("c", NOW - 200 * DAY, 41.5)
    (cycle,) = [s for s in signals(history, NOW) if s.name == "sales cycle lengthens"]
    assert cycle.status == "raised"
    assert cycle.numbers["current_median_days"] == pytest.approx(41.5)
    assert cycle.numbers["previous_median_days"] == pytest.approx(20.0)
    assert cycle.text.startswith("a won deal took 42 days from MQL (median), against 20 before")
    steady = won("p", NOW - 290 * DAY, 20.0) + won("c", NOW - 200 * DAY, 22.0)
    # A cohort still inside its 120 days is not measured yet: no data, not a false alarm.
    young = won("p", NOW - 200 * DAY, 20.0) + won("c", NOW - 100 * DAY, 90.0)
    assert [s.status for s in signals(young, NOW) if s.name == "sales cycle lengthens"] == ["no data"]
    assert [s.status for s in signals(steady, NOW) if s.name == "sales cycle lengthens"] == ["clear"]


def test_a_channel_whose_sqls_never_close_is_named_and_a_healthy_one_is_not():
    old = NOW - 300 * DAY
    good = [journey(f"g{i}", old + i * DAY, sql_after=5, won_after=30 if i % 2 else None, lost_after=40,
                    channel="inbound_form", rules=("demo-request",)) for i in range(30)]
    bad = [journey(f"b{i}", old + i * DAY, sql_after=5, lost_after=40, channel="event", rules=("booth-visit",))
           for i in range(12)]
    found = [s for s in signals(good + bad, NOW) if s.name == "SQLs that never close"]
    assert [(s.status, s.numbers["dimension"], s.numbers["key"]) for s in found] == [
        ("raised", "channel", "event"), ("raised", "rule", "booth-visit")]
    assert found[0].text.startswith("channel event: 0 of its 12 SQLs won (0%), against 36% of all 42 SQLs")
    healthy = [s.status for s in signals(good, NOW) if s.name == "SQLs that never close"]
    assert healthy == ["clear"]


def test_a_deal_won_before_the_first_contact_is_flagged_not_measured():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    people = [journey("ok", start, sql_after=3, won_after=10), journey("odd", start + DAY, won_after=-5)]
    f = funnel(people, start, start + 10 * DAY)
    assert f.out_of_order == 1 and f.days_to_won == 10
    assert people[1].out_of_order and not people[0].out_of_order


def test_breakdowns_group_by_channel_grade_score_band_rule_and_month():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    people = [journey("a", start, sql_after=5, channel="event", grade="A", score=85, rules=("demo", "pricing"),
                      model_version="v1"),
              journey("b", start + DAY, channel="event", grade="B", score=72, rules=("demo",), model_version="v1"),
              journey("c", start + 40 * DAY, sql_after=5, channel="inbound_form", grade="A", score=140,
                      rules=("pricing",), model_version="v2")]
    end = start + 60 * DAY
    by = {d: breakdown(people, d, start, end) for d in ("channel", "grade", "score band", "rule", "model version",
                                                        "month")}
    assert {k: (f.mqls, f.reached["sql"]) for k, f in by["channel"].groups.items()} == {
        "event": (2, 1), "inbound_form": (1, 1)}
    assert list(by["channel"].groups) == ["event", "inbound_form"]  # largest first
    assert set(by["score band"].groups) == {"80-99", "60-79", "140-159"}
    assert {k: f.mqls for k, f in by["rule"].groups.items()} == {"demo": 2, "pricing": 2}
    assert {k: f.mqls for k, f in by["month"].groups.items()} == {"2026-03": 2, "2026-04": 1}
    assert {k: f.mqls for k, f in by["model version"].groups.items()} == {"v1": 2, "v2": 1}
    assert Thresholds().min_mqls == 30


def test_data_that_records_no_sql_stage_says_so_instead_of_a_zero_rate():
    start = NOW - 200 * DAY
    exported = [journey(f"m{i}", start + i * DAY, won_after=10 if i % 5 == 0 else None) for i in range(150)]
    found = {s.name: s for s in signals(exported, NOW)}
    assert found["MQL→SQL rate falls"].status == "no data"
    assert found["MQL→SQL rate falls"].text == "this data records no SQL stage: nobody in it became an SQL"
    assert found["sales rejects MQLs"].text == "this data records no verdict of sales: no SAL, SQL or rejection"
    assert found["SQLs that never close"].status == "no data"
