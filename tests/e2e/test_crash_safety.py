"""Crash safety, for both CRMs: `mqlsync run` killed with SIGKILL at random moments,
again and again, while new activity keeps arriving, then let finish. The CRM ends as it
ends after the same runs undisturbed: the same scores, stages and MQL tags, one task per
qualification, nothing skipped (the watermark never passes what was not committed)."""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import HubSpot, Salesforce, cli_args, cli_env, run, start, stop

#: both sandboxes hold the same people and activity, dated relative to this minute
NOW = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
KEYS = ("score", "fit", "engagement", "grade", "stage", "mql")


def crm_state(crm) -> tuple[dict[str, tuple], Counter]:
    """What the sync wrote, by a stable key per person (their e-mail), and tasks per person."""
    out = crm.mapping.write_back.fields
    email = crm.obj.fields["email"]
    people = crm.records()
    by_email = {p.get(email): cid for cid, p in people.items()}
    values = {p.get(email): tuple(p.get(out[k]) for k in KEYS) for p in people.values()}
    tasks = Counter(p for t in crm.tasks() for p in (people.get(w, {}).get(email) for w in t["who"]) if p)
    return values, tasks, by_email


def engage(crm, email_to_id: dict, emails: list[str], when: datetime) -> None:
    for email in emails:
        cid = email_to_id[email]
        crm.visit_pricing(cid, {}, when)


@pytest.mark.parametrize("harness", [HubSpot, Salesforce], ids=["hubspot", "salesforce"])
def test_runs_killed_at_any_moment_converge_to_the_undisturbed_result(harness, tmp_path):
    rng = random.Random(11)
    # Each response slowed, so a run lasts a few seconds and can be killed mid-way
    # (a Salesforce run makes fewer, larger requests than a HubSpot one).
    delay = "0.02" if harness is HubSpot else "0.15"
    calm, calm_proc = start(harness, 150, "--now", NOW)
    rough, rough_proc = start(harness, 150, "--now", NOW, "--delay", delay)
    try:
        for crm in (calm, rough):
            (tmp_path / crm.url.rsplit(":", 1)[1]).mkdir()
        calm_state = tmp_path / calm.url.rsplit(":", 1)[1] / "state.db"
        rough_state = tmp_path / rough.url.rsplit(":", 1)[1] / "state.db"
        for crm, state in ((calm, calm_state), (rough, rough_state)):
            assert subprocess.run(cli_args(crm, "setup"), env=cli_env(crm, state), cwd=state.parent,
                                  capture_output=True, timeout=120).returncode == 0

        # Undisturbed: a run, new engagement for three leads, a run.
        values, _, by_email = crm_state(calm)
        leads = sorted(e for e, cid in by_email.items() if e and calm.lifecycle(calm.records()[cid]) is not None)[:3]
        when = datetime.now(UTC) - timedelta(minutes=5)
        run(calm, calm_state)
        before_engagement = crm_state(calm)[0]
        engage(calm, by_email, leads, when)
        run(calm, calm_state)

        # Disturbed: the same, but each run is killed at a random moment a few times
        # before one is let finish; the engagement arrives between kills.
        kills = 0
        for phase in range(2):
            if phase == 1:
                engage(rough, crm_state(rough)[2], leads, when)
            for _ in range(3):
                proc = subprocess.Popen(cli_args(rough, "run"), env=cli_env(rough, rough_state), cwd=rough_state.parent,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.8, 2.5))
                if proc.poll() is None:
                    proc.kill()
                    kills += 1
                proc.wait(timeout=30)
            run(rough, rough_state)
        final = run(rough, rough_state)
        assert kills >= 3  # the runs really were cut short, mid-read or mid-write
        assert final["writes"] == final["tasks_created"] == 0 and final["failed"] == []

        calm_values, calm_tasks, _ = crm_state(calm)
        rough_values, rough_tasks, _ = crm_state(rough)
        assert rough_values == calm_values
        assert rough_tasks == calm_tasks and max(rough_tasks.values()) == 1  # one task per qualification
        assert all(calm_values[e] != before_engagement[e] for e in leads)  # the engagement moved every lead
    finally:
        stop(calm_proc)
        stop(rough_proc)
