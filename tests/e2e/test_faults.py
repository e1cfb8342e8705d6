"""Fault injection, for both CRMs: a sandbox that throttles, fails with 5xx and drops
connections (some after doing the work, so the client never hears it was done). The
sync ends with the CRM as a sandbox without faults ends: the same values for every
person and exactly one task per qualification; nothing lost, nothing twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

import mqlsync.connector.http as http
from mqlsync.connector.config import load_mapping
from mqlsync.connector.errors import CRMUnavailable
from mqlsync.connector.sandbox.server import Faults
from mqlsync.connector.state import StateStore
from mqlsync.jobs.connect import adapter_for
from mqlsync.jobs.sandbox import mapping_file, start_sandbox
from mqlsync.jobs.sync import run_sync

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def synced_view(crm: str, tmp_path, faults: Faults | None) -> tuple[dict, Counter, int]:
    """Sync a seeded sandbox until a run completes cleanly; the CRM's resulting values by
    e-mail, the tasks per person, and how many faults the sandbox injected."""
    loaded = load_mapping(mapping_file(crm))
    running = start_sandbox(crm, contacts=150, now=NOW, burst_limit=10**6, faults=faults)
    org = running.emulation
    with running.server:
        adapter = adapter_for(loaded, running.env())
        adapter.ensure_fields()
        store = StateStore(f"sqlite:///{tmp_path / f'{crm}-{bool(faults)}.db'}")
        for _ in range(6):  # a run that gives up (CRMUnavailable) is resumed by the next
            try:
                summary = run_sync(loaded, adapter, store, datetime.now(UTC))
            except CRMUnavailable:
                continue
            if summary.status == "ok" and summary.writes == 0:
                break
        else:
            pytest.fail("the sync did not settle")
        injected = running.server.snapshot()["faults"]
    keys = loaded.mapping.write_back.fields
    if crm == "hubspot":
        people = {c["id"]: c["properties"] for c in org.contacts.values()}
        email = {cid: p.get("email") for cid, p in people.items()}
        tasks = Counter(email[next(iter(t["contacts"]))] for t in org.tasks.values())
    else:
        people = {i: r for obj in ("Lead", "Contact") for i, r in org.records[obj].items()}
        email = {cid: p.get("Email") for cid, p in people.items()}
        tasks = Counter(email[t["WhoId"]] for t in org.records["Task"].values() if t.get("MQL_Task_Key__c"))
    values = {email[cid]: tuple(p.get(keys[k]) for k in ("score", "fit", "engagement", "grade", "stage", "mql"))
              for cid, p in people.items()}
    return values, tasks, injected


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_throttling_5xx_and_dropped_connections_lose_nothing_and_double_nothing(crm, tmp_path, monkeypatch):
    monkeypatch.setattr(http, "_wait", lambda retry_state: 0.01)  # the waits are tested elsewhere
    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.01)
    clean_values, clean_tasks, _ = synced_view(crm, tmp_path, None)
    values, tasks, injected = synced_view(crm, tmp_path, Faults(rate_429=0.1, rate_5xx=0.1, rate_drop=0.08, seed=5))
    assert injected > 5
    assert values == clean_values
    assert tasks == clean_tasks and set(tasks.values()) == {1}
