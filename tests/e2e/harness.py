"""How each CRM looks to a user in the end-to-end tests: a sandbox running as its own
process, the records a marketer sees in it, and the mqlsync CLI pointed at it. Each CRM
differs only in how a person, their activity and sales' verdict look in it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from mqlsync.connector.config import load_mapping

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

    def sdk_tasks(self) -> list[tuple[str, str]]:
        """(contact id, task key) of every follow-up task, read as an admin's script would:
        hubspot-api-client listing every task with its contacts."""
        import hubspot

        client = hubspot.Client.create(access_token=SECRET, host=self.url)
        out = []
        for task in client.crm.objects.get_all("tasks", properties=["hs_task_body"], associations=["contacts"]):
            key = task_key_in((task.properties or {}).get("hs_task_body"))
            linked = (task.associations or {}).get("contacts")
            for contact in (linked.results if linked else []):
                if key:
                    out.append((contact.id, key))
        return out

    def sdk_people(self) -> dict[str, dict]:
        """Every contact's mqlsync properties, through hubspot-api-client."""
        import hubspot

        client = hubspot.Client.create(access_token=SECRET, host=self.url)
        wanted = sorted(self.mapping.write_back.fields.values()) + ["lifecyclestage"]
        return {c.id: {k: v for k, v in (c.properties or {}).items() if k in wanted}
                for c in client.crm.contacts.get_all(properties=wanted)}

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

    def _sdk(self):
        import requests
        from simple_salesforce import Salesforce as Client

        from mqlsync.connector.crms.salesforce.client import _Transport

        # The sandbox speaks plain http on 127.0.0.1; simple-salesforce builds https URLs.
        session = requests.Session()
        session.mount("https://", _Transport(lambda: None, loopback_http=True))
        return Client(session_id=SECRET, instance_url=self.url.replace("http://", "https://"), session=session,
                      version="59.0")

    def sdk_tasks(self) -> list[tuple[str, str]]:
        """(person id, task key) of every follow-up task, read as an admin's script would:
        a SOQL query through simple-salesforce."""
        rows = self._sdk().query_all("SELECT Id, WhoId, MQL_Task_Key__c FROM Task WHERE MQL_Task_Key__c != null")
        return [(r["WhoId"], r["MQL_Task_Key__c"]) for r in rows["records"]]

    def sdk_people(self) -> dict[str, dict]:
        """Every Lead's and Contact's mqlsync fields and Status, through simple-salesforce."""
        fields = sorted(self.mapping.write_back.fields.values())
        out = {}
        client = self._sdk()
        for obj, extra in (("Lead", ["Status", "IsConverted"]), ("Contact", [])):
            for r in client.query_all(f"SELECT Id, {', '.join(fields + extra)} FROM {obj}")["records"]:
                if not r.get("IsConverted"):
                    out[r["Id"]] = {k: v for k, v in r.items() if k in fields or k == "Status"}
        return out

    expected_rejected_lifecycle = "Closed - Not Converted"  # sales' own value, left as it is
    expected_mql_lifecycle = "Open - Not Contacted"  # no Lead Status means MQL: MQL_Stage__c shows it


def task_key_in(body: str | None) -> str | None:
    """The task key mqlsync puts at the end of a HubSpot task's body."""
    if not body or "mqlsync-task:" not in body:
        return None
    return body.rsplit("mqlsync-task:", 1)[1].split()[0]


def _text(value):
    """Salesforce values as the canonical strings the checks compare (HubSpot's are text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return value


def start(harness, contacts: int = 300, *extra: str):
    """Start a sandbox of the harness's CRM as its own process; returns (harness, process)."""
    port = free_port()
    # Rate limiting has its own tests; here seven runs must not wait out 10-second windows.
    proc = subprocess.Popen([sys.executable, "-m", "mqlsync.jobs.cli", "sandbox", "--crm", harness.name,
                             "--port", str(port),
                             "--contacts", str(contacts), "--seed", "7", "--burst-limit", "10000", "--token", SECRET,
                             *extra],
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
                raise RuntimeError(f"sandbox did not start: {proc.stderr.read().decode()}") from None
            time.sleep(0.1)
    return harness(url), proc


@contextmanager
def sandbox_process(harness, contacts: int = 300, *extra: str):
    """A sandbox of the harness's CRM as its own process, for the length of a `with`."""
    crm, proc = start(harness, contacts, *extra)
    try:
        yield crm
    finally:
        stop(proc)


def stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def cli_env(crm, state: Path) -> dict[str, str]:
    env = dict(os.environ, MQLSYNC_STATE_URL=f"sqlite:///{state}", COLUMNS="160", NO_COLOR="1")
    env.update(zip(crm.env_names, (crm.url, SECRET), strict=True))
    return env


def cli_args(crm, *args: str, mapping: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "mqlsync.jobs.cli", *args, "--mapping",
            str(mapping or ROOT / "mappings" / f"{crm.name}.yaml")]


def cli(crm, state: Path, *args: str, mapping: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI as the README shows it, in the state's folder, with the shipped mapping
    or an admin's own (`mapping`)."""
    result = subprocess.run(cli_args(crm, *args, mapping=mapping), cwd=state.parent, env=cli_env(crm, state),
                            capture_output=True, text=True, timeout=180)
    assert SECRET not in result.stdout + result.stderr
    return result


def run(crm, state: Path, *extra: str) -> dict:
    result = cli(crm, state, "run", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
