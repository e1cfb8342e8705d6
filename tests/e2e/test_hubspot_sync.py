"""The sync as a user runs it: the mqlsync CLI against a sandbox HubSpot running as its
own process, through setup, repeated runs, new engagement and a sales rejection."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sandbox-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sandbox():
    port = free_port()
    # Rate limiting has its own tests; here seven runs must not wait out 10-second windows.
    proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "sandbox", "--port", str(port), "--contacts", "300",
                             "--seed", "7", "--burst-limit", "10000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/__sandbox/stats", timeout=1)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"sandbox did not start: {proc.stderr.read().decode()}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def admin(url: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"},
                                     method="POST" if body is not None else "GET")
    return json.load(urllib.request.urlopen(request))


def cli(url: str, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MQLSYNC_HUBSPOT_BASE_URL=url, HUBSPOT_ACCESS_TOKEN=TOKEN,
               MQLSYNC_STATE_URL=f"sqlite:///{state}", COLUMNS="160", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args, "--mapping", str(ROOT / "mappings" / "hubspot.yaml")],
                          cwd=state.parent, env=env, capture_output=True, text=True, timeout=180)


def run(url: str, state: Path, *extra: str) -> dict:
    result = cli(url, state, "run", "--json", *extra)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return json.loads(result.stdout)


def contacts(url: str) -> dict[str, dict]:
    return {c["id"]: c["properties"] for c in admin(url, "/__sandbox/contacts")["results"]}


def tasks_of(url: str, cid: str) -> list[dict]:
    return [t for t in admin(url, "/__sandbox/tasks")["results"] if cid in t["contacts"]]


def test_a_lead_becomes_an_mql_with_one_task_then_a_rejection_recycles_it(sandbox, tmp_path):
    state = tmp_path / "state.db"
    assert cli(sandbox, state, "setup").returncode == 0

    first = run(sandbox, state)
    assert first["writes"] == first["contacts"] == 300 and first["status"] == "ok"
    assert run(sandbox, state)["writes"] == 0

    # A lead close to the threshold, with the profile an MQL needs.
    people = contacts(sandbox)
    candidates = [(int(p["mqlsync_score"]), cid) for cid, p in people.items()
                  if p.get("mqlsync_stage") == "lead" and p.get("mqlsync_grade") in ("A", "B", "C")
                  and p.get("firstname") and p.get("lastname") and p.get("jobtitle")
                  and 55 <= int(p["mqlsync_score"]) < 70]
    score, cid = max(candidates)
    tasks_before = len(admin(sandbox, "/__sandbox/tasks")["results"])

    # The lead visits the pricing page three times and reads around the site.
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    for i in range(13):
        url = "https://www.mqlsync.example/pricing" if i < 3 else f"https://www.mqlsync.example/blog/{i}"
        admin(sandbox, "/__sandbox/events", {"eventType": "e_visited_page", "contactId": cid,
                                              "occurredAt": (when + timedelta(seconds=i)).isoformat(),
                                              "properties": {"hs_url": url}})

    dry = cli(sandbox, state, "run", "--dry-run")
    assert dry.returncode == 0 and f"{cid} " in dry.stdout and "stage: lead -> mql" in dry.stdout
    assert contacts(sandbox)[cid]["mqlsync_stage"] == "lead"  # a dry run writes nothing

    engaged = run(sandbox, state)
    assert engaged["new_mqls"] == 1 and engaged["tasks_created"] == 1
    after = contacts(sandbox)[cid]
    assert after["mqlsync_stage"] == "mql" and after["mqlsync_mql"] == "true"
    assert after["lifecyclestage"] == "marketingqualifiedlead" and int(after["mqlsync_score"]) >= 70
    (task,) = tasks_of(sandbox, cid)
    assert task["properties"]["hubspot_owner_id"] == after["hubspot_owner_id"]
    assert "viewed the pricing page 3+ times in 30 days" in task["properties"]["hs_task_body"]
    assert len(admin(sandbox, "/__sandbox/tasks")["results"]) == tasks_before + 1

    again = run(sandbox, state)
    assert again["writes"] == again["tasks_created"] == 0 and len(tasks_of(sandbox, cid)) == 1

    # Sales looks at it and rejects it.
    rejected_at = int(datetime.now(timezone.utc).timestamp() * 1000)
    admin(sandbox, f"/__sandbox/contacts/{cid}", {"properties": {"hs_lead_status": "UNQUALIFIED",
                                                                  "mqlsync_sales_status_at": str(rejected_at)}})
    recycled = run(sandbox, state)
    assert recycled["writes"] == 1 and recycled["tasks_created"] == 0
    final = contacts(sandbox)[cid]
    assert final["mqlsync_stage"] == "recycled" and final["mqlsync_mql"] == "false"
    assert final["lifecyclestage"] == "other"
    assert run(sandbox, state)["writes"] == 0
    assert len(tasks_of(sandbox, cid)) == 1
