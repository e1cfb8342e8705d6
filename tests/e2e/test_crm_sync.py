"""The sync as a user runs it, for both CRMs from one test: the mqlsync CLI against a
sandbox HubSpot or Salesforce running as its own process, through setup, repeated
runs, new engagement and a sales rejection. Each CRM differs only in how a person,
their activity and sales' verdict look in it (the harnesses below) and in its mapping."""

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

from connector.config import load_mapping

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sandbox-secret-7f3a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(url: str, path: str, body: dict | None = None, method: str | None = None) -> dict:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"},
                                     method=method or ("POST" if body is not None else "GET"))
    return json.load(urllib.request.urlopen(request))


class HubSpot:
    """A HubSpot portal as a marketer sees it: contacts with properties, events, tasks."""

    name = "hubspot"
    env_names = ("MQLSYNC_HUBSPOT_BASE_URL", "HUBSPOT_ACCESS_TOKEN")

    def __init__(self, url: str) -> None:
        self.url = url
        self.mapping = load_mapping(ROOT / "mappings" / "hubspot.yaml").mapping
        self.obj = self.mapping.objects["contacts"]

    def records(self) -> dict[str, dict]:
        return {c["id"]: c["properties"] for c in admin(self.url, "/__sandbox/contacts")["results"]}

    def lifecycle(self, record: dict) -> str | None:
        return record.get("lifecycleStage") or record.get("lifecyclestage")

    def visit_pricing(self, cid: str, record: dict, when: datetime) -> None:
        """Three pricing page views and ten blog reads, as HubSpot's tracking records them."""
        for i in range(13):
            page = "https://www.mqlsync.example/pricing" if i < 3 else f"https://www.mqlsync.example/blog/{i}"
            admin(self.url, "/__sandbox/events", {"eventType": "e_visited_page", "contactId": cid,
                                                  "occurredAt": (when + timedelta(seconds=i)).isoformat(),
                                                  "properties": {"hs_url": page}})

    def reject(self, cid: str, when: datetime) -> None:
        admin(self.url, f"/__sandbox/contacts/{cid}", {"properties": {
            "hs_lead_status": "UNQUALIFIED", "mqlsync_sales_status_at": str(int(when.timestamp() * 1000))}})

    def tasks(self) -> list[dict]:
        """(contact id, owner, body) of every task."""
        return [{"who": t["contacts"], "owner": t["properties"].get("hubspot_owner_id"),
                 "body": t["properties"]["hs_task_body"]} for t in admin(self.url, "/__sandbox/tasks")["results"]]

    expected_rejected_lifecycle = "other"
    expected_mql_lifecycle = "marketingqualifiedlead"


class Salesforce:
    """A Salesforce org as a marketer sees it: Leads and Contacts, the custom activity
    object their marketing automation fills, Lead Status, Tasks."""

    name = "salesforce"
    env_names = ("MQLSYNC_SALESFORCE_INSTANCE_URL", "SALESFORCE_SESSION_ID")

    def __init__(self, url: str) -> None:
        self.url = url
        self.mapping = load_mapping(ROOT / "mappings" / "salesforce.yaml").mapping
        self.obj = self.mapping.objects["Lead"]

    def records(self) -> dict[str, dict]:
        out = {}
        for obj in ("Lead", "Contact"):
            for record in admin(self.url, f"/__sandbox/records/{obj}")["records"]:
                if not record.get("IsConverted"):
                    out[record["Id"]] = {k: _text(v) for k, v in record.items()}
        return out

    def lifecycle(self, record: dict) -> str | None:
        return record.get("Status")

    def visit_pricing(self, cid: str, record: dict, when: datetime) -> None:
        """The same visits, as rows of the marketing automation's activity object."""
        person = "Lead__c" if cid.startswith("00Q") else "Contact__c"
        for i in range(13):
            page = "https://www.mqlsync.example/pricing" if i < 3 else f"https://www.mqlsync.example/blog/{i}"
            admin(self.url, "/__sandbox/records/Marketing_Activity__c", {
                person: cid, "Type__c": "page_view", "URL__c": page, "Name": "page view",
                "Occurred_At__c": (when + timedelta(seconds=i)).isoformat()})

    def reject(self, cid: str, when: datetime) -> None:
        # Sales closes the lead; the org's flow stamps when the status changed.
        admin(self.url, f"/__sandbox/records/Lead/{cid}", {"Status": "Closed - Not Converted",
                                                           "Status_Changed_At__c": when.isoformat()})

    def tasks(self) -> list[dict]:
        return [{"who": [t["WhoId"]], "owner": t.get("OwnerId"), "body": t.get("Description") or ""}
                for t in admin(self.url, "/__sandbox/records/Task")["records"] if t.get("MQL_Task_Key__c")]

    expected_rejected_lifecycle = "Closed - Not Converted"  # sales' own value, left as it is
    expected_mql_lifecycle = "Open - Not Contacted"  # no Lead Status means MQL: MQL_Stage__c shows it


