"""The Salesforce adapter against the sandbox org, through the real simple-salesforce:
Leads and Contacts through the mapping, incremental reads, deletions, converted Leads,
activity from campaign members and custom objects, write-back, the MQL campaign,
idempotent tasks, setup, and Bulk API 2.0 for large full syncs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter
from mqlsync.connector.crms.salesforce.credentials import ENV_SANDBOX_URL, ENV_SESSION
from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox
from mqlsync.connector.crms.salesforce.sandbox.seed import seed_salesforce
from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD
from mqlsync.connector.errors import ConfigError, CredentialsError
from mqlsync.connector.model import FieldWrite, Stage, TaskRequest, WritePlan
from mqlsync.connector.sample import generate
from mqlsync.connector.sandbox.server import Faults, SandboxServer
from tests.conftest import ROOT

LOADED = load_mapping(ROOT / "mappings" / "salesforce.yaml")
MAPPING = LOADED.mapping
SESSION = "sandbox-session"


@pytest.fixture
def bare():
    """An org seeded with the sample, before `mqlsync setup`."""
    data = generate(seed=5, contacts=300)
    org = SalesforceSandbox(session_id=SESSION)
    ids = seed_salesforce(org, MAPPING, data.contacts, data.activities)
    return org, ids, data


@pytest.fixture
def seeded(bare):
    """The same org once `mqlsync setup` made the fields mqlsync writes (and reads back)."""
    org = bare[0]
    with SandboxServer(org) as server:
        SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION}).ensure_fields()
    return bare


@pytest.fixture
def running(seeded):
    org, ids, data = seeded
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        yield crm, org, ids, data


def pull(crm, since=None):
    contacts, pages = {}, []
    for page in crm.pull_contacts(since):
        contacts.update((c.id, c) for c in page.contacts)
        pages.append(page)
    return contacts, pages


def pull_activities(crm, since=None):
    activities, pages = [], []
    for page in crm.pull_activities({src.source: since for src in MAPPING.activities}):
        activities += page.activities
        pages.append(page)
    return activities, pages


def test_leads_and_contacts_read_back_as_the_sample_wrote_them(running):
    crm, org, ids, data = running
    contacts, pages = pull(crm)
    assert [r for p in pages for r in p.rejected] == [] and len(contacts) == 300
    kinds = {cid[:3] for cid in contacts}
    assert kinds == {"00Q", "003"}  # people in the pipeline are Contacts, the rest Leads
    for original in data.contacts:
        pulled = contacts[ids[original.id]]
        is_lead = pulled.id.startswith("00Q")
        # The Contact mapping reads no sales verdict, SQL criteria or size: those are Lead fields.
        lead_only = ("sales_status", "company_size") if is_lead else ()
        for field in ("first_name", "email", "title", "phone", "country", "unsubscribed", *lead_only):
            assert getattr(pulled, field) == getattr(original, field), (original.id, field)
        if is_lead:  # checkboxes are never empty in Salesforce: unchecked reads as False
            assert {k for k, v in pulled.sql_criteria.items() if v} == \
                {k for k, v in original.sql_criteria.items() if v}
        if is_lead and original.sales_status_at:
            assert abs(pulled.sales_status_at - original.sales_status_at) < timedelta(milliseconds=1)
        if original.owner_id:
            assert org.get("User", pulled.owner_id)["Name"].startswith("Rep ")
        else:
            assert pulled.owner_id is None
        if is_lead and not original.sales_status:
            assert pulled.crm_stage == (original.crm_stage or Stage.LEAD)


def test_incremental_reads_what_changed_and_reports_deleted_and_converted_leads(running):
    crm, org, ids, data = running
    _, pages = pull(crm)
    mark = max(p.high_water for p in pages if p.high_water)
    leads = [i for i in org.records["Lead"]][:3]
    org.touch("Lead", leads[0], {"Title": "VP Marketing"})
    org.delete("Lead", leads[1])
    contact = org.convert_lead(leads[2])
    changed, pages = pull(crm, mark + timedelta(milliseconds=1))
    assert changed[leads[0]].title == "VP Marketing"
    assert contact in changed and leads[2] not in changed  # a converted Lead is scored as its Contact
    assert [d for p in pages for d in p.deleted] == [leads[1]]
    assert {k: v for p in pages for k, v in p.merged.items()} == {leads[2]: contact}
    assert len(changed) == 2


def test_activity_from_campaign_members_tasks_events_and_the_custom_object(running):
    crm, org, ids, data = running
    activities, pages = pull_activities(crm)
    assert [r for p in pages for r in p.rejected] == []
    by_type: dict[str, int] = {}
    for activity in activities:
        by_type[activity.type] = by_type.get(activity.type, 0) + 1
    expected: dict[str, int] = {}
    for activity in data.activities:
        expected[activity.type] = expected.get(activity.type, 0) + 1
    # Web behaviour and events arrive one for one; an attended webinar member is both a
    # registration and an attendance (one CampaignMember row, Status Attended).
    for kind in ("page_view", "email_open", "email_click", "trial_signup", "video_watch", "form_submission",
                 "booth_conversation", "follow_up_request"):
        assert by_type.get(kind, 0) == expected.get(kind, 0), kind
    # Salesforce keeps one member per person and campaign: attending twice is one row, and
    # an attendee's row (Status Attended) stands for the registration too.
    for kind in ("event_attendance", "webinar_attendance"):
        assert by_type[kind] == len({(a.contact_id, a.attributes["event_id"]) for a in data.activities
                                     if a.type == kind}), kind
    assert by_type["webinar_registration"] == len({(a.contact_id, a.attributes["event_id"]) for a in data.activities
                                                   if a.type.startswith("webinar_")})
    assert by_type["call"] == by_type["meeting"] == sum(c.sales_status == "accepted" for c in data.contacts)
    attended = next(a for a in activities if a.type == "webinar_attendance")
    assert attended.attributes["minutes"] is not None and attended.attributes["event_name"]
    assert {p.source for p in pages} == {"CampaignMember", "Marketing_Activity__c", "Task", "Event"}


def test_a_member_registered_then_attended_is_two_activities_and_follows_conversion(running):
    crm, org, ids, data = running
    lead = next(iter(org.records["Lead"]))
    webinar = org.insert("Campaign", {"Name": "Scoring 101", "Type": "Webinar"})
    member = org.insert("CampaignMember", {"CampaignId": webinar, "LeadId": lead, "Status": "Registered"})
    start = org.get("CampaignMember", member)["SystemModstamp"]
    first, _ = pull_activities(crm, start)
    assert [(a.type, a.contact_id) for a in first if a.id.startswith(member)] == [("webinar_registration", lead)]
    org.touch("CampaignMember", member, {"Status": "Attended", "Minutes_Attended__c": 42})
    contact = org.convert_lead(lead)
    second, _ = pull_activities(crm, start)
    mine = sorted((a.type, a.contact_id, a.attributes.get("minutes")) for a in second if a.id.startswith(member))
    assert mine == [("webinar_attendance", contact, 42), ("webinar_registration", contact, None)]


def test_write_back_fields_status_checkbox_and_numbers(running):
    crm, org, ids, data = running
    contacts, _ = pull(crm)
    crm.ensure_fields()
    lead = next(cid for cid in contacts if cid.startswith("00Q"))
    person = next(cid for cid in contacts if cid.startswith("003"))
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    values = {"score": "74", "fit": "40", "engagement": "34", "grade": "B", "stage": "sal", "mql": "true",
              "mql_at": "2026-11-20T09:00:00Z", "explanation": "fit 40: ...", "model_version": "abc",
              "lifecycle": "sal"}
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=lead, values=values),
                                          FieldWrite(contact_id=person, values=values)]))
    assert result.failed == [] and sorted(result.updated) == sorted([lead, person])
    row = org.get("Lead", lead)
    assert row["MQL_Score__c"] == 74.0 and row["Is_MQL__c"] is True and row["MQL_Stage__c"] == "sal"
    assert row["MQL_Date__c"] == at and row["Status"] == "Working - Contacted"
    assert org.get("Contact", person)["MQL_Grade__c"] == "B"
    cleared = crm.apply(WritePlan(updates=[FieldWrite(contact_id=lead, values={"mql": "false", "mql_at": None})]))
    assert cleared.failed == [] and org.get("Lead", lead)["Is_MQL__c"] is False
    assert org.get("Lead", lead)["MQL_Date__c"] is None


def test_leads_and_contacts_interleaved_in_a_plan_are_written_in_few_type_runs(running):
    crm, org, ids, data = running
    leads = [v for v in ids.values() if v.startswith("00Q")][:12]
    contacts = [org.insert("Contact", {"LastName": f"Extra {i}"}) for i in range(12)]
    interleaved = [cid for pair in zip(leads, contacts, strict=True) for cid in pair]  # 24 runs if sent as is
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"score": "40"}) for cid in interleaved]))
    assert result.failed == [] and sorted(result.updated) == sorted(interleaved)
    assert all(org.get("Lead" if c.startswith("00Q") else "Contact", c)["MQL_Score__c"] == 40 for c in interleaved)


def test_task_keys_are_looked_up_in_queries_that_stay_under_the_uri_limit(running):
    # 200 keys of a 40-character connection name make a 17 kB query string: over the
    # 16,384 bytes a REST request may take (the sandbox answers 414, as Salesforce does).
    crm, org, ids, data = running
    crm.ensure_fields()
    people = list(ids.values())[:200]
    due = datetime(2026, 11, 21, 9, tzinfo=UTC)
    tasks = [TaskRequest(key=f"{'c' * 40}:{cid}:20261130T023107Z", contact_id=cid, owner_id=None, due_at=due,
                         subject="MQL", body="New MQL") for cid in people]
    made = crm.apply(WritePlan(tasks=tasks))
    assert made.failed == [] and len(made.tasks) == 200
    assert crm.find_tasks({t.key: t.contact_id for t in tasks}) == made.tasks


def test_deleted_tasks_events_and_campaign_members_are_reported_not_read_as_activity(running):
    crm, org, ids, data = running
    pull(crm)
    before, _ = pull_activities(crm)
    call = next(a for a in before if a.type == "call")
    meeting = next(a for a in before if a.type == "meeting")
    member = next(a for a in before if a.type == "webinar_attendance")
    mark = datetime.now(UTC)
    for activity, obj in ((call, "Task"), (meeting, "Event"), (member, "CampaignMember")):
        org.delete(obj, activity.id.split(":")[0])
    after, pages = pull_activities(crm, mark)  # incremental: queryAll shows the deleted rows
    deleted = {d for page in pages for d in page.deleted}
    assert {call.id, meeting.id, member.id} <= deleted
    assert not {call.id, meeting.id, member.id} & {a.id for a in after}


def test_a_refused_record_fails_alone_with_salesforce_reason(running):
    crm, org, ids, data = running
    contacts, _ = pull(crm)
    crm.ensure_fields()
    leads = [cid for cid in contacts if cid.startswith("00Q")][:3]
    org.locked = {leads[1]}
    org.convert_lead(leads[2])
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"score": "50"}) for cid in leads]))
    assert result.updated == [leads[0]]
    reasons = {f.contact_id: f.reason for f in result.failed}
    assert reasons[leads[1]].startswith("UNABLE_TO_LOCK_ROW") and reasons[leads[2]].startswith(
        "CANNOT_UPDATE_CONVERTED_LEAD")
    assert result.requests == 1  # three records, one sObject Collections request


def test_tasks_are_upserted_on_their_key_so_a_repeat_creates_none(running):
    crm, org, ids, data = running
    contacts, _ = pull(crm)
    crm.ensure_fields()
    lead = next(c for c in contacts.values() if c.id.startswith("00Q") and c.owner_id)
    task = TaskRequest(key=f"salesforce-main:{lead.id}:20261120T090000Z", contact_id=lead.id, owner_id=lead.owner_id,
                       due_at=datetime(2026, 11, 21, 9, tzinfo=UTC), subject="MQL: Ann (B, score 74)",
                       body="New MQL, follow up within 24 hours.", priority="High")
    first = crm.apply(WritePlan(tasks=[task]))
    again = crm.apply(WritePlan(tasks=[task]))
    assert first.tasks == again.tasks and len(first.tasks) == 1
    made = [t for t in org.records["Task"].values() if t.get(TASK_KEY_FIELD)]
    assert len(made) == 1
    row = made[0]
    assert (row["WhoId"], row["OwnerId"], row["ActivityDate"], row["Priority"], row["Status"]) == (
        lead.id, lead.owner_id, "2026-11-21", "High", "Not Started")
    assert crm.find_tasks({task.key: lead.id, "salesforce-main:nobody:x": "nobody"}) == {task.key: row["Id"]}


def test_a_task_whose_owner_is_inactive_is_created_unassigned(running, caplog):
    crm, org, ids, data = running
    contacts, _ = pull(crm)
    crm.ensure_fields()
    leads = [c for c in contacts.values() if c.id.startswith("00Q") and c.owner_id][:2]
    gone = leads[1].owner_id
    org.records["User"][gone]["IsActive"] = False  # the rep left
    due = datetime(2026, 11, 21, 9, tzinfo=UTC)
    tasks = [TaskRequest(key=f"salesforce-main:{c.id}:20261120T090000Z", contact_id=c.id, owner_id=c.owner_id,
                         due_at=due, subject="MQL", body="New MQL") for c in leads]
    if leads[0].owner_id == gone:
        tasks[0] = tasks[0].model_copy(update={"owner_id": next(u for u in org.records["User"] if u != gone)})
    result = crm.apply(WritePlan(tasks=tasks))
    assert result.failed == [] and set(result.tasks) == {t.key for t in tasks}
    rows = {org.get("Task", result.tasks[t.key])["WhoId"]: org.get("Task", result.tasks[t.key])["OwnerId"]
            for t in tasks}
    assert rows[leads[0].id] == tasks[0].owner_id and rows[leads[1].id] is None
    warned = [r.getMessage() for r in caplog.records if "created without an owner" in r.getMessage()]
    assert warned == [f"task for {leads[1].id} created without an owner: owner {gone} is inactive or no longer "
                      "exists in the CRM"]


def test_the_mql_tag_as_campaign_membership(seeded, tmp_path):
    org, ids, data = seeded
    mapping = _campaign_mapping(tmp_path)
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(mapping, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        contacts, _ = pull(crm)
        with pytest.raises(ConfigError, match="mqlsync setup"):
            crm.apply(WritePlan(updates=[FieldWrite(contact_id=next(iter(contacts)), values={"mql": "true"})]))
        report = crm.ensure_fields()
        assert "campaign MQL" in report.created and "campaign MQL" in crm.ensure_fields().existing
        a, b = list(contacts)[:2]
        on = crm.apply(WritePlan(updates=[FieldWrite(contact_id=a, values={"mql": "true"}),
                                          FieldWrite(contact_id=b, values={"mql": "true"})]))
        assert on.failed == []
        campaign = next(c["Id"] for c in org.records["Campaign"].values() if c["Name"] == "MQL")

        def members():
            return sorted(m["LeadOrContactId"] for m in org.records["CampaignMember"].values()
                          if m["CampaignId"] == campaign and not m["IsDeleted"])

        assert members() == sorted([a, b])
        crm.apply(WritePlan(updates=[FieldWrite(contact_id=a, values={"mql": "true"})]))  # already a member
        crm.apply(WritePlan(updates=[FieldWrite(contact_id=b, values={"mql": "false"})]))
        assert members() == [a]


def _campaign_mapping(tmp_path):
    text = (ROOT / "mappings" / "salesforce.yaml").read_text().replace(
        "mql_tag:\n  field: Is_MQL__c\n  value: true", "mql_tag:\n  list: MQL")
    (tmp_path / "salesforce.yaml").write_text(text)
    (tmp_path / "scoring.yaml").write_text((ROOT / "mappings" / "scoring.yaml").read_text())
    return load_mapping(tmp_path / "salesforce.yaml").mapping


def test_setup_adds_the_member_statuses_the_mapping_relies_on_to_campaigns_that_lack_them(seeded):
    org, ids, data = seeded
    # A rep's new webinar: Salesforce gives it only Sent and Responded.
    webinar = org.insert("Campaign", {"Name": "Scoring 201", "Type": "Webinar", "IsActive": True})
    assert set(org.member_statuses(webinar)) == {"Sent", "Responded"}
    lead = next(iter(org.records["Lead"]))
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        member = {"CampaignId": webinar, "LeadId": lead, "Status": "Attended"}
        with pytest.raises(SalesforceMalformedRequest) as caught:  # not one of its statuses
            crm.sf.CampaignMember.create(member)
        assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        dry = crm.ensure_fields(dry_run=True)
        assert {"member status Registered on campaign Scoring 201", "member status Attended on campaign Scoring 201"
                } <= set(dry.created)
        assert set(org.member_statuses(webinar)) == {"Sent", "Responded"}  # a dry run makes nothing
        done = crm.ensure_fields()
        assert org.member_statuses(webinar) == {"Sent": False, "Responded": True, "Registered": False,
                                                "Attended": True}
        assert "member status Attended on campaign Scoring 201" in done.created
        assert not any("member status" in c for c in crm.ensure_fields().created)  # once
        crm.sf.CampaignMember.create(member)
        assert any(a.contact_id == lead and a.type == "webinar_attendance"
                   for p in crm.pull_activities({}) for a in p.activities)


def test_without_marketing_user_setup_says_what_to_do_about_the_campaign_and_the_statuses(seeded, tmp_path):
    org, ids, data = seeded
    org.touch("User", org.user_id, {"UserPermissionsMarketingUser": False})
    webinar = org.insert("Campaign", {"Name": "Scoring 201", "Type": "Webinar", "IsActive": True})
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(_campaign_mapping(tmp_path), {ENV_SANDBOX_URL: server.url,
                                                                       ENV_SESSION: SESSION})
        report = crm.ensure_fields()
    assert "campaign MQL" not in report.created
    assert not any(c["Name"] == "MQL" for c in org.records["Campaign"].values())
    campaign, statuses = report.todo
    assert campaign.startswith("Create the active campaign 'MQL', or tick Marketing User on the integration user")
    assert "member status Attended on campaign Scoring 201" in statuses and "Marketing User" in statuses
    assert set(org.member_statuses(webinar)) == {"Sent", "Responded"}


def test_setup_creates_missing_fields_once(bare):
    org, ids, data = bare
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        _set_up_once(crm, org)


def test_a_pull_before_setup_says_to_run_it(bare):
    org, ids, data = bare
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        with pytest.raises(ConfigError, match="mqlsync setup"):
            pull(crm)


def _set_up_once(crm, org):
    planned = crm.ensure_fields(dry_run=True)
    assert "Lead.MQL_Score__c" in planned.created and "Contact.MQL_Score__c" in planned.created
    assert f"Task.{TASK_KEY_FIELD}" in planned.created and "MQL_Score__c" not in org.fields["Lead"]
    made = crm.ensure_fields()
    assert made.created == planned.created
    fields = org.fields["Lead"]
    assert fields["MQL_Score__c"]["type"] == "double" and fields["Is_MQL__c"]["type"] == "boolean"
    assert fields["MQL_Explanation__c"]["type"] == "textarea" and fields["MQL_Date__c"]["type"] == "datetime"
    assert org.fields["Task"][TASK_KEY_FIELD]["externalId"]
    again = crm.ensure_fields()
    assert again.created == [] and sorted(again.existing) == sorted(made.created)


def test_a_large_full_sync_reads_through_bulk_api_2_with_the_same_result(seeded):
    org, ids, data = seeded
    with SandboxServer(org) as server:
        env = {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION}
        rest = SalesforceAdapter.from_env(MAPPING, env)
        smallest = min(sum(not r["IsDeleted"] for r in org.records[obj].values()) for obj in ("Lead", "Contact"))
        bulk = SalesforceAdapter.from_env(MAPPING, env, bulk_threshold=smallest - 1)
        by_rest, _ = pull(rest)
        server.stats.clear()
        by_bulk, _ = pull(bulk)
        assert by_bulk == by_rest
        used = server.snapshot()["by_endpoint"]
        assert sum(n for k, n in used.items() if "jobs/query" in k and k.startswith("POST")) == 2  # Lead, Contact


def test_a_failed_bulk_job_is_read_again_through_rest_with_the_same_result(seeded, caplog):
    org, ids, data = seeded
    with SandboxServer(org) as server:
        env = {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION}
        by_rest, _ = pull(SalesforceAdapter.from_env(MAPPING, env))
        org.bulk.fail_next = 1  # the Lead job ends Failed; the Contact job completes
        smallest = min(sum(not r["IsDeleted"] for r in org.records[obj].values()) for obj in ("Lead", "Contact"))
        by_bulk, _ = pull(SalesforceAdapter.from_env(MAPPING, env, bulk_threshold=smallest - 1))
    assert by_bulk == by_rest
    assert any("query job for Lead failed" in r.getMessage() and "REST API instead" in r.getMessage()
               for r in caplog.records)


def test_credentials_come_from_the_environment_and_the_sandbox_url_is_loopback_only():
    with pytest.raises(CredentialsError, match="SALESFORCE_USERNAME"):
        SalesforceAdapter.from_env(MAPPING, {})
    with pytest.raises(ConfigError, match=ENV_SANDBOX_URL):
        SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: "http://example.com:8080", ENV_SESSION: "s"})
    with pytest.raises(ConfigError, match="SALESFORCE_INSTANCE_URL"):
        SalesforceAdapter.from_env(MAPPING, {ENV_SESSION: "s", "SALESFORCE_INSTANCE_URL": "http://org.example.com"})
    with pytest.raises(ConfigError, match="SALESFORCE_PRIVATE_KEY_FILE: names no readable file"):
        SalesforceAdapter.from_env(MAPPING, {"SALESFORCE_USERNAME": "u", "SALESFORCE_CONSUMER_KEY": "k",
                                             "SALESFORCE_PRIVATE_KEY_FILE": "/nonexistent/key.pem"})


def test_503s_are_retried_and_the_pull_completes_the_same(seeded, monkeypatch):
    import mqlsync.connector.http as http

    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.01)
    org, ids, data = seeded
    with SandboxServer(org) as clean:
        expected, _ = pull(SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: clean.url, ENV_SESSION: SESSION}))
    with SandboxServer(org, faults=Faults(rate_5xx=0.3, seed=3)) as flaky:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: flaky.url, ENV_SESSION: SESSION})
        got, _ = pull(crm)
        activities, _ = pull_activities(crm)
        assert flaky.snapshot()["faults"] > 0
    assert got == expected and activities


def test_an_object_disabled_in_the_mapping_is_not_read(seeded, tmp_path):
    org, ids, data = seeded
    text = (ROOT / "mappings" / "salesforce.yaml").read_text()
    text = text.replace("  Contact:\n", "  Contact:\n    enabled: false\n")
    (tmp_path / "salesforce.yaml").write_text(text)
    (tmp_path / "scoring.yaml").write_text((ROOT / "mappings" / "scoring.yaml").read_text())
    mapping = load_mapping(tmp_path / "salesforce.yaml").mapping
    with SandboxServer(org) as server:
        contacts, _ = pull(SalesforceAdapter.from_env(mapping, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION}))
        assert contacts and {cid[:3] for cid in contacts} == {"00Q"}


def test_a_run_warns_once_when_the_orgs_daily_allocation_is_nearly_used(seeded, caplog):
    org, ids, data = seeded
    org.daily_limit, org.daily_used = 100, 85
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        with caplog.at_level("WARNING", logger="mqlsync.salesforce"):
            pull(crm)
            pull(crm)
    warnings = [r.getMessage() for r in caplog.records if "daily allocation" in r.getMessage()]
    assert len(warnings) == 1 and "of 100 requests" in warnings[0]


def test_a_sales_verdict_takes_its_time_from_lead_history_else_the_stamp_by_its_precision(running):
    crm, org, ids, data = running
    open_leads = [i for i, r in org.records["Lead"].items() if r["Status"] == "Open - Not Contacted"]
    tracked, untracked, dated = open_leads[:3]
    before = datetime.now(UTC)
    org.touch("Lead", tracked, {"Status": "Closed - Not Converted"})  # field history is on for Status
    contacts, _ = pull(crm)
    assert contacts[tracked].sales_status == "rejected" and contacts[tracked].sales_status_exact
    assert before - timedelta(seconds=1) <= contacts[tracked].sales_status_at <= datetime.now(UTC)
    org.tracked["Lead"] = set()  # an org whose admin keeps no history of Status
    org.touch("Lead", untracked, {"Status": "Closed - Not Converted"})
    org.touch("Lead", dated, {"Status": "Closed - Not Converted", "Status_Changed_At__c": "2026-11-30"})
    contacts, pages = pull(crm)
    (problem,) = [r for p in pages for r in p.rejected if r.record_id == untracked]
    assert "sales_status needs sales_status_at" in problem.reason  # reported, not guessed
    assert contacts[dated].sales_status_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert not contacts[dated].sales_status_exact  # a date: compared by day


def test_check_sees_fields_as_the_integration_user_does(bare, tmp_path):
    org, ids, data = bare
    with SandboxServer(org) as server:
        crm = SalesforceAdapter.from_env(MAPPING, {ENV_SANDBOX_URL: server.url, ENV_SESSION: SESSION})
        assert "Lead.MQL_Score__c" in crm.missing_fields() and "Task.MQL_Task_Key__c" in crm.missing_fields()
        failed = {c.item for c in crm.check() if not c.ok}
        assert "Lead writes score to MQL_Score__c" in failed
        assert "task key Task.MQL_Task_Key__c (external id, editable)" in failed
        crm.ensure_fields()
        assert crm.missing_fields() == [] and all(c.ok for c in crm.check())
        # Read but not edit: the permission set lost Edit on one field.
        row = next(r for r in org.records["FieldPermissions"].values() if r["Field"] == "Lead.MQL_Score__c")
        org.touch("FieldPermissions", row["Id"], {"PermissionsEdit": False})
        # A status value the mapping writes that the org no longer has.
        org.fields["Lead"]["Status"]["picklistValues"] = [
            p for p in org.fields["Lead"]["Status"]["picklistValues"] if p["value"] != "Working - Contacted"]
        failed = {c.item: c.fix for c in crm.check() if not c.ok}
        assert "may read MQL_Score__c but not edit it" in failed["Lead writes score to MQL_Score__c"]
        assert "no active value 'Working - Contacted'" in failed["Lead writes Status value 'Working - Contacted'"]
        org.touch("User", org.user_id, {"UserPermissionsMarketingUser": False})
        crm = SalesforceAdapter.from_env(_campaign_mapping(tmp_path), {ENV_SANDBOX_URL: server.url,
                                                                       ENV_SESSION: SESSION})
        failed = {c.item: c.fix for c in crm.check() if not c.ok}
    assert "tick Marketing User" in failed[
        "the integration user is a Marketing User (adds and removes campaign members)"]
    assert failed["MQL campaign 'MQL' exists"].startswith("run `mqlsync setup")
