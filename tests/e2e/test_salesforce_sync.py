"""What only Salesforce does to a sync, against an in-process sandbox org: Leads are
converted into Contacts and records are deleted between runs. The person is scored
once, keeps their history and their qualification, and gets no second task; a deleted
record leaves nothing behind and fails nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter
from mqlsync.connector.crms.salesforce.credentials import ENV_SANDBOX_URL, ENV_SESSION
from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD
from mqlsync.connector.model import Stage
from mqlsync.connector.scoring import Scorer
from mqlsync.connector.state import StateStore
from mqlsync.jobs.sandbox import start_sandbox
from mqlsync.jobs.sync import run_sync
from tests.conftest import ROOT

LOADED = load_mapping(ROOT / "mappings" / "salesforce.yaml")


@pytest.fixture
def synced(tmp_path):
    running = start_sandbox("salesforce", contacts=200, now=datetime.now(UTC))
    with running.server:
        crm = SalesforceAdapter.from_env(LOADED.mapping, {ENV_SANDBOX_URL: running.server.url,
                                                         ENV_SESSION: running.secret})
        crm.ensure_fields()
        store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        first = run_sync(LOADED, crm, store, datetime.now(UTC))
        assert first.status == "ok" and first.new_mqls > 0
        yield running.emulation, crm, store


def mql_tasks(org, who: str) -> list[dict]:
    return [t for t in org.records["Task"].values() if t.get(TASK_KEY_FIELD) and t["WhoId"] == who]


def test_a_converted_mql_lead_lives_on_as_its_contact_without_a_second_task(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    lead_id, lead = next((i, r) for i, r in org.records["Lead"].items() if r.get("MQL_Stage__c") == "mql")
    history = len(store.activities_of(conn, [lead_id])[lead_id])
    assert len(mql_tasks(org, lead_id)) == 1

    contact_id = org.convert_lead(lead_id)
    summary = run_sync(LOADED, crm, store, datetime.now(UTC))
    assert summary.status == "ok" and summary.failed == [] and summary.merged == 1
    assert summary.tasks_created == 0 and summary.new_mqls == 0
    contact = org.get("Contact", contact_id)
    assert contact["MQL_Stage__c"] == "mql" and contact["Is_MQL__c"] is True
    assert contact["MQL_Date__c"] == lead["MQL_Date__c"]  # the same qualification, carried over
    assert contact["MQL_Engagement__c"] == lead["MQL_Engagement__c"]  # scored on the lead's history
    # The task followed the lead to the contact (Salesforce moves it), and there is one.
    assert mql_tasks(org, contact_id) and len(mql_tasks(org, contact_id)) + len(mql_tasks(org, lead_id)) == 1
    assert store.load_contacts(conn, [lead_id]) == {} and len(store.activities_of(conn, [contact_id])[contact_id]) \
        >= history
    again = run_sync(LOADED, crm, store, datetime.now(UTC))
    assert again.writes == again.tasks_created == 0 and again.failed == []


def test_a_deleted_lead_is_forgotten_and_fails_nothing(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    lead_id = next(iter(org.records["Lead"]))
    org.delete("Lead", lead_id)
    summary = run_sync(LOADED, crm, store, datetime.now(UTC))
    assert summary.deleted == 1 and summary.failed == [] and summary.status == "ok"
    assert store.load_contacts(conn, [lead_id]) == {} and store.activities_of(conn, [lead_id]) == {}
    rescore = run_sync(LOADED, crm, store, datetime.now(UTC), rescore_only=True)
    assert rescore.failed == [] and lead_id not in store.contact_ids(conn)


def test_the_run_summary_tells_of_deleted_and_converted_records(synced, tmp_path):
    import os
    import subprocess
    import sys

    org, crm, store = synced
    leads = [i for i, r in org.records["Lead"].items() if not r["IsConverted"] and not r["IsDeleted"]]
    org.delete("Lead", leads[0])
    org.convert_lead(leads[1])
    env = dict(os.environ, MQLSYNC_STATE_URL=str(store.engine.url), COLUMNS="200", NO_COLOR="1",
               **{k: v for k, v in crm_env(crm).items()})
    result = subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", "run", "--mapping",
                             str(ROOT / "mappings" / "salesforce.yaml")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 deleted in the CRM and forgotten; 1 merged into another record (converted leads)" in result.stderr


def crm_env(crm) -> dict[str, str]:
    base = crm.sf.base_url.split("/services/")[0].replace("https://", "http://")
    return {ENV_SANDBOX_URL: base, ENV_SESSION: crm.sf.session_id}


def test_a_record_the_crm_keeps_refusing_is_reported_until_fixed_and_blocks_nothing(tmp_path):
    import json
    import os
    import subprocess
    import sys

    running = start_sandbox("salesforce", contacts=60, now=datetime.now(UTC))
    org = running.emulation
    stuck = next(iter(org.records["Lead"]))
    org.locked = {stuck}  # another process holds the row, run after run
    with running.server:
        env = dict(os.environ, MQLSYNC_STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", COLUMNS="200", NO_COLOR="1",
                   **running.env())

        def mqlsync(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args, "--mapping",
                                   str(ROOT / "mappings" / "salesforce.yaml")], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)

        assert mqlsync("setup").returncode == 0
        runs = [mqlsync("run") for _ in range(3)]
        assert [r.returncode for r in runs] == [1, 1, 1]  # the summary lists the record each run
        assert f"not written {stuck}: UNABLE_TO_LOCK_ROW" in runs[0].stderr
        assert "(failed 3 runs in a row)" in runs[2].stderr and "runs in a row" not in runs[1].stderr
        written = [r for i, r in org.records["Lead"].items() if i != stuck and r.get("MQL_Score__c") is not None]
        assert len(written) == len(org.records["Lead"]) - 1  # the rest went through on the first run

        status = mqlsync("status")
        assert status.returncode == 1
        assert f"not written {stuck}: UNABLE_TO_LOCK_ROW" in status.stdout and "failing for good" in status.stdout
        report = json.loads(mqlsync("status", "--json").stdout)
        assert [(f["contact_id"], f["attempts"]) for f in report["failures"]] == [(stuck, 3)]
        assert report["runs"][0]["status"] == "partial" and "activities:CampaignMember" in report["watermarks"]

        org.locked = set()
        assert mqlsync("run").returncode == 0
        assert org.get("Lead", stuck)["MQL_Score__c"] is not None
        healthy = mqlsync("status")
        assert healthy.returncode == 0 and "not written" not in healthy.stdout


def test_activity_filed_under_a_lead_converted_in_an_earlier_run_reaches_its_contact(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    lead_id = next(i for i, r in org.records["Lead"].items() if not r["IsConverted"] and not r["IsDeleted"])
    contact_id = org.convert_lead(lead_id)
    run_sync(LOADED, crm, store, datetime.now(UTC))
    other = next(i for i, r in org.records["Lead"].items() if not r["IsConverted"] and not r["IsDeleted"])
    org.touch("Lead", other, {"Title": "CFO"})  # later changes move the watermark past the conversion
    run_sync(LOADED, crm, store, datetime.now(UTC))
    # A later run, in a new process (a fresh adapter that never saw the conversion); the
    # marketing tool still files a page view under the old Lead id (custom lookups are
    # not moved by conversion).
    fresh = SalesforceAdapter.from_env(LOADED.mapping, crm_env(crm))
    row = org.insert("Marketing_Activity__c", {"Lead__c": lead_id, "Type__c": "page_view", "Name": "page view",
                                               "URL__c": "https://www.mqlsync.example/pricing",
                                               "Occurred_At__c": datetime.now(UTC)})
    summary = run_sync(LOADED, fresh, store, datetime.now(UTC))
    assert summary.failed == []
    ledger = {a.id: a.contact_id for a in store.activities_of(conn, [contact_id]).get(contact_id, [])}
    assert ledger.get(f"{row}:page_view") == contact_id and store.activities_of(conn, [lead_id]) == {}


def _pricing_visits(org, contact_id: str) -> None:
    """Strong buying signals, as the marketing automation logs them: pricing page visits,
    a demo request, a trial sign-up and a follow-up request."""
    now = datetime.now(UTC)
    rows = [{"Type__c": "page_view", "URL__c": "https://www.mqlsync.example/pricing"}] * 3 + [
        {"Type__c": "page_view", "URL__c": f"https://www.mqlsync.example/blog/{i}"} for i in range(10)] + [
        {"Type__c": "form_submission", "Form_Type__c": "demo"}, {"Type__c": "trial_signup", "Plan__c": "pro"},
        {"Type__c": "follow_up_request", "Event_Id__c": "ev-1"}]
    for i, row in enumerate(rows):
        org.insert("Marketing_Activity__c", {"Contact__c": contact_id, "Name": row["Type__c"],
                                             "Occurred_At__c": now - timedelta(minutes=i), **row}, at=now)


def _converted(org, crm, store) -> str:
    """The best-fitting lead that is not an MQL, converted into a Contact and its Account
    with no deal, and synced: enough engagement would make it an MQL."""
    conn = LOADED.mapping.connection
    scorer = Scorer(LOADED.model)
    now = datetime.now(UTC)
    leads = [i for i, r in org.records["Lead"].items()
             if not r["IsConverted"] and r["FirstName"] and r["Title"]  # what the MQL gate requires
             and r["LastName"] != "[not provided]"  # Salesforce's placeholder: no last name
             and store.stages_of(conn, [i])[i].stage == Stage.LEAD]
    people = store.load_contacts(conn, leads)
    lead = max((i for i in leads if i in people), key=lambda i: scorer.score(people[i], [], now).fit)
    cid = org.convert_lead(lead)
    assert run_sync(LOADED, crm, store, datetime.now(UTC)).status == "ok"
    assert store.stages_of(conn, [cid])[cid].stage == Stage.LEAD
    return cid


def test_a_contact_in_the_samples_open_deal_has_the_opportunity_stage(synced):
    org, crm, store = synced
    (cid,) = org.records["Contact"]  # the sample's one person in the pipeline, a role on an open deal
    assert store.stages_of(LOADED.mapping.connection, [cid])[cid].stage == Stage.OPPORTUNITY


def test_a_contact_whose_company_buys_is_a_customer_and_gets_no_mql_task_when_it_engages(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    cid = _converted(org, crm, store)
    # Another deal of its Account is won: a customer, though its own record is untouched.
    org.insert("Opportunity", {"Name": "Expansion", "AccountId": org.get("Contact", cid)["AccountId"],
                               "StageName": "Closed Won", "CloseDate": "2026-11-01"})
    _pricing_visits(org, cid)
    summary = run_sync(LOADED, crm, store, datetime.now(UTC))
    assert summary.status == "ok" and summary.new_mqls == 0 and mql_tasks(org, cid) == []
    assert store.stages_of(conn, [cid])[cid].stage == Stage.CUSTOMER
    contact = org.get("Contact", cid)
    assert contact["MQL_Stage__c"] == "customer" and contact["MQL_Date__c"] is None
    assert contact["MQL_Score__c"] > 0  # scored all the same


def test_a_contact_given_a_role_on_an_open_deal_is_in_the_pipeline_though_its_record_did_not_change(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    cid = _converted(org, crm, store)
    modstamp = org.get("Contact", cid)["SystemModstamp"]
    deal = org.insert("Opportunity", {"Name": "New deal", "StageName": "Qualification", "CloseDate": "2027-01-31"})
    org.insert("OpportunityContactRole", {"OpportunityId": deal, "ContactId": cid, "Role": "Evaluator"})
    assert org.get("Contact", cid)["SystemModstamp"] == modstamp
    _pricing_visits(org, cid)
    summary = run_sync(LOADED, crm, store, datetime.now(UTC))
    assert summary.status == "ok" and mql_tasks(org, cid) == []
    assert store.stages_of(conn, [cid])[cid].stage == Stage.OPPORTUNITY
    assert org.get("Contact", cid)["MQL_Stage__c"] == "opportunity"


def test_without_its_deal_the_same_engagement_makes_the_contact_an_mql_with_a_task(synced):
    org, crm, store = synced
    conn = LOADED.mapping.connection
    cid = _converted(org, crm, store)
    _pricing_visits(org, cid)
    assert run_sync(LOADED, crm, store, datetime.now(UTC)).status == "ok"
    assert store.stages_of(conn, [cid])[cid].stage == Stage.MQL and len(mql_tasks(org, cid)) == 1, \
        org.get("Contact", cid)["MQL_Explanation__c"]
