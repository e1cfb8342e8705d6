"""The stage machine: every transition of PRODUCT.md's funnel, and the moves it refuses."""

from dataclasses import replace
from datetime import timedelta

import pytest

from mqlsync.connector.config.scoring import LifecycleSpec
from mqlsync.connector.model import ScoreCard, Stage
from mqlsync.connector.scoring import SalesSignals, StageState, decide
from tests.conftest import NOW

ALL_SQL = {k: True for k in ("buying_cycle", "influencer", "timeframe", "opportunity_size", "next_step")}
EARLIER = NOW - timedelta(days=10)


def card(mql: bool = False, total: float = 80, disqualified_by=(), engaged_days_ago: float | None = 1) -> ScoreCard:
    return ScoreCard(
        contact_id="c1", model_version="v1", scored_at=NOW, fit=40, engagement=total - 40, negative=0,
        total=total, grade="A", mql=mql and not disqualified_by,
        unmet=() if mql else ("total below threshold",), disqualified_by=tuple(disqualified_by), hits=(),
        last_engaged_at=None if engaged_days_ago is None else NOW - timedelta(days=engaged_days_ago))


def at(stage: Stage, days_ago: float = 10) -> StageState:
    return StageState(stage, NOW - timedelta(days=days_ago))


def rejected(days_ago: float) -> SalesSignals:
    return SalesSignals(status="rejected", status_at=NOW - timedelta(days=days_ago))


def accepted(days_ago: float, **kw) -> SalesSignals:
    return SalesSignals(status="accepted", status_at=NOW - timedelta(days=days_ago), **kw)


def path(decision) -> list[str]:
    return [decision.transitions[0].from_stage.value] + [t.to_stage.value for t in decision.transitions] \
        if decision.transitions else []


def test_lead_becomes_mql_when_the_gate_opens_and_records_when():
    d = decide(StageState(), card(mql=True), SalesSignals(), NOW)
    assert d.stage == Stage.MQL
    assert d.mql_at == NOW
    (t,) = d.transitions
    assert (t.from_stage, t.to_stage, t.at, t.contact_id) == (Stage.LEAD, Stage.MQL, NOW, "c1")
    assert "score 80" in t.reason


def test_lead_stays_lead_below_the_gate():
    d = decide(StageState(), card(mql=False), SalesSignals(), NOW)
    assert d.stage == Stage.LEAD and d.transitions == () and d.mql_at is None


def test_mql_stays_mql_when_its_score_decays():
    d = decide(at(Stage.MQL), card(mql=False, total=20), SalesSignals(), NOW)
    assert d.stage == Stage.MQL and d.transitions == ()


def test_deciding_again_on_the_result_changes_nothing():
    first = decide(StageState(), card(mql=True), accepted(3, sql_criteria=ALL_SQL), NOW)
    again = decide(first.state, card(mql=True), accepted(3, sql_criteria=ALL_SQL), NOW + timedelta(hours=1))
    assert again.transitions == () and again.stage == first.stage


@pytest.mark.parametrize("start", [Stage.LEAD, Stage.MQL])
def test_a_disqualifier_moves_lead_or_mql_to_disqualified(start):
    d = decide(at(start), card(mql=False, disqualified_by=["competitor"]), SalesSignals(), NOW)
    assert d.stage == Stage.DISQUALIFIED
    assert "competitor" in d.transitions[0].reason


def test_disqualified_returns_to_lead_when_no_disqualifier_applies():
    d = decide(at(Stage.DISQUALIFIED), card(mql=False), SalesSignals(), NOW)
    assert d.stage == Stage.LEAD


def test_disqualified_goes_straight_to_mql_when_cleared_and_qualified():
    d = decide(at(Stage.DISQUALIFIED), card(mql=True), SalesSignals(), NOW)
    assert path(d) == ["disqualified", "mql"] and d.mql_at == NOW


@pytest.mark.parametrize("start", [Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER])
def test_a_disqualifier_never_moves_a_stage_sales_owns(start):
    d = decide(at(start), card(disqualified_by=["unsubscribed"]), SalesSignals(), NOW)
    assert d.stage == start and d.transitions == ()


def test_mql_becomes_sal_when_sales_accepts_it():
    d = decide(at(Stage.MQL, 5), card(mql=True), accepted(2), NOW)
    assert path(d) == ["mql", "sal"]
    assert "accepted by sales" in d.transitions[0].reason


