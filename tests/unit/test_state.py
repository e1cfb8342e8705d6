"""The state store's handling of records that leave the CRM or become another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mqlsync.connector.model import Activity, Contact, Stage
from mqlsync.connector.state import StateStore

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
CONN = "salesforce-main"


def activity(aid: str, who: str, days: int = 1) -> Activity:
    return Activity(id=aid, contact_id=who, type="page_view", at=NOW - timedelta(days=days))


def store_with(tmp_path) -> StateStore:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.save_contacts(CONN, [Contact(id="lead"), Contact(id="contact"), Contact(id="other")], NOW)
    store.add_activities(CONN, [activity("a1", "lead"), activity("a2", "lead"), activity("a2", "contact"),
                                activity("a3", "contact")])
    store.commit_writes(CONN, {"lead": {"stage": "mql"}}, {"lead": (Stage.MQL, NOW, NOW)}, [], NOW)
    store.record_failures(CONN, {"lead": "UNABLE_TO_LOCK_ROW"}, NOW)
    return store


def test_a_merge_moves_the_history_and_the_stage_and_forgets_the_old_record(tmp_path):
    store = store_with(tmp_path)
    assert store.merge(CONN, {"lead": "contact"}) == ["contact"]
    ledger = store.activities_of(CONN, ["lead", "contact"])
    assert sorted(a.id for a in ledger["contact"]) == ["a1", "a2", "a3"] and "lead" not in ledger
    assert store.stages_of(CONN, ["contact", "lead"]) == {"contact": (Stage.MQL, NOW, NOW)}
    assert store.written_of(CONN, ["lead"]) == {} and store.failures_of(CONN) == {}
    assert sorted(store.contact_ids(CONN)) == ["contact", "other"]


def test_the_survivor_keeps_the_further_along_stage(tmp_path):
    store = store_with(tmp_path)
    store.commit_writes(CONN, {"contact": {"stage": "sql"}}, {"contact": (Stage.SQL, NOW, None)}, [], NOW)
    store.merge(CONN, {"lead": "contact"})
    assert store.stages_of(CONN, ["contact"]) == {"contact": (Stage.SQL, NOW, None)}
    behind = store_with(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path)
    behind.commit_writes(CONN, {"contact": {"stage": "lead"}}, {"contact": (Stage.LEAD, NOW, None)}, [], NOW)
    behind.merge(CONN, {"lead": "contact"})
    assert behind.stages_of(CONN, ["contact"]) == {"contact": (Stage.MQL, NOW, NOW)}


def test_forget_drops_everything_kept_about_a_deleted_record(tmp_path):
    store = store_with(tmp_path)
    assert store.forget(CONN, ["lead", "never-seen"]) == 1
    assert store.load_contacts(CONN, ["lead"]) == {} and store.activities_of(CONN, ["lead"]) == {}
    assert store.stages_of(CONN, ["lead"]) == {} and store.failures_of(CONN) == {}
    assert len(store.activities_of(CONN, ["contact"])["contact"]) == 2


def test_a_merged_away_id_leads_to_its_survivor_through_merges_of_merges(tmp_path):
    store = store_with(tmp_path)
    store.merge(CONN, {"lead": "contact"})
    store.merge(CONN, {"contact": "other"})
    assert store.survivors_of(CONN, ["lead", "contact", "other", "unknown"]) == {"lead": "other",
                                                                                  "contact": "other"}
