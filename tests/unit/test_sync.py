"""The sync's decisions, tested fast: the pure plan (connector/sync) on its own, and a
whole run against an in-memory CRM that implements the port (tests/fakes.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mqlsync.connector import sample
from mqlsync.connector.config import load_mapping
from mqlsync.connector.model import Contact, Stage, StageRow, TaskRequest
from mqlsync.connector.scoring import Scorer
from mqlsync.connector.state import StateStore
from mqlsync.connector.sync import Known, plan_chunk, task_key, tasks_to_make
from mqlsync.jobs.sync import run_sync
from tests.conftest import ROOT
from tests.fakes import FakeCRM

LOADED = load_mapping(ROOT / "mappings" / "hubspot.yaml")
CONN = LOADED.mapping.connection
NOW = sample.ANCHOR
DATA = sample.generate(seed=7, contacts=120, now=NOW)


@pytest.fixture
def crm() -> FakeCRM:
    fake = FakeCRM(page_size=25, source=LOADED.mapping.activities[0].source)
    for contact in DATA.contacts:
        fake.put(contact, NOW - timedelta(days=1))
    fake.activities = list(DATA.activities)
    return fake


@pytest.fixture
def store(tmp_path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def known(contacts: list[Contact], **kw) -> Known:
    ledger: dict = {}
    for a in DATA.activities:
        ledger.setdefault(a.contact_id, []).append(a)
    return Known(contacts={c.id: c for c in contacts}, activities=ledger, stages=kw.get("stages", {}),
                 written=kw.get("written", {}), task_keys=kw.get("task_keys", {}))


def an_mql() -> Contact:
    plan = plan_chunk(LOADED, Scorer(LOADED.model), known(DATA.contacts), NOW)
    cid = next(t.contact_id for t in plan.writes.tasks)
    return next(c for c in DATA.contacts if c.id == cid)


# --- the plan, pure ------------------------------------------------------------------

def test_a_new_mql_gets_its_stage_tag_and_one_task_keyed_by_its_qualification():
    contact = an_mql()
    plan = plan_chunk(LOADED, Scorer(LOADED.model), known([contact]), NOW)
    (write,) = plan.writes.updates
    assert write.values["stage"] == "mql" and write.values["mql"] == "true"
    assert write.values["mql_at"] == "2026-11-01T09:00:00Z"
    (task,) = plan.writes.tasks
    assert task.key == task_key(CONN, contact.id, NOW) == f"{CONN}:{contact.id}:20261101T090000Z"
    assert task.due_at == NOW + timedelta(hours=LOADED.model.model.sla_hours)
    assert plan.record[contact.id].stage == StageRow(Stage.MQL, NOW, NOW) and plan.new_mqls == 1


def test_what_was_written_is_not_written_again_and_no_second_task_is_made():
    contact = an_mql()
    scorer = Scorer(LOADED.model)
    first = plan_chunk(LOADED, scorer, known([contact]), NOW)
    done = first.record[contact.id]
    later = plan_chunk(LOADED, scorer, known([contact], stages={contact.id: done.stage},
                                             written={contact.id: done.values},
                                             task_keys={contact.id: [(first.writes.tasks[0].key, "confirmed")]}),
                       NOW + timedelta(minutes=15))
    assert later.writes.updates == [] and later.writes.tasks == [] and later.owed == []


def test_a_run_that_stopped_after_making_the_task_is_resumed_with_the_same_key():
    contact = an_mql()
    earlier = NOW - timedelta(hours=1)
    pending = task_key(CONN, contact.id, earlier)
    plan = plan_chunk(LOADED, Scorer(LOADED.model), known([contact], task_keys={contact.id: [(pending, "pending")]}),
                      NOW)
    assert [t.key for t in plan.writes.tasks] == [pending]
    assert plan.record[contact.id].stage == StageRow(Stage.MQL, earlier, earlier)


def test_a_qualification_the_state_has_no_task_for_is_owed_not_made():
    contact = an_mql()
    stage = StageRow(Stage.MQL, NOW - timedelta(hours=3), NOW - timedelta(hours=3))
    plan = plan_chunk(LOADED, Scorer(LOADED.model), known([contact], stages={contact.id: stage}), NOW)
    assert plan.writes.tasks == [] and [t.key for t in plan.owed] == [task_key(CONN, contact.id, stage.mql_at)]


def test_an_owed_task_is_made_within_the_follow_up_time_and_skipped_after_it():
    def owed(hours_ago: float) -> TaskRequest:
        at = NOW - timedelta(hours=hours_ago)
        return TaskRequest(key=task_key(CONN, f"c{hours_ago:g}", at), contact_id=f"c{hours_ago:g}", owner_id=None,
                           due_at=at, subject="s", body="b")

    fresh, stale, found, pending = owed(2), owed(30), owed(3), owed(40)
    decided = tasks_to_make([], [fresh, stale, found, pending], {pending.key: "pending"}, {found.key: "t-1"}, NOW,
                            sla_hours=24)
    assert [t.key for t in decided.make] == [fresh.key, pending.key]
    assert decided.skipped == {stale.key: stale.contact_id}


# --- a whole run against the in-memory CRM --------------------------------------------

def test_a_run_writes_once_and_the_next_writes_nothing(crm, store):
    first = run_sync(LOADED, crm, store, NOW)
    assert first.contacts == len(DATA.contacts) and first.writes == len(DATA.contacts)
    assert first.new_mqls > 0 and len(crm.tasks) == first.tasks_created == first.new_mqls
    second = run_sync(LOADED, crm, store, NOW + timedelta(minutes=15))
    assert (second.writes, second.tasks_created, second.new_mqls) == (0, 0, 0)


def test_a_refused_record_is_reported_retried_and_written_once_the_crm_takes_it(crm, store):
    victim = DATA.contacts[0].id
    crm.refuse[victim] = "INVALID_EMAIL: not an address"
    first = run_sync(LOADED, crm, store, NOW)
    assert first.failed == [f"{victim}: INVALID_EMAIL: not an address"] and victim not in crm.fields
    assert store.written_of(CONN, [victim]) == {}
    del crm.refuse[victim]
    second = run_sync(LOADED, crm, store, NOW + timedelta(minutes=15))  # nothing changed in the CRM
    assert second.failed == [] and second.writes == 1 and victim in crm.fields


def test_a_lost_state_is_rebuilt_from_the_crm_without_a_second_task(crm, store, tmp_path):
    run_sync(LOADED, crm, store, NOW)
    tasks = dict(crm.tasks)
    fresh = StateStore(f"sqlite:///{tmp_path / 'new.db'}")
    again = run_sync(LOADED, crm, fresh, NOW + timedelta(minutes=15), full=True)
    assert again.rebuilt == len(crm.fields) and again.writes == 0 and crm.tasks == tasks


def test_a_chunks_record_is_one_transaction(crm, store, monkeypatch):
    # A run that dies while recording a chunk leaves none of it recorded: the next run
    # does that chunk again (and finds its tasks by key), not half of it.
    crm.refuse[DATA.contacts[0].id] = "refused"

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(store, "record_failures", broken)
    with pytest.raises(RuntimeError):
        run_sync(LOADED, crm, store, NOW)
    ids = [c.id for c in DATA.contacts]
    assert store.written_of(CONN, ids) == {} and store.stages_of(CONN, ids) == {}
    keys = store.task_keys_of(CONN, ids)
    assert keys and {status for ks in keys.values() for _, status in ks} == {"pending"}
    monkeypatch.undo()
    again = run_sync(LOADED, crm, store, NOW)
    assert again.tasks_created == 0 and len(crm.tasks) == len(keys)  # found by key, not made twice


def test_a_deleted_and_a_merged_record_are_forgotten_and_their_history_moves(crm, store):
    run_sync(LOADED, crm, store, NOW)
    gone, loser, survivor = (c.id for c in DATA.contacts[:3])
    later = NOW + timedelta(hours=1)
    crm.delete(gone, later)
    crm.merge(loser, survivor, later)
    summary = run_sync(LOADED, crm, store, later + timedelta(minutes=1))
    assert summary.deleted == 1 and summary.merged == 1
    assert gone not in store.contact_ids(CONN) and loser not in store.contact_ids(CONN)


def test_an_activity_deleted_in_the_crm_leaves_the_ledger_and_its_contact_is_rescored(crm, store):
    from mqlsync.connector.scoring.explain import whole

    run_sync(LOADED, crm, store, NOW)
    later = NOW + timedelta(minutes=15)
    scorer, people = Scorer(LOADED.model), {c.id: c for c in DATA.contacts}

    def score_without(gone):
        rest = [a for a in DATA.activities if a.contact_id == gone.contact_id and a.id != gone.id]
        return whole(scorer.score(people[gone.contact_id], rest, later).total)

    gone = next(a for a in DATA.activities
                if score_without(a) != crm.fields.get(a.contact_id, {}).get("score"))  # one that counted
    crm.delete_activity(gone.id)
    run_sync(LOADED, crm, store, later)
    ledger = store.activities_of(CONN, [gone.contact_id]).get(gone.contact_id, [])
    assert gone.id not in {a.id for a in ledger}
    assert crm.fields[gone.contact_id]["score"] == score_without(gone)


def test_a_source_the_crm_does_not_allow_is_skipped_the_run_writes_and_it_is_read_whole_once_allowed(crm, store):
    crm.denied = "the token lacks the scope content"
    first = run_sync(LOADED, crm, store, NOW)
    assert first.skipped_sources == [f"{crm.source}: the token lacks the scope content"]
    assert first.status == "ok" and first.activities == 0 and first.writes == len(DATA.contacts)
    assert store.watermark(CONN, f"activities:{crm.source}") is None  # it stays where it was
    crm.denied = None
    second = run_sync(LOADED, crm, store, NOW + timedelta(minutes=15))
    assert second.skipped_sources == [] and second.activities == len(DATA.activities)
    assert second.new_mqls > 0


def test_a_verdict_given_since_the_last_run_that_moves_nothing_is_reported_with_why(crm, store):
    assert run_sync(LOADED, crm, store, NOW).verdicts_not_applied == []  # a first run reports none
    later = NOW + timedelta(hours=2)
    customer, lead = DATA.contacts[0], DATA.contacts[1]
    crm.put(customer.model_copy(update={"crm_stage": Stage.CUSTOMER, "sales_status": "rejected",
                                        "sales_status_at": later}), later)
    # Sales rejected this lead long ago: an old verdict is not news.
    crm.put(lead.model_copy(update={"sales_status": "rejected", "sales_status_at": NOW - timedelta(days=30)}), later)
    summary = run_sync(LOADED, crm, store, later + timedelta(minutes=15))
    (line,) = summary.verdicts_not_applied
    assert line.startswith(f"{customer.id} ") and "rejected at 2026-11-01T11:00:00Z; the contact is already customer" \
        in line


def test_a_run_on_a_crm_without_the_fields_mqlsync_writes_stops_at_once_having_done_nothing(crm, store):
    from mqlsync.connector.errors import SetupNeeded

    crm.missing = ["mqlsync_score", "mqlsync_stage"]
    with pytest.raises(SetupNeeded, match=r"lacks 2 field\(s\) mqlsync writes \(mqlsync_score, mqlsync_stage\): "
                                          r"run `mqlsync setup"):
        run_sync(LOADED, crm, store, NOW)
    assert crm.requests == 1 and store.contact_ids(CONN) == [] and crm.fields == {}
    assert store.status(CONN)["runs"][0]["status"] == "failed"
    crm.missing = []
    assert run_sync(LOADED, crm, store, NOW).writes == len(DATA.contacts)


def _in_mode(mode: str):
    from dataclasses import replace

    write_back = LOADED.mapping.write_back.model_copy(update={"mode": mode})
    return replace(LOADED, mapping=LOADED.mapping.model_copy(update={"write_back": write_back}))


def test_shadow_mode_writes_only_mqlsyncs_own_fields_and_full_mode_then_hands_over(crm, store):
    shadow = run_sync(_in_mode("shadow"), crm, store, NOW)
    assert shadow.writes == len(DATA.contacts) and shadow.mqls > 0  # scored and decided all the same
    written = {key for values in crm.fields.values() for key in values}
    assert "score" in written and "grade" in written and "explanation" in written
    assert not written & {"lifecycle", "mql", "mql_at"} and crm.tasks == {}
    full = run_sync(_in_mode("full"), crm, store, NOW + timedelta(minutes=15))
    assert full.writes > 0 and len(crm.tasks) == shadow.mqls  # the MQLs found in shadow reach sales now
    assert sum(v.get("mql") == "true" for v in crm.fields.values()) >= shadow.mqls


def test_a_trial_run_writes_only_the_records_asked_for_and_moves_no_watermark(crm, store):
    from mqlsync.jobs.sync import Scope

    first, second = DATA.contacts[0].id, DATA.contacts[1].id
    trial = run_sync(LOADED, crm, store, NOW, scope=Scope(only=(first, "nobody")))
    assert trial.scored == 1 and set(crm.fields) == {first}
    assert store.watermark(CONN, "contacts") is None  # the next run reads all it would have
    limited = run_sync(LOADED, crm, store, NOW, scope=Scope(limit=2))
    assert limited.scored == 2 and second in crm.fields
    rest = run_sync(LOADED, crm, store, NOW + timedelta(minutes=15))
    assert set(crm.fields) == {c.id for c in DATA.contacts} and store.watermark(CONN, "contacts") is not None
    assert rest.scored == len(DATA.contacts)