def test_an_acceptance_older_than_the_current_stage_is_not_applied_again():
    d = decide(at(Stage.RECYCLED, 1), card(mql=False), accepted(5), NOW)
    assert d.stage == Stage.RECYCLED


def test_sal_becomes_sql_when_all_five_criteria_are_met():
    d = decide(at(Stage.SAL), card(), SalesSignals(sql_criteria=ALL_SQL), NOW)
    assert path(d) == ["sal", "sql"]


@pytest.mark.parametrize("missing", sorted(ALL_SQL))
def test_sal_stays_sal_when_one_sql_criterion_is_missing(missing):
    criteria = dict(ALL_SQL, **{missing: False})
    assert decide(at(Stage.SAL), card(), SalesSignals(sql_criteria=criteria), NOW).stage == Stage.SAL


def test_budget_is_optional_unless_the_model_requires_it():
    signals = SalesSignals(sql_criteria=ALL_SQL)
    assert decide(at(Stage.SAL), card(), signals, NOW).stage == Stage.SQL
    strict = LifecycleSpec(require_budget=True)
    assert decide(at(Stage.SAL), card(), signals, NOW, strict).stage == Stage.SAL
    with_budget = SalesSignals(sql_criteria=dict(ALL_SQL, budget=True))
    assert decide(at(Stage.SAL), card(), with_budget, NOW, strict).stage == Stage.SQL


def test_sql_criteria_alone_do_not_skip_sales_acceptance():
    d = decide(at(Stage.MQL), card(mql=True), SalesSignals(sql_criteria=ALL_SQL), NOW)
    assert d.stage == Stage.MQL


def test_accepted_lead_with_every_criterion_reaches_sql_in_one_decision():
    d = decide(StageState(), card(mql=False), accepted(3, sql_criteria=ALL_SQL), NOW)
    assert path(d) == ["lead", "sal", "sql"]
    assert d.mql_at is None  # sales took it before marketing qualified it: no MQL hand-off


@pytest.mark.parametrize("start", [Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL])
def test_a_sales_rejection_recycles(start):
    d = decide(at(start, 10), card(mql=True, engaged_days_ago=3), rejected(2), NOW)
    assert d.stage == Stage.RECYCLED
    assert d.transitions[0].reason.startswith("rejected by sales")


@pytest.mark.parametrize("start", [Stage.OPPORTUNITY, Stage.CUSTOMER])
def test_a_rejection_does_not_undo_an_opportunity_or_customer(start):
    assert decide(at(start), card(), rejected(1), NOW).stage == start


def test_recycled_lead_does_not_requalify_on_engagement_from_before_the_rejection():
    d = decide(at(Stage.RECYCLED, 5), card(mql=True, engaged_days_ago=6), rejected(5), NOW)
    assert d.stage == Stage.RECYCLED and d.transitions == ()


def test_mql_rejected_then_engaged_again_is_mql_again_in_one_decision():
    d = decide(at(Stage.MQL, 10), card(mql=True, engaged_days_ago=1), rejected(2), NOW)
    assert path(d) == ["mql", "recycled", "mql"]
    assert d.mql_at == NOW  # a new qualification: a new task for sales


def test_recycled_lead_requalifies_through_engagement_after_the_rejection():
    d = decide(at(Stage.RECYCLED, 5), card(mql=True, engaged_days_ago=1), rejected(5), NOW)
    assert path(d) == ["recycled", "mql"]
    assert d.mql_at == NOW
    assert "after the rejection" in d.transitions[0].reason


def test_rejection_followed_by_new_engagement_over_several_runs():
    """MQL -> sales rejects -> still qualified on old engagement: stays recycled ->
    engages again -> MQL again, and the old rejection does not recycle it twice."""
    day = lambda n: NOW + timedelta(days=n)  # noqa: E731
    state = decide(StageState(), card(mql=True), SalesSignals(), day(0)).state
    assert state.stage == Stage.MQL
    signal = SalesSignals(status="rejected", status_at=day(1))
    state = decide(state, card(mql=True, engaged_days_ago=1), signal, day(2)).state
    assert state.stage == Stage.RECYCLED
    old_engagement = replace(card(mql=True), last_engaged_at=day(0))
    state = decide(state, old_engagement, signal, day(3)).state
    assert state.stage == Stage.RECYCLED
    new_engagement = replace(card(mql=True), last_engaged_at=day(4))
    d = decide(state, new_engagement, signal, day(5))
    assert d.stage == Stage.MQL and d.mql_at == day(5)
    # The rejection of day 1 is older than this MQL: it does not apply again.
    assert decide(d.state, new_engagement, signal, day(6)).stage == Stage.MQL


