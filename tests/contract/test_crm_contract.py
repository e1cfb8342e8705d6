"""What every CRM behind the port must do, whatever its API: read in pages with a
watermark, read back what was written in mqlsync's words, write idempotently, report
deletes and merges, find tasks by key, and tell a refused record from a stopped run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from mqlsync.connector.errors import CredentialsError
from mqlsync.connector.model import FieldWrite, TaskRequest, WritePlan


def pull(crm, since=None):
    pages = list(crm.pull_contacts(since))
    return pages, [c.id for p in pages for c in p.contacts]


def test_a_full_read_pages_through_everyone_once_with_a_watermark(backend):
    pages, ids = pull(backend.crm)
    assert sorted(ids) == backend.ids  # everyone, once
    assert all(p.high_water is not None for p in pages if p.contacts)
    assert all(p.rejected == [] for p in pages)


def test_an_incremental_read_finds_what_changed_since_the_watermark(backend):
    pages, _ = pull(backend.crm)
    mark = max(p.high_water for p in pages if p.high_water)
    time.sleep(0.01)
    changed = backend.ids[3]
    backend.edit(changed)
    later, ids = pull(backend.crm, mark + timedelta(milliseconds=1))
    assert changed in ids
    assert max(p.high_water for p in later if p.high_water) > mark


def test_what_is_written_reads_back_in_mqlsyncs_words_and_writing_it_again_changes_nothing(backend):
    cid = backend.ids[0]
    values = {"score": "74", "fit": "58", "grade": "A", "stage": "mql", "mql": "true",
              "mql_at": "2026-11-30T02:31:07Z", "explanation": "Score 74: asked for a demo +20. MQL."}
    plan = WritePlan(updates=[FieldWrite(contact_id=cid, values=values)])
    first, again = backend.crm.apply(plan), backend.crm.apply(plan)
    assert first.updated == again.updated == [cid] and first.failed == again.failed == []
    pages, _ = pull(backend.crm)
    shown = next(p.recorded[cid] for p in pages if cid in p.recorded)
    assert {k: shown.get(k) for k in values} == values


def test_a_refused_record_fails_alone_with_the_crms_reason(backend):
    bad, good = backend.ids[1], backend.ids[2]
    result = backend.crm.apply(WritePlan(updates=[backend.refused(bad),
                                                  FieldWrite(contact_id=good, values={"score": "12"})]))
    assert [f.contact_id for f in result.failed] == [bad] and result.failed[0].reason
    assert good in result.updated and bad not in result.updated


def test_a_task_is_found_by_its_key_and_a_key_never_made_is_not(backend):
    cid = backend.ids[4]
    key = f"contract:{cid}:20261130T023107Z"
    task = TaskRequest(key=key, contact_id=cid, owner_id=None, due_at=datetime.now(UTC) + timedelta(hours=24),
                       subject="MQL: follow up", body="Score 74")
    made = backend.crm.apply(WritePlan(tasks=[task]))
    assert list(made.tasks) == [key]
    other = f"contract:{cid}:20250101T000000Z"
    assert backend.crm.find_tasks({key: cid, other: cid}) == {key: made.tasks[key]}


def test_a_deleted_record_is_reported_by_the_read_or_the_write(backend):
    pages, _ = pull(backend.crm)
    mark = max(p.high_water for p in pages if p.high_water)
    gone = backend.ids[5]
    backend.delete(gone)
    later, ids = pull(backend.crm, mark - timedelta(seconds=1))
    reported = gone in [d for p in later for d in p.deleted]
    result = backend.crm.apply(WritePlan(updates=[FieldWrite(contact_id=gone, values={"score": "1"})]))
    assert gone not in ids and (reported or result.gone == [gone])
    assert result.failed == []


def test_a_merge_names_the_survivor(backend):
    pages, _ = pull(backend.crm)
    mark = max(p.high_water for p in pages if p.high_water)
    loser, survivor = backend.ids[6], backend.ids[7]
    backend.merge(loser, survivor)
    later, ids = pull(backend.crm, mark - timedelta(seconds=1))
    merged = {old: new for p in later for old, new in p.merged.items()}
    assert merged.get(loser) == survivor and loser not in ids


def test_a_secret_the_crm_refuses_stops_the_run_with_a_credentials_error(sandbox_backend):
    with pytest.raises(CredentialsError):
        list(sandbox_backend.wrong_login().pull_contacts(None))


def test_requests_are_counted(backend):
    before = backend.crm.requests
    pull(backend.crm)
    assert backend.crm.requests > before
