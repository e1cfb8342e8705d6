"""Decide a contact's lifecycle stage from where it stands, its score card and what
sales recorded in the CRM; never move a stage backward that sales or a later process set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mqlsync.connector.config.scoring import SQL_CRITERIA, LifecycleSpec
from mqlsync.connector.model import Contact, ScoreCard, Stage, Transition, as_utc
from mqlsync.connector.scoring.engine import fmt

#: stages that only sales or a later process (opportunity, deal) sets
SALES_OWNED = (Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
#: stages a sales rejection sends back to nurture; later ones belong to the deal process
REJECTABLE = (Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL)


@dataclass(frozen=True, slots=True)
class StageState:
    """Where a contact stands: its stage and since when (None when never recorded)."""

    stage: Stage = Stage.LEAD
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SalesSignals:
    """What sales and later processes recorded in the CRM, as the mapping translates it."""

    crm_stage: Stage | None = None
    status: str | None = None  # "accepted" | "rejected"
    status_at: datetime | None = None
    sql_criteria: Mapping[str, bool] = field(default_factory=dict)
    #: False when status_at is only a day (a stamped date): compared by day
    status_exact: bool = True
    #: the CRM's value behind a rejection, said in the transition's reason
    reason: str | None = None

    @classmethod
    def of(cls, contact: Contact) -> SalesSignals:
        return cls(contact.crm_stage, contact.sales_status, contact.sales_status_at, contact.sql_criteria,
                   contact.sales_status_exact, contact.sales_reason)


def verdict_after(at: datetime, moment: datetime | None, exact: bool) -> bool:
    """Whether a verdict given at `at` came at or after `moment`. A verdict known only
    by its day came some time that day: at or after anything earlier that day too."""
    if moment is None:
        return True
    if not exact:
        return as_utc(at).date() >= as_utc(moment).date()
    return as_utc(at) >= as_utc(moment)


@dataclass(frozen=True, slots=True)
class Decision:
    """The stage after this run, the transitions that led there in order (none if
    unchanged), and when the contact became an MQL if it did in this run (the MQL
    time keys the sales task)."""

    state: StageState
    transitions: tuple[Transition, ...] = ()
    mql_at: datetime | None = None

    @property
    def stage(self) -> Stage:
        return self.state.stage


def sql_met(criteria: Mapping[str, bool], required: Sequence[str] = SQL_CRITERIA,
            require_budget: bool = False) -> bool:
    needed = list(required) + (["budget"] if require_budget else [])
    return all(criteria.get(name) is True for name in needed)


def decide(state: StageState, card: ScoreCard, signals: SalesSignals, now: datetime,
           spec: LifecycleSpec | None = None) -> Decision:
    """Apply `step` until the stage settles, so one run reaches the stage a second run
    would (a lead accepted by sales with every SQL criterion met becomes an SQL now,
    not over three runs)."""
    now = as_utc(now)
    spec = spec or LifecycleSpec()
    transitions: list[Transition] = []
    verdict_used = False
    # Each step either moves forward along the funnel or acts on a sales signal newer
    # than the stage it leaves, so the chain is short; the bound is only a safeguard.
    for _ in range(len(Stage)):
        moved = step(state, card, signals, spec, use_verdict=not verdict_used)
        if moved is None:
            break
        to, reason = moved
        transitions.append(Transition(card.contact_id, state.stage, to, reason, now))
        state = StageState(to, now)
        # One verdict moves a lead once, even if its time is not before `now` (clock skew).
        verdict_used = verdict_used or reason.startswith(("rejected by sales", "accepted by sales"))
    mql_at = now if any(t.to_stage == Stage.MQL for t in transitions) else None
    return Decision(state, tuple(transitions), mql_at)


def step(state: StageState, card: ScoreCard, signals: SalesSignals, spec: LifecycleSpec,
         use_verdict: bool = True) -> tuple[Stage, str] | None:
    """One move along the funnel, or None. In order: opportunity and customer set in
    the CRM are adopted; a sales rejection newer than the current stage recycles; a
    recycled lead comes back only through a new acceptance or engagement after the
    rejection; SAL and SQL set in the CRM are adopted; a SAL with every SQL criterion
    becomes an SQL; a sales acceptance makes a SAL; then marketing's own rules:
    disqualifiers and the MQL gate. Nothing moves a contact out of a sales-owned
    stage except sales (a rejection) or a later stage, and an MQL stays an MQL."""
    current, since = state.stage, state.since
    crm = signals.crm_stage

    def newer(at: datetime | None) -> bool:
        return use_verdict and at is not None and verdict_after(at, since, signals.status_exact)

    accepted = signals.status == "accepted" and newer(signals.status_at)
    if crm in (Stage.OPPORTUNITY, Stage.CUSTOMER) and crm.rank > current.rank:
        return crm, f"set to {crm.value} in the CRM"
    if current in (Stage.OPPORTUNITY, Stage.CUSTOMER):
        return None
    if signals.status == "rejected" and current in REJECTABLE and newer(signals.status_at):
        why = f" ({signals.reason})" if signals.reason else ""
        return Stage.RECYCLED, f"rejected by sales on {as_utc(signals.status_at):%Y-%m-%d}{why}"  # type: ignore[arg-type]  # newer() saw a time
    if current == Stage.RECYCLED:
        if accepted:
            return Stage.SAL, f"accepted by sales on {as_utc(signals.status_at):%Y-%m-%d}"  # type: ignore[arg-type]  # newer() saw a time
        rejected_at = signals.status_at if signals.status == "rejected" else since
        by_day = signals.status == "rejected" and not signals.status_exact
        engaged = card.last_engaged_at
        # Engagement after the rejection; after its day, when only its day is known.
        if (card.mql and engaged is not None
                and (rejected_at is None or (engaged.date() > as_utc(rejected_at).date() if by_day
                                             else engaged > as_utc(rejected_at)))):
            return Stage.MQL, f"re-qualified by engagement after the rejection: {_qualified(card)}"
        return None
    # While sales' verdict is a rejection, a SAL or SQL in the CRM's stage field is what
    # the rejected cycle left behind, not a new decision.
    if signals.status != "rejected" and crm in (Stage.SAL, Stage.SQL) and crm.rank > current.rank:
        return crm, f"set to {crm.value} in the CRM"
    if current == Stage.SAL and sql_met(signals.sql_criteria, spec.sql_criteria, spec.require_budget):
        return Stage.SQL, "all SQL criteria met: " + ", ".join(spec.sql_criteria)
    if accepted and current.rank < Stage.SAL.rank:
        return Stage.SAL, f"accepted by sales on {as_utc(signals.status_at):%Y-%m-%d}"  # type: ignore[arg-type]  # newer() saw a time
    if current in SALES_OWNED:
        return None

    # Marketing's side: lead, MQL, disqualified.
    if card.disqualified_by:
        if current == Stage.DISQUALIFIED:
            return None
        return Stage.DISQUALIFIED, "disqualified by " + ", ".join(card.disqualified_by)
    if card.mql and current in (Stage.LEAD, Stage.DISQUALIFIED):
        return Stage.MQL, _qualified(card)
    if current == Stage.DISQUALIFIED:
        return Stage.LEAD, "no disqualifier applies any more"
    # An MQL stays an MQL when its score decays: the hand-off happened, and only sales
    # (accept or reject) moves it on.
    return None


def _qualified(card: ScoreCard) -> str:
    return f"score {fmt(card.total)} met the threshold with grade {card.grade}"
