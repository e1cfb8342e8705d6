"""The HubSpot adapter against the sandbox, through the real hubspot-api-client:
mapping in both directions, paging past the search cap, partial failures, lifecycle
rules, setup, tasks and credentials."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import mqlsync.connector.crms.hubspot.contacts as contacts_module
import mqlsync.connector.crms.hubspot.sandbox.portal as sandbox_module
from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter
from mqlsync.connector.crms.hubspot.credentials import ENV_BASE_URL, ENV_TOKEN, HubSpotCredentials
from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox
from mqlsync.connector.crms.hubspot.sandbox.seed import seed_hubspot
from mqlsync.connector.crms.hubspot.write import task_key_of
from mqlsync.connector.errors import ConfigError, CredentialsError, CRMUnavailable
from mqlsync.connector.model import FieldWrite, Stage, TaskRequest, WritePlan
from mqlsync.connector.sample import generate
from mqlsync.connector.sandbox.server import Faults, SandboxServer
from tests.conftest import ROOT

MAPPING = load_mapping(ROOT / "mappings" / "hubspot.yaml").mapping


def admin_post(url: str, path: str, body: dict) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())
TOKEN = "sandbox-token"


@pytest.fixture
def seeded():
    data = generate(seed=5, contacts=300)
    portal = HubSpotSandbox(token=TOKEN)
    ids = seed_hubspot(portal, MAPPING, data.contacts, data.activities)
    return portal, ids, data


@pytest.fixture
def running(seeded):
    portal, ids, data = seeded
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter.from_env(MAPPING, {ENV_TOKEN: TOKEN, ENV_BASE_URL: server.url})
        yield crm, portal, ids, data


def pull_all(crm, since=None):
    contacts, rejected = {}, []
    for page in crm.pull_contacts(since):
        contacts.update((c.id, c) for c in page.contacts)
        rejected += page.rejected
    return contacts, rejected


def test_contacts_read_back_as_the_sample_wrote_them(running):
    crm, portal, ids, data = running
    contacts, rejected = pull_all(crm)
    assert rejected == [] and len(contacts) == 300
    for original in data.contacts:
        pulled = contacts[ids[original.id]]
        for field in ("first_name", "last_name", "email", "title", "company", "phone", "industry", "country",
                      "unsubscribed", "owner_id", "crm_stage", "sales_status", "sql_criteria"):
            expected = getattr(original, field)
            if field == "crm_stage" and expected is None:
                expected = Stage.LEAD  # the seed writes every contact's lifecycle stage
            assert getattr(pulled, field) == expected, (original.id, field)
        if original.sales_status_at:
            assert abs(pulled.sales_status_at - original.sales_status_at) < timedelta(milliseconds=1)
        if original.company_size is not None:  # HubSpot keeps size as ranges: the lower bound comes back
            assert pulled.company_size <= original.company_size


def test_incremental_search_reads_past_the_10000_cap_without_skipping_shared_timestamps(monkeypatch):
    # The cap made small so the test is quick; the logic is the same at 10,000.
    monkeypatch.setattr(sandbox_module, "SEARCH_CAP", 1000)
    monkeypatch.setattr(contacts_module, "SEARCH_CAP", 1000)
    portal = HubSpotSandbox(token=TOKEN, burst_limit=10_000)
    for i in range(1500):
        portal.add_contact({"firstname": f"P{i}", "email": f"p{i}@x.io"})
    # 300 contacts modified in the same millisecond, straddling the cap.
    shared = portal.now_ms()
    for cid in sorted(portal.contacts, key=int)[850:1150]:
        portal.contacts[cid]["updatedAt"] = shared
        portal.contacts[cid]["properties"]["lastmodifieddate"] = sandbox_module._iso(shared)
    for cid in sorted(portal.contacts, key=int)[1150:]:
        portal.touch(cid, {})
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        pages = list(crm.pull_contacts(datetime(2000, 1, 1, tzinfo=UTC)))
    pulled = [c.id for p in pages for c in p.contacts]
    assert len(pulled) == len(set(pulled)) == 1500


def test_a_207_reports_the_missing_record_as_gone_and_writes_the_rest(running):
    crm, portal, ids, data = running
    crm.ensure_fields()
    some = list(ids.values())[:3]
    plan = WritePlan(updates=[FieldWrite(contact_id=cid, values={"score": "55"}) for cid in some]
                     + [FieldWrite(contact_id="999999", values={"score": "1"})])
    result = crm.apply(plan)
    assert sorted(result.updated) == sorted(some)
    # Not found (deleted or merged away since the pull) is not a failure to retry.
    assert result.gone == ["999999"] and result.failed == []
    assert all(portal.contacts[cid]["properties"]["mqlsync_score"] == "55" for cid in some)


def test_a_refused_value_fails_only_its_record_and_the_rest_is_written(running):
    crm, portal, ids, data = running
    crm.ensure_fields()
    good, bad = list(ids.values())[:2], list(ids.values())[2]
    plan = WritePlan(updates=[FieldWrite(contact_id=c, values={"score": "60"}) for c in good]
                     + [FieldWrite(contact_id=bad, values={"score": "sixty"})])
    result = crm.apply(plan)
    assert sorted(result.updated) == sorted(good)
    (failure,) = result.failed
    assert failure.contact_id == bad and "not a valid number" in failure.reason


def test_lifecycle_moves_back_by_clearing_it_first(running):
    crm, portal, ids, data = running
    cid = list(ids.values())[0]
    portal.touch(cid, {"lifecyclestage": "salesqualifiedlead"})
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"lifecycle": "mql"},
                                                     lifecycle_from="salesqualifiedlead")]))
    assert result.updated == [cid] and result.failed == []
    assert portal.contacts[cid]["properties"]["lifecyclestage"] == "marketingqualifiedlead"


def test_a_recycled_contact_that_requalifies_ends_at_mql_in_hubspot(running):
    crm, portal, ids, data = running
    cid = list(ids.values())[0]
    portal.touch(cid, {"lifecyclestage": "other"})  # recycled: Other is the portal's last stage
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"lifecycle": "mql"},
                                                     lifecycle_from="other")]))
    assert result.updated == [cid] and result.failed == []
    assert portal.contacts[cid]["properties"]["lifecyclestage"] == "marketingqualifiedlead"


def test_the_lifecycle_order_is_read_from_the_portal(running):
    crm, portal, ids, data = running
    portal.set_lifecycle_stages(["subscriber", "lead", "marketingqualifiedlead", "1337", "salesqualifiedlead",
                                 "opportunity", "customer", "evangelist", "other"])
    cid = list(ids.values())[0]
    portal.touch(cid, {"lifecyclestage": "1337"})  # a custom stage the admin placed after MQL
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"lifecycle": "mql"},
                                                     lifecycle_from="1337")]))
    assert result.failed == []
    assert portal.contacts[cid]["properties"]["lifecyclestage"] == "marketingqualifiedlead"


def test_a_stage_hubspot_keeps_is_read_back_and_fails_that_record_alone(running):
    crm, portal, ids, data = running
    moved, other = list(ids.values())[:2]
    portal.touch(moved, {"lifecyclestage": "customer"})  # a rep closed the deal after the pull
    result = crm.apply(WritePlan(updates=[
        FieldWrite(contact_id=moved, values={"lifecycle": "mql"}, lifecycle_from="lead"),
        FieldWrite(contact_id=other, values={"lifecycle": "mql"}, lifecycle_from="lead")]))
    assert result.updated == [other]
    (failure,) = result.failed
    assert failure.contact_id == moved and "HubSpot kept lifecycle stage 'customer'" in failure.reason
    assert portal.contacts[moved]["properties"]["lifecyclestage"] == "customer"


def test_a_stage_the_mapping_does_not_write_leaves_the_crm_lifecycle_alone(running):
    crm, portal, ids, data = running
    cid = list(ids.values())[0]
    portal.touch(cid, {"lifecyclestage": "customer"})
    crm.apply(WritePlan(updates=[FieldWrite(contact_id=cid, values={"lifecycle": "customer", "stage": "customer"})]))
    assert portal.contacts[cid]["properties"]["lifecyclestage"] == "customer"


def test_setup_creates_what_is_missing_and_changes_nothing_that_exists(running):
    crm, portal, ids, data = running
    portal.groups["mqlsync"] = {"name": "mqlsync", "label": "ours", "displayOrder": 1, "archived": False}
    portal._define("mqlsync_score", "Score set by an admin", "number", "number", "mqlsync", [])
    dry = crm.ensure_fields(dry_run=True)
    assert "mqlsync_fit" in dry.created and "mqlsync_fit" not in portal.properties
    report = crm.ensure_fields()
    assert report.existing[:2] == ["group mqlsync", "mqlsync_score"]
    assert len(report.created) == 8
    assert portal.properties["mqlsync_score"]["label"] == "Score set by an admin"
    assert portal.properties["mqlsync_mql"]["type"] == "bool"
    assert crm.ensure_fields().created == []


def test_tasks_are_created_for_the_owner_associated_to_the_contact_and_found_by_key(running):
    crm, portal, ids, data = running
    contacts = list(ids.values())[:3]
    due = datetime(2026, 11, 24, 9, tzinfo=UTC)
    tasks = [TaskRequest(key=f"hubspot-main:{c}:20261123T090000Z", contact_id=c, owner_id="1000002", due_at=due,
                         subject=f"MQL {c}", body="Score 80", priority="HIGH") for c in contacts]
    result = crm.apply(WritePlan(tasks=tasks))
    assert set(result.tasks) == {t.key for t in tasks}
    for task in tasks:
        record = portal.tasks[result.tasks[task.key]]
        assert record["contacts"] == {task.contact_id}  # matched by key, never by position
        assert record["properties"]["hubspot_owner_id"] == "1000002"
        assert record["properties"]["hs_timestamp"] == str(int(due.timestamp() * 1000))
        assert task_key_of(record["properties"]["hs_task_body"]) == task.key
    lookup = {tasks[1].key: tasks[1].contact_id, "hubspot-main:999999:x": "999999"}
    assert crm.find_tasks(lookup) == {tasks[1].key: result.tasks[tasks[1].key]}


def test_a_task_whose_owner_left_is_created_unassigned_and_refuses_none_of_the_others(running, caplog):
    crm, portal, ids, data = running
    contacts = list(ids.values())[:4]
    due = datetime(2026, 11, 24, 9, tzinfo=UTC)
    owners = ["1000002", "55555555", "1000003", "1000004"]  # 55555555 was deactivated
    tasks = [TaskRequest(key=f"hubspot-main:{c}:20261123T090000Z", contact_id=c, owner_id=o, due_at=due,
                         subject=f"MQL {c}", body="Score 80") for c, o in zip(contacts, owners, strict=True)]
    result = crm.apply(WritePlan(tasks=tasks))
    assert result.failed == [] and set(result.tasks) == {t.key for t in tasks}
    got = {t.contact_id: portal.tasks[result.tasks[t.key]]["properties"].get("hubspot_owner_id") for t in tasks}
    assert got == {contacts[0]: "1000002", contacts[1]: None, contacts[2]: "1000003", contacts[3]: "1000004"}
    warned = [r.getMessage() for r in caplog.records if "created without an owner" in r.getMessage()]
    assert warned == [f"task for {contacts[1]} created without an owner: owner 55555555 is inactive or no longer "
                      "exists in the CRM"]


def test_every_sample_activity_comes_back_once_through_its_hubspot_api(running):
    crm, portal, ids, data = running
    activities = [a for page in crm.pull_activities({}) for a in page.activities]
    assert len({a.id for a in activities}) == len(activities)
    expected = Counter(a.type for a in data.activities)
    accepted = [c for c in data.contacts if c.sales_status == "accepted"]
    expected.update({"meeting": len(accepted), "call": len(accepted)})  # reps log them around acceptance
    assert Counter(a.type for a in activities) == expected
    meetings = {(a.contact_id, a.at) for a in activities if a.type == "meeting"}
    assert meetings == {(ids[c.id], c.sales_status_at.replace(microsecond=c.sales_status_at.microsecond // 1000 * 1000))
                        for c in accepted}
    assert all(a.attributes["outcome"] == "COMPLETED" for a in activities if a.type == "meeting")
    views = {(ids[a.contact_id], a.attributes["url"], a.at.replace(microsecond=a.at.microsecond // 1000 * 1000))
             for a in data.activities if a.type == "page_view"}
    assert {(a.contact_id, a.attributes["url"], a.at) for a in activities if a.type == "page_view"} == views
    forms = [a for a in activities if a.type == "form_submission"]
    assert forms and all(a.id.startswith("form:") and a.attributes.get("form_name") for a in forms)
    assert {a.attributes.get("form_type") for a in forms} >= {"content", "demo"}
    clicks = [a for a in activities if a.type == "email_click"]
    assert clicks and all(a.id.startswith("email:") and a.attributes["campaign_id"] > 1000 for a in clicks)
    # Webinars come from the marketing events API with the sample's event ids and minutes.
    attended = sorted((ids[a.contact_id], a.attributes["event_id"], a.attributes["minutes"])
                      for a in data.activities if a.type == "webinar_attendance")
    assert sorted((a.contact_id, a.attributes["event_id"], a.attributes["minutes"])
                  for a in activities if a.type == "webinar_attendance") == attended


def test_a_form_submitter_who_is_not_a_contact_is_skipped_quietly(running):
    crm, portal, ids, data = running
    guid = portal.activity.add_form("Newsletter")
    portal.activity.add_submission(guid, {"email": "stranger@nowhere.example"}, 1_790_000_000_000, "/newsletter")
    first = portal.contacts[next(iter(ids.values()))]["properties"]["email"]
    portal.activity.add_submission(guid, {"email": first.upper()}, 1_790_000_000_001, "/newsletter")
    newsletter = [a for page in crm.pull_activities({}) for a in page.activities
                  if a.attributes.get("form_name") == "Newsletter"]
    assert [a.contact_id for a in newsletter] == [next(iter(ids.values()))]


def test_transient_429s_and_5xx_are_retried_and_counted(seeded):
    portal, ids, data = seeded
    with SandboxServer(portal, faults=Faults(rate_429=0.2, rate_5xx=0.2, seed=3)) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        crm.budget_s = 30
        import mqlsync.connector.http as http

        http_sleep = []
        original = http.Retrying.__init__

        def no_sleep(self, *a, **k):  # the policy is real; only its waiting is skipped
            k["sleep"] = http_sleep.append
            original(self, *a, **k)

        http.Retrying.__init__ = no_sleep
        try:
            contacts, _ = pull_all(crm)
        finally:
            http.Retrying.__init__ = original
        stats = server.snapshot()
    assert len(contacts) == 300
    assert stats["faults"] > 0 and crm.requests == stats["requests"] > 3
    assert len(http_sleep) == stats["faults"]


def test_a_refused_token_is_one_clear_error_without_the_token(seeded):
    portal, ids, data = seeded
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, "pat-wrong-token-value", server.url)
        with pytest.raises(CredentialsError) as exc:
            pull_all(crm)
    assert "401" in str(exc.value) and "pat-wrong-token-value" not in str(exc.value)


def test_credentials_come_from_the_environment_and_http_only_to_loopback():
    with pytest.raises(CredentialsError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        HubSpotAdapter.from_env(MAPPING, {})
    with pytest.raises(ConfigError, match="plain http is only allowed"):
        HubSpotAdapter.from_env(MAPPING, {ENV_TOKEN: "t", ENV_BASE_URL: "http://crm.example.com"})
    local = HubSpotCredentials.from_env({ENV_TOKEN: "pat-na1-secret", ENV_BASE_URL: "http://localhost:9/"})
    assert local.base_url == "http://localhost:9" and "pat-na1-secret" not in repr(local)
    assert HubSpotCredentials.from_env({ENV_TOKEN: "t"}).base_url == "https://api.hubapi.com"


def test_an_address_nothing_answers_at_stops_after_a_few_tries_naming_it():
    crm = HubSpotAdapter(MAPPING, TOKEN, "http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(CRMUnavailable, match=r"HubSpot cannot be reached at http://127.0.0.1:9 .*check the "
                                             r"address in the environment; nothing was read or written"):
        pull_all(crm)
    assert crm.requests == 3  # not the whole 120-second retry budget


def test_a_crm_that_answered_before_and_then_stops_answering_is_retried_within_the_budget():
    crm = HubSpotAdapter(MAPPING, TOKEN, "http://127.0.0.1:9")
    crm.client.policy.reached = True  # it answered earlier in this run: an outage, not a wrong address
    crm.budget_s = 1.0
    with pytest.raises(CRMUnavailable, match=r"HubSpot kept failing .* attempts in \d+s \(budget 1s\)"):
        pull_all(crm)


def test_the_mql_tag_can_be_membership_of_a_list_that_setup_creates(seeded):
    portal, ids, data = seeded
    mapping = MAPPING.model_copy(update={"mql_tag": MAPPING.mql_tag.model_copy(update={"field": None, "list": "MQLs"})})
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(mapping, TOKEN, server.url)
        with pytest.raises(ConfigError, match="run `mqlsync setup`"):
            crm.apply(WritePlan(updates=[FieldWrite(contact_id=next(iter(ids.values())), values={"mql": "true"})]))
        report = crm.ensure_fields()
        assert "list MQLs" in report.created
        assert "list MQLs" in HubSpotAdapter(mapping, TOKEN, server.url).ensure_fields().existing
        a, b, c = list(ids.values())[:3]
        tagged = crm.apply(WritePlan(updates=[FieldWrite(contact_id=x, values={"mql": "true", "score": "80"})
                                              for x in (a, b)]))
        assert tagged.failed == []
        crm.apply(WritePlan(updates=[FieldWrite(contact_id=b, values={"mql": "false"}),
                                     FieldWrite(contact_id=c, values={"mql": "false"})]))  # c was never on it
        (mql_list,) = portal.lists.values()
    assert mql_list["members"] == {a} and mql_list["processingType"] == "MANUAL"


def test_an_mql_list_an_admin_named_in_another_case_is_found_not_made_again(seeded):
    # HubSpot looks list names up whatever their case; a second list would split the tag.
    portal, ids, data = seeded
    mapping = MAPPING.model_copy(update={"mql_tag": MAPPING.mql_tag.model_copy(update={"field": None, "list": "MQLs"})})
    with SandboxServer(portal) as server:
        made = HubSpotAdapter(mapping.model_copy(update={"mql_tag": mapping.mql_tag.model_copy(
            update={"list": "mqls"})}), TOKEN, server.url).ensure_fields()
        assert "list mqls" in made.created
        report = HubSpotAdapter(mapping, TOKEN, server.url).ensure_fields()
    assert "list MQLs" in report.existing and len(portal.lists) == 1


def test_a_sales_verdict_takes_its_time_from_the_property_history_with_no_stamp_needed(running):
    crm, portal, ids, data = running
    cid = next(iter(ids.values()))
    before = datetime.now(UTC)
    portal.touch(cid, {"hs_lead_status": "UNQUALIFIED", "mqlsync_sales_status_at": None})  # no workflow stamped it
    contacts, rejected = pull_all(crm)
    assert cid not in {r.record_id for r in rejected}
    contact = contacts[cid]
    assert contact.sales_status == "rejected" and contact.sales_status_exact
    assert before - timedelta(seconds=1) <= contact.sales_status_at <= datetime.now(UTC)
    # A stamp that disagrees loses to the history: the history is when the status changed.
    portal.touch(cid, {"mqlsync_sales_status_at": "2020-01-01T00:00:00Z"})
    assert pull_all(crm)[0][cid].sales_status_at == contact.sales_status_at


def test_marketing_events_are_read_again_only_within_the_lookback(seeded):
    portal, ids, data = seeded
    since = datetime(2026, 11, 1, tzinfo=UTC)
    ms = lambda d: int((since - timedelta(days=d)).timestamp() * 1000)  # noqa: E731
    old = portal.activity.add_marketing_event("Old webinar", "old-1", ms(120))
    recent = portal.activity.add_marketing_event("Recent webinar", "new-1", ms(10))
    cid = next(iter(ids.values()))
    portal.activity.add_participation(old, cid, None, "ATTENDED", ms(119), 1800)
    portal.activity.add_participation(recent, cid, None, "ATTENDED", ms(9), 2700)
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        pages = crm.pull_activities({src.source: since for src in MAPPING.activities})
        pulled = [a for page in pages for a in page.activities if a.type == "webinar_attendance"]
        everything = [a for page in crm.pull_activities({}) for a in page.activities if a.type == "webinar_attendance"]
    assert [(a.attributes["event_id"], a.attributes["minutes"]) for a in pulled
            if a.attributes["event_id"] in ("old-1", "new-1")] == [("new-1", 45)]
    assert {"old-1", "new-1"} <= {a.attributes["event_id"] for a in everything}


def test_opens_and_clicks_hubspot_marks_as_a_bots_are_not_engagement(seeded):
    portal, ids, data = seeded
    first = portal.contacts[next(iter(ids.values()))]["properties"]["email"]
    at = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
    portal.activity.add_email_event("OPEN", first, at, 4242)
    portal.activity.add_email_event("CLICK", first, at + 1, 4242, "https://x.io/scanned", filtered=True)
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        list(crm.pull_contacts(None))
        since = {src.source: datetime(2026, 11, 1, tzinfo=UTC) for src in MAPPING.activities}
        mine = [a for page in crm.pull_activities(since) for a in page.activities
                if a.attributes.get("campaign_id") == 4242]
    assert [a.type for a in mine] == ["email_open"]


def test_a_portal_answering_its_documented_errors_is_read_whole(seeded, monkeypatch):
    import mqlsync.connector.http as http

    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.01)
    portal, ids, data = seeded
    faults = Faults(rate_5xx=0.25, statuses=(423, 521, 522, 523, 524), seed=3)
    with SandboxServer(portal, faults=faults) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        got = {c.id for page in crm.pull_contacts(None) for c in page.contacts}
        assert server.snapshot()["faults"] > 0
    assert got == set(ids.values())


def test_tasks_are_found_by_key_through_every_page_of_a_contacts_associations(running):
    # v4 association reads page per record; a task on a page not read would be made again.
    crm, portal, ids, data = running
    portal.association_page = 1
    cid = next(iter(ids.values()))
    due = datetime(2026, 11, 24, 9, tzinfo=UTC)
    tasks = [TaskRequest(key=f"hubspot-main:{cid}:2026112{i}T090000Z", contact_id=cid, owner_id=None, due_at=due,
                         subject=f"MQL {i}", body="Score 80") for i in range(3)]
    made = crm.apply(WritePlan(tasks=tasks))
    assert crm.find_tasks({t.key: cid for t in tasks}) == made.tasks and len(made.tasks) == 3


def test_a_meeting_with_several_contacts_is_activity_for_each_through_every_page(seeded):
    portal, ids, data = seeded
    portal.association_page = 1
    people = list(ids.values())[:3]
    portal.add_engagement("meetings", people[0], int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000),
                          {"hs_meeting_title": "Three people", "hs_meeting_outcome": "COMPLETED"},
                          contacts=people)
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        got = {a.contact_id for page in crm.pull_activities({}) for a in page.activities
               if a.type == "meeting" and a.attributes.get("title") == "Three people"}
    assert got == set(people)


def _meetings_only(portal, count: int):
    """`count` meetings of one contact, and the mapping with meetings as its only source."""
    cid = sorted(portal.contacts, key=int)[0]
    for i in range(count):
        portal.add_engagement("meetings", cid, 1_790_000_000_000 + i, {"hs_meeting_title": f"m{i}"})
    return MAPPING.model_copy(update={"activities": [a for a in MAPPING.activities
                                                     if a.source == "objects:meetings"]})


def test_meeting_searches_are_paced_under_the_search_limit_like_contact_searches(seeded):
    # Every CRM search counts against the portal's per-second search limit, meetings too.
    portal, ids, data = seeded
    only_meetings = _meetings_only(portal, 2400)  # 12 search pages of 200
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(only_meetings, TOKEN, server.url)
        got = [a for page in crm.pull_activities({}) for a in page.activities]
        throttled = server.snapshot()["throttled"]
    assert len(got) >= 2400 and throttled == 0


def test_searches_other_integrations_make_on_the_portal_are_waited_out_and_nothing_is_lost(seeded):
    # The search limit is the portal's, shared with every app on it: mqlsync's own pacing
    # cannot know the others' share, so it meets 429s, waits them out and reads all.
    portal, ids, data = seeded
    only_meetings = _meetings_only(portal, 1000)  # 5 search pages of 200
    with SandboxServer(portal) as server:
        admin_post(server.url, "/__sandbox/search-share", {"others": 4})  # one search a second is left
        used = portal.daily_used
        crm = HubSpotAdapter(only_meetings, TOKEN, server.url)
        got = [a.id for page in crm.pull_activities({}) for a in page.activities]
        throttled = server.snapshot()["throttled"]
    assert len(got) == len(set(got)) and len(got) >= 1000 and throttled > 0
    assert portal.daily_used - used >= 5  # searches count toward the daily limit


def test_client_side_pacing_keeps_a_run_under_the_burst_limit_without_429s():
    from mqlsync.connector.config.mapping import Limits

    data = generate(seed=5, contacts=250)

    def pulled_with(max_requests: int, announced: bool = True) -> dict:
        portal = HubSpotSandbox(token=TOKEN, burst_limit=20, burst_window_s=1.0)
        seed_hubspot(portal, MAPPING, data.contacts, data.activities)
        if not announced:  # no X-HubSpot-RateLimit-* headers: the mapping's pace is all the client knows
            portal.rate_headers = lambda request: {}  # type: ignore[method-assign]
        mapping = MAPPING.model_copy(update={"limits": Limits(max_requests=max_requests, per_seconds=1.0)})
        with SandboxServer(portal) as server:
            crm = HubSpotAdapter(mapping, TOKEN, server.url)
            pages = list(crm.pull_activities({src.source: None for src in MAPPING.activities}))
            return {"throttled": server.snapshot()["throttled"], "requests": crm.requests,
                    "activities": sum(len(p.activities) for p in pages)}

    paced, unpaced = pulled_with(20, announced=False), pulled_with(10_000, announced=False)
    assert paced["requests"] > 40  # enough to cross the 20-a-second window twice
    assert paced["throttled"] == 0 and unpaced["throttled"] > 0
    assert paced["activities"] == unpaced["activities"]
    # Where the portal announces its limit, a mapping set too high is paced down to it.
    learned = pulled_with(10_000)
    assert learned["throttled"] == 0 and learned["activities"] == paced["activities"]


def test_a_task_batch_whose_answer_is_lost_is_looked_up_not_created_twice(running, monkeypatch):
    import mqlsync.connector.http as http
    from mqlsync.connector.sandbox.server import DROP

    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.01)
    crm, portal, ids, data = running
    creates = []

    def lossy(request, match, create=portal.batch_create_tasks):
        response = create(request, match)  # the tasks are made...
        creates.append(len(request.body["inputs"]))
        return DROP if len(creates) == 1 else response  # ...and the first answer never arrives

    portal.routes = [(m, p, lossy if h == portal.batch_create_tasks else h) for m, p, h in portal.routes]
    due = datetime(2026, 11, 24, 9, tzinfo=UTC)
    tasks = [TaskRequest(key=f"hubspot-main:{c}:20261123T090000Z", contact_id=c, owner_id="1000002", due_at=due,
                         subject="MQL", body="Score 80") for c in list(ids.values())[:5]]
    result = crm.apply(WritePlan(tasks=tasks))
    assert creates == [5] and len(portal.tasks) == 5  # found by key, not sent again
    assert set(result.tasks) == {t.key for t in tasks} and result.failed == []


def test_the_daily_limit_stops_the_run_at_once_and_says_when_it_resumes(seeded):
    portal, ids, data = seeded
    portal.daily_limit = portal.daily_used + 3
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        with pytest.raises(CRMUnavailable, match="daily API limit is used up") as caught:
            list(crm.pull_activities({src.source: None for src in MAPPING.activities}))
        assert crm.requests == 4  # three answered, the fourth refused, none retried
    assert "after midnight" in str(caught.value)


def test_a_change_search_indexes_late_is_still_read_by_the_next_incremental_pull(seeded):
    import time as clock

    from mqlsync.connector.crms.hubspot.sandbox.wire import _iso

    portal, ids, data = seeded
    late, early = list(ids.values())[:2]
    for record in portal.contacts.values():  # the portal was last changed ten minutes ago
        record["updatedAt"] -= 600_000
        record["properties"]["lastmodifieddate"] = _iso(record["updatedAt"])
    portal.version += 1
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        list(crm.pull_contacts(None))
        mark = datetime.fromtimestamp(portal.now_ms() / 1000, UTC)
        portal.index_lag_ms[late] = 1500  # this change shows in search 1.5 s after it is made
        portal.touch(late, {"jobtitle": "Chief Revenue Officer"})
        clock.sleep(0.05)
        portal.touch(early, {"jobtitle": "VP Marketing"})
        first = [c for page in crm.pull_contacts(mark) for c in page.contacts]
        watermark = max(c.updated_at for c in first)
        assert [c.id for c in first] == [early]  # the late one is not in search yet...
        clock.sleep(1.6)
        second = {c.id: c for page in crm.pull_contacts(watermark) for c in page.contacts}
        assert second[late].title == "Chief Revenue Officer"  # ...and is read once it is


def test_check_names_what_is_missing_and_what_the_tier_and_scopes_refuse(seeded):
    portal, ids, data = seeded
    portal.access.set("professional", ["crm.objects.contacts.read", "crm.objects.contacts.write",
                                       "crm.schemas.contacts.read", "crm.schemas.contacts.write", "forms",
                                       "crm.objects.marketing_events.read"])
    with SandboxServer(portal) as server:
        crm = HubSpotAdapter(MAPPING, TOKEN, server.url)
        assert set(crm.missing_fields()) == set(MAPPING.write_back.fields.values())
        failed = {c.item: c.fix for c in crm.check() if not c.ok}
        assert failed["writes score to property mqlsync_score"].endswith("run `mqlsync setup --mapping FILE`")
        assert failed["activity source events:e_visited_page can be read"].startswith(
            "the Events API needs an Enterprise portal")
        assert "lacks the scope content" in failed["activity source email_events:OPEN can be read"]
        assert "crm.objects.owners.read" in failed["task owners can be read (crm.objects.owners.read)"]
        assert "activity source forms can be read" not in failed
        crm.ensure_fields()
        assert crm.missing_fields() == []
        portal.set_lifecycle_stages(["subscriber", "lead", "salesqualifiedlead", "customer", "other"])
        portal.access.set("enterprise", None)
        failed = [c for c in crm.check() if not c.ok]
    # The portal's admin removed the MQL stage that the mapping writes.
    assert [c.item for c in failed] == ["writes lifecyclestage value 'marketingqualifiedlead'"]
    assert "Lifecycle stage" in failed[0].fix
