"""The decisions of a sync run, as values in and values out: for a chunk of contacts,
what to write to the CRM, which tasks may be owed, and what to record. No I/O: the sync
job (jobs/sync.py) reads the inputs from the CRM and the state and carries the outputs
back to them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.config.mapping import WriteBack
from mqlsync.connector.model import (
    Activity,
    Contact,
    FieldWrite,
    ScoreCard,
    Stage,
    StageRow,
    TaskRequest,
    Transition,
    WritePlan,
    iso,
)
from mqlsync.connector.scoring import Decision, SalesSignals, Scorer, StageState, decide, sales_text
from mqlsync.connector.scoring.explain import whole
from mqlsync.connector.scoring.lifecycle import verdict_after
from mqlsync.connector.sync.tasks import latest_qualification, task_for, task_status

#: stages that carry the MQL tag: qualified by marketing, or further along
TAGGED = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)

Values = dict[str, str | None]


def initial_state(contact: Contact) -> StageState:
    """A contact seen for the first time starts where the CRM shows it."""
    return StageState(contact.crm_stage or Stage.LEAD, None)


def crm_values(card: ScoreCard, decision: Decision, mql_at: datetime | None) -> Values:
    """The write-back values in mqlsync's words, as the strings the CRM will hold.
    Whole points: decay then changes a value only now and then, not on every run."""
    return {
        "score": whole(card.total), "fit": whole(card.fit), "engagement": whole(card.engagement),
        "negative": whole(card.negative), "grade": card.grade, "stage": decision.stage.value,
        "mql": "true" if decision.stage in TAGGED else "false", "mql_at": iso(mql_at),
        "explanation": sales_text(card, decision.stage), "model_version": card.model_version,
        "lifecycle": decision.stage.value,
    }


#: what sales acts on: not written in shadow mode (nor recorded as written, so the
#: switch to full mode writes it)
SALES_FACING = frozenset({"lifecycle", "mql", "mql_at"})


def reaches_crm(write_back: WriteBack, key: str, value: str | None) -> bool:
    """Only what lands in a CRM field is a change: a value the mapping writes nowhere
    (or a stage its CRM has no value for) is recorded, not sent."""
    if key == "lifecycle":
        return write_back.lifecycle and value is not None and Stage(value) in write_back.stage_values
    if key == "mql":
        return True  # the MQL tag: a field or a list membership
    return key in write_back.fields


@dataclass(frozen=True)
class Adopted:
    """What the state takes from the CRM for one contact (None: it keeps its own)."""

    stage: StageRow | None
    written: Values | None


def adopt_from_crm(recorded: Mapping[str, Values], stages: Mapping[str, StageRow],
                   written: Mapping[str, Values]) -> dict[str, Adopted]:
    """What the state takes from what the CRM shows of mqlsync's own fields. All of it,
    for a contact the state knows nothing of: a lost, reset or new state database, or
    another machine's. The stage and values, where the CRM shows a qualification later
    than the state's: an old backup, or runs from another state database since.
    Otherwise the state's own record stands."""
    out: dict[str, Adopted] = {}
    for cid, shown in recorded.items():
        if not any(v is not None for k, v in shown.items() if k != "lifecycle"):
            continue  # mqlsync never wrote this record
        try:
            stage = Stage(value) if (value := shown.get("stage")) else None
        except ValueError:
            stage = None  # not a stage mqlsync writes: someone typed it
        mql_at = _time(shown.get("mql_at")) if stage in TAGGED else None
        row = None if stage is None else StageRow(stage, mql_at if stage == Stage.MQL else None, mql_at)
        known = stages.get(cid)
        if known is None:
            if row is not None or cid not in written:
                out[cid] = Adopted(row, None if cid in written else dict(shown))
        elif mql_at is not None and (known.mql_at is None or mql_at > known.mql_at.replace(microsecond=0)):
            out[cid] = Adopted(row, dict(shown))  # mql_at is set only with a tagged stage: row is not None
        elif cid not in written:
            out[cid] = Adopted(None, dict(shown))
    return out


def _time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass
class Known:
    """What is known of a chunk of contacts before it is scored."""

    contacts: Mapping[str, Contact]
    #: every activity of each contact (the ledger)
    activities: Mapping[str, Sequence[Activity]]
    stages: Mapping[str, StageRow]
    #: the values last written to the CRM
    written: Mapping[str, Values]
    #: each contact's task keys and their status (pending, confirmed, skipped): the
    #: journal of qualifications
    task_keys: Mapping[str, Sequence[tuple[str, str]]]
    #: the CRM's lifecycle value now, where the CRM has one
    lifecycle: Mapping[str, str | None] = field(default_factory=dict)
    #: sales' verdicts given at or after this time are news to this run: one not applied
    #: is reported (None: report none, e.g. a first run, where every old verdict is old)
    verdicts_since: datetime | None = None


@dataclass(frozen=True)
class Record:
    """What the state records of a contact once the CRM confirmed its writes."""

    values: Values
    stage: StageRow
    transitions: tuple[Transition, ...]