def test_a_rejection_without_a_recorded_stage_time_still_recycles():
    d = decide(StageState(Stage.MQL, None), card(mql=True, engaged_days_ago=4), rejected(3), NOW)
    assert d.stage == Stage.RECYCLED


def test_recycled_lead_accepted_again_by_sales_becomes_sal():
    d = decide(at(Stage.RECYCLED, 5), card(mql=False), accepted(1), NOW)
    assert path(d) == ["recycled", "sal"]


@pytest.mark.parametrize("crm", [Stage.OPPORTUNITY, Stage.CUSTOMER])
def test_opportunity_and_customer_set_in_the_crm_are_adopted(crm):
    for start in (Stage.LEAD, Stage.MQL, Stage.RECYCLED, Stage.SQL, Stage.DISQUALIFIED):
        d = decide(at(start), card(), SalesSignals(crm_stage=crm), NOW)
        assert d.stage == crm, start
        assert d.transitions[-1].reason == f"set to {crm.value} in the CRM"


def test_customer_is_never_demoted():
    signals = SalesSignals(crm_stage=Stage.LEAD, status="rejected", status_at=NOW, sql_criteria={})
    d = decide(at(Stage.CUSTOMER), card(mql=False, disqualified_by=["competitor"]), signals, NOW)
    assert d.stage == Stage.CUSTOMER and d.transitions == ()


def test_sql_set_by_sales_in_the_crm_is_adopted():
    d = decide(at(Stage.MQL), card(mql=True), SalesSignals(crm_stage=Stage.SQL), NOW)
    assert path(d) == ["mql", "sql"]


def test_a_stale_crm_sql_does_not_undo_a_fresh_rejection():
    # Sales rejected an SQL; the CRM still shows SQL until mqlsync writes the recycle.
    signals = SalesSignals(crm_stage=Stage.SQL, status="rejected", status_at=NOW - timedelta(days=1))
    d = decide(at(Stage.SQL, 5), card(mql=True, engaged_days_ago=0.5), signals, NOW)
    assert path(d) == ["sql", "recycled", "mql"]
    assert d.stage == Stage.MQL


# --- edges a user would notice (each found by a mutant that lived) -----------------------

def test_sales_signals_carry_everything_the_crm_recorded():
    from mqlsync.connector.model import Contact

    contact = Contact(id="c1", crm_stage=Stage.SAL, sales_status="rejected", sales_status_at=EARLIER,
                      sql_criteria={"budget": True})
    assert SalesSignals.of(contact) == SalesSignals(Stage.SAL, "rejected", EARLIER, {"budget": True})


def test_a_rejection_stamped_at_the_very_moment_of_the_stage_still_recycles():
    d = decide(StageState(Stage.MQL, EARLIER), card(mql=True, engaged_days_ago=12),
               SalesSignals(status="rejected", status_at=EARLIER), NOW)
    assert path(d) == ["mql", "recycled"]


def test_a_recycled_lead_whose_verdict_was_cleared_needs_engagement_after_it_was_recycled():
    # The CRM no longer shows the rejection; the recycle time stands in for it.
    old_engagement = card(mql=True, engaged_days_ago=12)  # before the recycle 10 days ago
    assert decide(at(Stage.RECYCLED), old_engagement, SalesSignals(), NOW).transitions == ()
    fresh = card(mql=True, engaged_days_ago=1)
    assert path(decide(at(Stage.RECYCLED), fresh, SalesSignals(), NOW)) == ["recycled", "mql"]


def test_a_verdict_from_the_future_moves_a_lead_once_not_back_and_forth():
    # Clock skew: sales' verdict and the engagement both look newer than now.
    future = NOW + timedelta(hours=2)
    skewed = card(mql=True, engaged_days_ago=-0.2)
    d = decide(StageState(Stage.MQL, EARLIER), skewed, SalesSignals(status="rejected", status_at=future), NOW)
    assert path(d) == ["mql", "recycled", "mql"]  # recycled by the verdict, back by the later engagement


