"""The demo: a sandbox CRM (HubSpot or Salesforce) in this process, seeded with the
sample data, set up and synced twice, so anyone can see mqlsync work without a CRM
account."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mqlsync.connector.config import load_mapping
from mqlsync.connector.state import StateStore

from .connect import adapter_for
from .sandbox import mapping_file, start_sandbox
from .sync import run_sync

#: a Professional/Enterprise portal's burst limit for private apps, 190 requests per
#: 10 seconds (HubSpot API usage guidelines); the sandbox defaults to Free/Starter's 100
DEMO_BURST_LIMIT = 190


def run_demo(seed: int = 7, contacts: int = 2000, mapping_path: Path | None = None,
             state_dir: Path | None = None, progress=None, crm: str = "hubspot") -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    loaded = load_mapping(mapping_path or mapping_file(crm))
    running = start_sandbox(crm, seed=seed, contacts=contacts, now=now, burst_limit=DEMO_BURST_LIMIT,
                            mapping_path=mapping_path)
    with tempfile.TemporaryDirectory() as tmp, running.server:
        folder = state_dir or Path(tmp)
        store = StateStore(f"sqlite:///{folder / 'demo-state.db'}")
        adapter = adapter_for(loaded, running.env())
        setup = adapter.ensure_fields()
        # The runs happen after seeding: a CRM stamps the seeded records with the time
        # they were loaded, and a run's watermark never passes the run's own time.
        now = datetime.now(UTC)
        first = run_sync(loaded, adapter, store, now, progress=progress)
        second = run_sync(loaded, adapter, store, quarter_hour_later(now), progress=progress)
        tasks = running.tasks
        stats = running.server.snapshot()
        store.engine.dispose()
    return {
        "mode": "sandbox", "crm": crm, "sandbox_contacts": contacts, "seed": seed,
        "model_version": loaded.model.version,
        "setup": {"created": setup.created, "existing": setup.existing},
        "runs": [_run_json(first), _run_json(second)],
        "tasks_in_crm": tasks,
        "sandbox": stats,
        "top_rules": [{"rule": r, "contacts": n} for r, n in first.top_rules],
        "example": first.diff[0] if first.diff else None,
    }


def quarter_hour_later(now: datetime) -> datetime:
    """The second run's time: 15 minutes on, but never past the end of the UTC day.
    Decay moves once a day, so a second run on the next day would rewrite scores that
    did not change in the CRM, and the demo would seem to write what nothing changed."""
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(now, min(now + timedelta(minutes=15), midnight - timedelta(seconds=1)))


def _run_json(summary) -> dict[str, Any]:
    data = summary.as_json()
    for key in ("diff", "top_rules"):
        data.pop(key)
    return data