@dataclass
class ChunkPlan:
    writes: WritePlan = field(default_factory=WritePlan)
    #: tasks for qualifications this state has no confirmed task for: the CRM is asked
    #: whether they exist before any is made (see tasks.tasks_to_make)
    owed: list[TaskRequest] = field(default_factory=list)
    record: dict[str, Record] = field(default_factory=dict)
    #: every contact whose values change: (id, name, {key: [before, after]}), explanation left out
    changes: list[tuple[str, str, dict[str, list[Any]]]] = field(default_factory=list)
    mqls: int = 0
    new_mqls: int = 0
    #: rule id -> contacts it fired for
    rules: Counter[str] = field(default_factory=Counter)
    #: sales' verdicts given since the last run that did not move the contact, and why
    unapplied: list[str] = field(default_factory=list)
    #: why leads whose score passes are held back -> how many
    held: Counter[str] = field(default_factory=Counter)


def held_back(card: ScoreCard, stage: Stage, threshold: float) -> str | None:
    """Why a lead whose score passes the threshold is not an MQL (None: it is not held):
    the gate's other conditions (grade, required fields, a disqualifier), or a sales
    rejection it has not yet outlived by new engagement."""
    if stage in TAGGED or card.total < threshold:
        return None
    if not card.mql:
        return "; ".join(card.unmet)
    if stage == Stage.RECYCLED:
        return "recycled by sales: becomes an MQL again on engagement after the rejection"
    return None


def verdict_not_applied(contact: Contact, before: StageState, decision: Decision,
                        since: datetime | None) -> str | None:
    """Why sales' verdict, given at or after `since`, left the contact where it is; None
    when it moved the contact, says what the stage already says, or is not news."""
    verdict, at, exact = contact.sales_status, contact.sales_status_at, contact.sales_status_exact
    if verdict is None or at is None or since is None or not verdict_after(at, since, exact):
        return None
    stage = decision.stage
    if (verdict == "rejected" and stage == Stage.RECYCLED) or (
            verdict == "accepted" and stage.rank >= Stage.SAL.rank and stage != Stage.RECYCLED):
        return None
    when = f"{at:%Y-%m-%d}" if not exact else iso(at)
    if stage in (Stage.OPPORTUNITY, Stage.CUSTOMER):
        why = f"the contact is already {stage.value}"
    elif before.since is not None and not verdict_after(at, before.since, exact):
        why = f"it is older than the contact's stage {before.stage.value}, since {iso(before.since)}"
    else:
        why = f"the contact stays {stage.value}"
    return f"{verdict} at {when}; {why}"


def plan_chunk(loaded: LoadedMapping, scorer: Scorer, known: Known, now: datetime) -> ChunkPlan:
    """Score, decide and diff a chunk of contacts."""
    spec = loaded.model.model.lifecycle
    write_back = loaded.mapping.write_back
    shadow = write_back.mode == "shadow"
    out = ChunkPlan()
    for cid, contact in known.contacts.items():
        card = scorer.score(contact, known.activities.get(cid, ()), now)
        row = known.stages.get(cid)
        state = StageState(row.stage, row.since) if row else initial_state(contact)
        # Whole seconds: a qualification's time is written to the CRM and read back
        # from it (HubSpot keeps milliseconds) and keys its task, all to the second.
        decision = decide(state, card, SalesSignals.of(contact), now.replace(microsecond=0), spec)
        qualified_at = decision.mql_at
        since = decision.state.since
        keys = dict(known.task_keys.get(cid, ()))
        prior, confirmed = latest_qualification(keys)
        unrecorded = prior is not None and (row is None or (
            (row.since is None or prior > row.since) and (row.mql_at is None or prior > row.mql_at)))
        if unrecorded and (qualified_at is not None or (decision.stage in TAGGED and not confirmed)):
            # A run qualified this contact and created (or was creating) its task, then
            # stopped before recording the stage; or its task's fate is unknown while the
            # CRM already shows the stage that run wrote: the same qualification, the
            # same task key (looked up before it is created again).
            qualified_at = prior
            since = prior if decision.stage == Stage.MQL else since
        mql_at = qualified_at or (row.mql_at if row else None)
        if decision.stage not in TAGGED:
            mql_at = None
        values = crm_values(card, decision, mql_at)
        if shadow:
            values = {k: v for k, v in values.items() if k not in SALES_FACING}
        before = known.written.get(cid, {})
        changed = {k: v for k, v in values.items() if before.get(k) != v and reaches_crm(write_back, k, v)}
        if changed:
            out.writes.updates.append(FieldWrite(contact_id=cid, values=changed,
                                                 lifecycle_from=known.lifecycle.get(cid)))
            out.changes.append((cid, contact.name, {k: [before.get(k), v] for k, v in changed.items()
                                                    if k != "explanation"}))
        if loaded.mapping.tasks.enabled and not shadow:
            if qualified_at is not None:
                out.writes.tasks.append(task_for(loaded, contact, card, qualified_at))
            elif mql_at is not None and task_status(keys, mql_at) not in ("confirmed", "skipped"):
                # A qualification this state has no confirmed task for (it was lost,
                # reset, restored from a backup, or the qualification came from another
                # state): the CRM says whether its task exists.
                out.owed.append(task_for(loaded, contact, card, mql_at))
        out.record[cid] = Record(values, StageRow(decision.stage, since, mql_at), decision.transitions)
        why = verdict_not_applied(contact, state, decision, known.verdicts_since)
        if why:
            out.unapplied.append(f"{cid} ({contact.name}): {why}")
        held = held_back(card, decision.stage, scorer.threshold)
        if held:
            out.held[held] += 1
        out.mqls += decision.stage == Stage.MQL
        out.new_mqls += qualified_at is not None
        out.rules.update(hit.rule_id for hit in card.hits)
    return out
