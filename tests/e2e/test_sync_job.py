"""The sync job's guarantees, against an in-process sandbox: chunks change nothing but
memory, a dry run writes nothing anywhere, and the daily rescore reads nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mqlsync.jobs.sync as sync_module
from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter
from mqlsync.connector.state import StateStore
from mqlsync.jobs.sandbox import start_sandbox
from mqlsync.jobs.sync import run_sync
from tests.conftest import ROOT

LOADED = load_mapping(ROOT / "mappings" / "hubspot.yaml")
NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
WRITES = "POST /crm/v3/objects/contacts/batch/update"


def synced(tmp_path, name: str, contacts: int = 80):
    running = start_sandbox("hubspot", contacts=contacts, now=NOW, burst_limit=10**6)
    running.server.start()
    crm = HubSpotAdapter(LOADED.mapping, "sandbox-token", running.server.url)
    crm.ensure_fields()
    return running, crm, StateStore(f"sqlite:///{tmp_path / name}")


def crm_view(running) -> dict[str, dict]:
    return {cid: {k: v for k, v in c["properties"].items() if k.startswith("mqlsync_") or k == "lifecyclestage"}
            for cid, c in running.emulation.contacts.items()}


def test_small_chunks_write_exactly_what_one_chunk_writes(tmp_path, monkeypatch):
    one, crm_one, store_one = synced(tmp_path, "one.db")
    many, crm_many, store_many = synced(tmp_path, "many.db")
    try:
        whole = run_sync(LOADED, crm_one, store_one, NOW)
        monkeypatch.setattr(sync_module, "CHUNK", 7)
        chunked = run_sync(LOADED, crm_many, store_many, NOW)
        again = run_sync(LOADED, crm_many, store_many, NOW)
    finally:
        one.server.stop()
        many.server.stop()
    assert (chunked.writes, chunked.new_mqls, chunked.tasks_created) == (whole.writes, whole.new_mqls,
                                                                       whole.tasks_created) == (80, whole.new_mqls,
                                                                                                whole.new_mqls)
    assert crm_view(many) == crm_view(one)
    assert len(many.emulation.tasks) == len(one.emulation.tasks) == whole.new_mqls
    assert again.writes == again.tasks_created == 0


def test_a_dry_run_writes_nothing_to_the_crm_or_the_state(tmp_path):
    running, crm, store = synced(tmp_path, "dry.db")
    try:
        before = crm_view(running)
        dry = run_sync(LOADED, crm, store, NOW, dry_run=True)
        stats = running.server.snapshot()["by_endpoint"]
    finally:
        running.server.stop()
    assert dry.changed == 80 and dry.writes == 0 and dry.tasks_created == dry.new_mqls > 0
    assert len(dry.diff) == 80 and dry.diff[0]["changes"]["stage"][0] is None
    assert WRITES not in stats and "POST /crm/v3/objects/tasks/batch/create" not in stats
    assert crm_view(running) == before and running.emulation.tasks == {}
    assert store.watermark("hubspot-main", "contacts") is None and store.contact_ids("hubspot-main") == []


def test_the_daily_rescore_reads_nothing_from_the_crm_and_writes_the_decay(tmp_path):
    running, crm, store = synced(tmp_path, "rescore.db")
    try:
        first = run_sync(LOADED, crm, store, NOW)
        mqls = {cid for cid, c in crm_view(running).items() if c.get("mqlsync_stage") == "mql"}
        running.server.stats.clear()
        later = run_sync(LOADED, crm, store, NOW + timedelta(days=60), rescore_only=True)
        stats = running.server.snapshot()["by_endpoint"]
    finally:
        running.server.stop()
    assert later.contacts == later.activities == 0 and later.scored == 80
    assert set(stats) <= {WRITES} and later.writes > 0
    assert {cid for cid, c in crm_view(running).items() if c.get("mqlsync_stage") == "mql"} == mqls
    assert later.tasks_created == 0 and first.new_mqls == len(mqls)


def test_late_events_and_backdated_meetings_are_still_picked_up(tmp_path):
    running, crm, store = synced(tmp_path, "late.db", contacts=30)
    try:
        run_sync(LOADED, crm, store, NOW)
        portal = running.emulation
        cid = next(iter(portal.contacts))
        watermark = store.watermark("hubspot-main", "activities:events:e_visited_page")
        # HubSpot's analytics can deliver a page view after a run that should have seen it...
        portal.activity.add_event("e_visited_page", cid, int((watermark - timedelta(minutes=30)).timestamp() * 1000),
                         {"hs_url": "https://www.mqlsync.example/pricing"})
        # ...and a rep may log today a meeting that took place last week.
        portal.add_engagement("meetings", cid, int((NOW - timedelta(days=7)).timestamp() * 1000),
                              {"hs_meeting_title": "Logged late", "hs_meeting_outcome": "COMPLETED"})
        later = run_sync(LOADED, crm, store, NOW + timedelta(minutes=5))
        ledger = store.activities_of("hubspot-main", [cid])[cid]
    finally:
        running.server.stop()
    assert later.new_activities == 2
    assert any(a.type == "page_view" and a.at == watermark - timedelta(minutes=30) for a in ledger)
    assert any(a.type == "meeting" and a.attributes.get("title") == "Logged late" for a in ledger)


def test_the_state_store_works_the_same_on_postgresql(tmp_path, fresh_postgres):
    """PostgreSQL enforces what SQLite lets pass (column lengths, types): the same
    runs must give the same CRM and the same state on both."""
    views = []
    for store_url in (f"sqlite:///{tmp_path / 'lite.db'}", fresh_postgres):
        running, crm, _ = synced(tmp_path, "unused.db", contacts=60)
        store = StateStore(store_url)
        try:
            first = run_sync(LOADED, crm, store, NOW)
            second = run_sync(LOADED, crm, store, NOW + timedelta(minutes=5))
            rescore = run_sync(LOADED, crm, store, NOW + timedelta(days=30), rescore_only=True)
            views.append((crm_view(running), first.writes, first.tasks_created, second.writes, rescore.writes,
                          len(store.transitions_of("hubspot-main"))))
        finally:
            running.server.stop()
            store.engine.dispose()
    assert views[0] == views[1]
    assert views[1][1] == 60 and views[1][3] == 0



def test_the_state_keeps_what_the_model_reads_and_no_more_personal_data(tmp_path):
    from mqlsync.connector.sample import generate
    from mqlsync.connector.scoring import Scorer
    from mqlsync.connector.sync import Keep

    keep = Keep.of(LOADED)
    data = generate(seed=3, contacts=200)
    scorer = Scorer(LOADED.model)
    ledger: dict[str, list] = {}
    for activity in data.activities:
        ledger.setdefault(activity.contact_id, []).append(activity)
    for contact in data.contacts:  # scoring what is kept gives the same card as the whole record
        whole, kept = scorer.score(contact, ledger.get(contact.id, ()), NOW), \
            scorer.score(keep.stored(contact), ledger.get(contact.id, ()), NOW)
        assert (kept.total, kept.fit, kept.grade, kept.mql, kept.unmet) == \
            (whole.total, whole.fit, whole.grade, whole.mql, whole.unmet), contact.id

    running, crm, store = synced(tmp_path, "private.db", contacts=80)
    for cid in list(running.emulation.contacts)[:5]:
        running.emulation.touch(cid, {"city": f"Szeged-{cid}"})
    try:
        run_sync(LOADED, crm, store, NOW)
    finally:
        running.server.stop()
    raw = (tmp_path / "private.db").read_bytes()
    phones = [c["properties"]["phone"] for c in running.emulation.contacts.values() if c["properties"].get("phone")]
    cities = {c["properties"]["city"] for c in running.emulation.contacts.values() if c["properties"].get("city")}
    assert phones and cities
    assert not any(p.encode() in raw for p in phones)  # read only to know it is filled: a hash
    assert not any(f'"{c}"'.encode() in raw for c in cities)  # never read by the model: not kept
    stored = store.load_contacts("hubspot-main")
    with_phone = [cid for cid, c in running.emulation.contacts.items() if c["properties"].get("phone")]
    assert with_phone and all(stored[cid].phone.startswith("sha256:") for cid in with_phone)


def test_a_run_paces_to_the_lower_limit_the_portal_announces_and_meets_no_429(tmp_path):
    from mqlsync.connector.sandbox.server import BurstLimiter

    def run_against() -> dict:
        running, crm, store = synced(tmp_path, "paced.db", contacts=60)
        # A portal allowing 12 requests a second, below the shipped mapping's 190 per 10 s
        # (a Starter portal's 100 per 10 s, in a window short enough for a test).
        running.emulation.burst = BurstLimiter(12, 1.0)
        try:
            summary = run_sync(LOADED, crm, store, NOW)
            return {"summary": summary, "stats": running.server.snapshot(), "pace": crm.client.policy.pace}
        finally:
            running.server.stop()

    paced = run_against()
    assert paced["summary"].status == "ok" and paced["summary"].writes == 60
    assert paced["stats"]["throttled"] == 0
    assert paced["pace"].max_requests == 12
    # (Without the announcement the portal refuses some: the adapter's pacing test shows it.)