def _text(value):
    """Salesforce values as the canonical strings the checks compare (HubSpot's are text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return value


@pytest.fixture(scope="module", params=[HubSpot, Salesforce], ids=["hubspot", "salesforce"])
def crm(request):
    harness = request.param
    port = free_port()
    # Rate limiting has its own tests; here seven runs must not wait out 10-second windows.
    proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "sandbox", "--crm", harness.name, "--port", str(port),
                             "--contacts", "300", "--seed", "7", "--burst-limit", "10000", "--token", SECRET],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    yield harness(url)
    proc.terminate()
    proc.wait(timeout=10)


def cli(crm, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MQLSYNC_STATE_URL=f"sqlite:///{state}", COLUMNS="160", NO_COLOR="1")
    env.update(zip(crm.env_names, (crm.url, SECRET)))
    result = subprocess.run([sys.executable, "-m", "jobs.cli", *args, "--mapping",
                             str(ROOT / "mappings" / f"{crm.name}.yaml")],
                            cwd=state.parent, env=env, capture_output=True, text=True, timeout=180)
    assert SECRET not in result.stdout + result.stderr
    return result


def run(crm, state: Path, *extra: str) -> dict:
    result = cli(crm, state, "run", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_lead_becomes_an_mql_with_one_task_then_a_rejection_recycles_it(crm, tmp_path):
    state = tmp_path / "state.db"
    out = crm.mapping.write_back.fields  # canonical key -> the CRM's field
    fields = crm.obj.fields
    setup = cli(crm, state, "setup")
    assert setup.returncode == 0, setup.stderr

    first = run(crm, state)
    assert first["writes"] == first["contacts"] == 300 and first["status"] == "ok"
    assert run(crm, state)["writes"] == 0

    # A lead close to the threshold, with the profile an MQL needs, on the lead object.
    people = crm.records()
    candidates = [(int(float(p[out["score"]])), cid) for cid, p in people.items()
                  if p.get(out["stage"]) == "lead" and p.get(out["grade"]) in ("A", "B", "C")
                  and p.get(fields["first_name"]) and p.get(fields["last_name"]) and p.get(fields["title"])
                  and p.get(fields["owner_id"]) and 55 <= int(float(p[out["score"]])) < 70
                  and crm.lifecycle(p) is not None]
    score, cid = max(candidates)
    tasks_before = len(crm.tasks())

    # The lead visits the pricing page three times and reads around the site.
    crm.visit_pricing(cid, people[cid], datetime.now(timezone.utc) - timedelta(minutes=5))

    dry = cli(crm, state, "run", "--dry-run")
    assert dry.returncode == 0 and f"{cid} " in dry.stdout and "stage: lead -> mql" in dry.stdout
    assert crm.records()[cid][out["stage"]] == "lead"  # a dry run writes nothing

    engaged = run(crm, state)
    assert engaged["new_mqls"] == 1 and engaged["tasks_created"] == 1
    after = crm.records()[cid]
    assert after[out["stage"]] == "mql" and after[out["mql"]] == "true"
    assert crm.lifecycle(after) == crm.expected_mql_lifecycle and int(float(after[out["score"]])) >= 70
    (task,) = [t for t in crm.tasks() if cid in t["who"]]
    assert task["owner"] == after[fields["owner_id"]]
    assert "viewed the pricing page 3+ times in 30 days" in task["body"]
    assert len(crm.tasks()) == tasks_before + 1

    again = run(crm, state)
    assert again["writes"] == again["tasks_created"] == 0
    assert len([t for t in crm.tasks() if cid in t["who"]]) == 1

    # Sales looks at it and rejects it.
    crm.reject(cid, datetime.now(timezone.utc))
    recycled = run(crm, state)
    assert recycled["writes"] == 1 and recycled["tasks_created"] == 0
    final = crm.records()[cid]
    assert final[out["stage"]] == "recycled" and final[out["mql"]] == "false"
    assert crm.lifecycle(final) == crm.expected_rejected_lifecycle
    assert run(crm, state)["writes"] == 0
    assert len([t for t in crm.tasks() if cid in t["who"]]) == 1