def test_the_crm_stage_moves_a_lead_forward_and_is_adopted_with_its_reason():
    d = decide(StageState(), card(), SalesSignals(crm_stage=Stage.SQL), NOW)
    assert path(d) == ["lead", "sql"] and d.transitions[0].reason == "set to sql in the CRM"
    assert decide(at(Stage.SQL), card(), SalesSignals(crm_stage=Stage.SAL), NOW).transitions == ()


def test_each_transition_says_why_in_words_sales_reads():
    met = decide(at(Stage.SAL), card(), SalesSignals(sql_criteria=ALL_SQL), NOW)
    assert met.transitions[0].reason == ("all SQL criteria met: buying_cycle, influencer, timeframe, "
                                         "opportunity_size, next_step")
    dq = decide(StageState(), card(disqualified_by=("competitor", "student")), SalesSignals(), NOW)
    assert dq.transitions[0].reason == "disqualified by competitor, student"
    back = decide(at(Stage.DISQUALIFIED), card(), SalesSignals(), NOW)
    assert [(t.to_stage, t.reason) for t in back.transitions] == [(Stage.LEAD, "no disqualifier applies any more")]


def test_an_acceptance_from_the_future_moves_a_recycled_lead_once():
    future = NOW + timedelta(hours=2)
    d = decide(StageState(Stage.RECYCLED, NOW), card(mql=True, engaged_days_ago=5),
               SalesSignals(status="accepted", status_at=future), NOW)
    assert path(d) == ["recycled", "sal"]


def test_a_verdict_known_only_by_its_day_counts_on_the_day_of_qualification():
    """An MQL at 09:00; sales accepts it the same day, and a workflow stamps only the
    date (00:00). Compared by time, the verdict would look older than the MQL and be
    ignored; compared by day, it is what sales did after the qualification."""
    qualified = StageState(Stage.MQL, NOW.replace(hour=9))
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    stamped = SalesSignals(status="accepted", status_at=day, status_exact=False)
    assert decide(qualified, card(mql=True), stamped, NOW.replace(hour=15)).stage == Stage.SAL
    exact = SalesSignals(status="accepted", status_at=day)  # the same time, taken as exact
    assert decide(qualified, card(mql=True), exact, NOW.replace(hour=15)).stage == Stage.MQL
    rejected_that_day = SalesSignals(status="rejected", status_at=day, status_exact=False)
    assert decide(qualified, card(mql=True), rejected_that_day, NOW.replace(hour=15)).stage == Stage.RECYCLED


def test_after_a_rejection_known_by_its_day_only_engagement_on_a_later_day_requalifies():
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    signal = SalesSignals(status="rejected", status_at=day, status_exact=False)
    recycled = StageState(Stage.RECYCLED, NOW.replace(hour=16))
    same_day = replace(card(mql=True), last_engaged_at=NOW.replace(hour=17))
    assert decide(recycled, same_day, signal, NOW.replace(hour=18)).stage == Stage.RECYCLED
    next_day = replace(card(mql=True), last_engaged_at=day + timedelta(days=1, hours=10))
    assert decide(recycled, next_day, signal, day + timedelta(days=1, hours=11)).stage == Stage.MQL


def test_a_contacts_day_only_verdict_reaches_the_decision_as_a_day():
    from mqlsync.connector.model import Contact

    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    contact = Contact(id="c1", sales_status="accepted", sales_status_at=day, sales_status_exact=False)
    signals = SalesSignals.of(contact)
    assert signals.status_exact is False
    assert decide(StageState(Stage.MQL, NOW.replace(hour=9)), card(mql=True), signals, NOW).stage == Stage.SAL


def test_a_rejection_without_a_reason_says_only_when():
    card = ScoreCard(contact_id="c", model_version="v", scored_at=NOW, fit=0, engagement=0, negative=0, total=0,
                     grade="D", mql=False, unmet=(), disqualified_by=(), hits=())
    signals = SalesSignals(status="rejected", status_at=NOW - timedelta(days=3))
    decision = decide(StageState(Stage.MQL, NOW - timedelta(days=20)), card, signals, NOW)
    assert [t.reason for t in decision.transitions] == [f"rejected by sales on {NOW - timedelta(days=3):%Y-%m-%d}"]
