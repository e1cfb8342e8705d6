"""The HubSpot sandbox as the real hubspot-api-client sees it: HubSpot's paths, shapes,
paging, limits and errors. If these drift from HubSpot, the adapter tests prove nothing."""

from __future__ import annotations

import json
import time
import urllib.request

import hubspot
import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from urllib3.util.retry import Retry

import mqlsync.connector.crms.hubspot.sandbox.portal as sandbox_module
from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox
from mqlsync.connector.sandbox.server import Faults, SandboxServer

TOKEN = "sandbox-token"


@pytest.fixture
def portal():
    hs = HubSpotSandbox(token=TOKEN)
    for i in range(250):
        hs.add_contact({"firstname": f"Név{i}", "email": f"p{i}@northwind.hu", "lifecyclestage": "lead"})
    return hs


@pytest.fixture
def client(portal):
    with SandboxServer(portal) as server:
        c = hubspot.Client.create(access_token=TOKEN, host=server.url)
        c.sandbox_url = server.url
        yield c


class api_error:
    """Expect an SDK ApiException. Each hubspot-api-client sub-package has its own
    ApiException class with no common base, so match on the shape they share."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not hasattr(exc, "status") or not hasattr(exc, "body"):
            raise AssertionError(f"expected an API error, got {exc!r}")
        self.value = exc
        return True


def search(client, **kwargs):
    return client.crm.contacts.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(**kwargs))


def test_list_pages_with_the_after_cursor_until_the_end(client):
    seen, after = [], None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["firstname"])
        seen += [r.id for r in page.results]
        if not page.paging:
            break
        after = page.paging.next.after
    assert len(seen) == 250 == len(set(seen))
    assert page.results[-1].properties["firstname"] == "Név249"


def test_search_filters_sorts_and_pages_by_lastmodifieddate(client, portal):
    for i, cid in enumerate(sorted(portal.contacts, key=int)):  # one second apart
        portal.contacts[cid]["updatedAt"] = 1_790_000_000_000 + i * 1000
        portal.contacts[cid]["properties"]["lastmodifieddate"] = sandbox_module._iso(1_790_000_000_000 + i * 1000)
    first = sorted(portal.contacts, key=int)[5]
    since = portal.contacts[first]["updatedAt"]
    result = search(client, filter_groups=[{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["email"], limit=200)
    assert result.total == 245
    assert len(result.results) == 200 and result.paging.next.after == "200"
    times = [r.properties["lastmodifieddate"] for r in result.results]
    assert times == sorted(times)
    assert set(result.results[0].properties) == {"createdate", "hs_object_id", "lastmodifieddate", "email"}


def test_search_refuses_pages_larger_than_200_and_paging_past_10000(client):
    with api_error() as too_big:
        search(client, limit=201)
    assert too_big.value.status == 400
    with api_error() as too_far:
        search(client, limit=100, after="9950")
    body = json.loads(too_far.value.body)
    assert too_far.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert set(body) >= {"status", "message", "correlationId", "category"}


def test_batch_update_of_an_unknown_id_is_a_207_with_the_rest_written(client, portal):
    first = sorted(portal.contacts, key=int)[0]
    response = client.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=[
            SimplePublicObjectBatchInput(id=first, properties={"jobtitle": "Marketingvezető"}),
            SimplePublicObjectBatchInput(id="999999", properties={"jobtitle": "ghost"})]))
    assert type(response).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert [r.id for r in response.results] == [first]
    assert response.errors[0].category == "OBJECT_NOT_FOUND" and response.errors[0].context == {"ids": ["999999"]}
    assert portal.contacts[first]["properties"]["jobtitle"] == "Marketingvezető"


def test_an_invalid_value_refuses_the_whole_batch(client, portal):
    ids = sorted(portal.contacts, key=int)[:2]
    with api_error() as exc:
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=[
                SimplePublicObjectBatchInput(id=ids[0], properties={"jobtitle": "fine"}),
                SimplePublicObjectBatchInput(id=ids[1], properties={"numemployees": "lots"})]))
    assert exc.value.status == 400
    assert "not one of the allowed options" in json.loads(exc.value.body)["message"]
    assert portal.contacts[ids[0]]["properties"].get("jobtitle") is None


def test_a_backward_lifecycle_set_is_answered_200_and_not_made_unless_cleared_first(client, portal):
    cid = sorted(portal.contacts, key=int)[0]
    update = lambda stage: client.crm.contacts.batch_api.update(  # noqa: E731
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=cid, properties={"lifecyclestage": stage})]))
    read = lambda: client.crm.contacts.basic_api.get_by_id(cid, properties=["lifecyclestage"])  # noqa: E731
    update("other")
    update("lead")  # back from Other, the last stage: accepted, not made
    assert read().properties["lifecyclestage"] == "other"
    update("")
    update("lead")
    assert read().properties["lifecyclestage"] == "lead"


def test_the_lifecycle_order_is_the_portals_own(client, portal):
    cid = sorted(portal.contacts, key=int)[0]
    portal.set_lifecycle_stages(["subscriber", "lead", "1337", "marketingqualifiedlead", "customer", "other"])
    options = client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage").options
    assert [o.value for o in sorted(options, key=lambda o: o.display_order)][2] == "1337"
    update = lambda stage: client.crm.contacts.batch_api.update(  # noqa: E731
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=cid, properties={"lifecyclestage": stage})]))
    update("marketingqualifiedlead")
    update("1337")  # a custom stage the admin put before MQL: backward
    assert portal.contacts[cid]["properties"]["lifecyclestage"] == "marketingqualifiedlead"
    with api_error() as exc:  # a stage the portal does not have
        update("evangelist")
    assert exc.value.status == 400


def test_batches_are_limited_to_100_inputs(client):
    with api_error() as exc:
        client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=str(i)) for i in range(101)], properties=["email"]))
    assert exc.value.status == 400


def test_property_and_group_creation_and_their_conflicts(client):
    api = client.crm.properties
    api.groups_api.create(object_type="contacts",
                          property_group_create=PropertyGroupCreate(name="mqlsync", label="mqlsync"))
    created = api.core_api.create(object_type="contacts", property_create=PropertyCreate(
        name="mqlsync_score", label="MQL score", type="number", field_type="number", group_name="mqlsync"))
    assert created.name == "mqlsync_score" and created.group_name == "mqlsync"
    names = [p.name for p in api.core_api.get_all(object_type="contacts").results]
    assert "mqlsync_score" in names and "lifecyclestage" in names
    with api_error() as exc:
        api.core_api.create(object_type="contacts", property_create=PropertyCreate(
            name="mqlsync_score", label="again", type="number", field_type="number", group_name="mqlsync"))
    assert exc.value.status == 409 and json.loads(exc.value.body)["category"] == "OBJECT_ALREADY_EXISTS"


def test_task_is_created_with_its_contact_association_and_found_by_it(client, portal):
    cid = sorted(portal.contacts, key=int)[3]
    tasks = client.crm.objects.tasks.basic_api
    task = tasks.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"hs_timestamp": "2026-11-24T09:00:00.000Z", "hs_task_subject": "MQL: Név3",
                    "hs_task_body": "mqlsync-key-abc", "hubspot_owner_id": "1000001"},
        associations=[{"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                      "associationTypeId": 204}]}]))
    found = client.crm.objects.tasks.search_api.do_search(public_object_search_request={
        "filterGroups": [{"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": cid}]}],
        "properties": ["hs_task_subject"]})
    assert [t.id for t in found.results] == [task.id]
    assert found.results[0].properties["hs_task_subject"] == "MQL: Név3"


def test_events_page_by_cursor_and_filter_by_time(client, portal):
    cid = sorted(portal.contacts, key=int)[0]
    for minute in range(30):
        portal.activity.add_event("e_visited_page", cid, 1_790_000_000_000 + minute * 60_000, {"hs_url": f"/p{minute}"})
    got, after = [], None
    while True:
        page = client.events.events_api.get_page(object_type="contact", event_type="e_visited_page",
                                                 occurred_after="2026-09-21T14:20:00Z", limit=10,
                                                 sort=["ASCENDING"], after=after)
        got += page.results
        if not page.paging:
            break
        after = page.paging.next.after
    assert [e.properties["hs_url"] for e in got] == [f"/p{m}" for m in range(7, 30)]
    assert got[0].object_id == cid and got[0].event_type == "e_visited_page"
    # The spec's current values: occurredAt ascending, -occurredAt descending.
    for sort, first in (("occurredAt", "/p0"), ("-occurredAt", "/p29")):
        page = client.events.events_api.get_page(object_type="contact", event_type="e_visited_page", limit=5,
                                                 sort=[sort])
        assert page.results[0].properties["hs_url"] == first


def test_owners_page(client):
    portal_owners = client.crm.owners.owners_api.get_page()
    assert portal_owners.results == []


def test_wrong_token_is_401_with_hubspots_body(portal):
    with SandboxServer(portal) as server:
        with api_error() as exc:
            hubspot.Client.create(access_token="wrong", host=server.url).crm.contacts.basic_api.get_page()
    assert exc.value.status == 401 and json.loads(exc.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_burst_limit_answers_429_with_hubspots_headers_and_recovers(portal):
    limited = HubSpotSandbox(token=TOKEN, burst_limit=3, burst_window_s=2.0)
    limited.contacts = portal.contacts
    with SandboxServer(limited) as server:
        # urllib3's default Retry honours Retry-After on 429 and would retry silently;
        # mqlsync keeps retries in one place, so its clients (and this test) turn it off.
        c = hubspot.Client.create(access_token=TOKEN, host=server.url,
                                  retry=Retry(total=0, respect_retry_after_header=False))
        for _ in range(3):
            c.crm.contacts.basic_api.get_page(limit=1)
        with api_error() as exc:
            c.crm.contacts.basic_api.get_page(limit=1)
        time.sleep(2.1)
        c.crm.contacts.basic_api.get_page(limit=1)
        stats = json.load(urllib.request.urlopen(server.url + "/__sandbox/stats"))
    headers = exc.value.headers
    assert exc.value.status == 429 and headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert headers["X-HubSpot-RateLimit-Max"] == "3" and "Retry-After" in headers
    assert json.loads(exc.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert stats["throttled"] == 1 and stats["requests"] == 5


def test_search_limit_answers_429_without_rate_limit_headers(client):
    statuses = []
    for _ in range(7):
        try:
            search(client, limit=1)
            statuses.append(200)
        except Exception as exc:  # noqa: BLE001 - the SDK's ApiException, see api_error
            statuses.append(exc.status)
            assert not any(h.startswith("X-HubSpot-RateLimit") for h in exc.headers)
            assert "Retry-After" not in exc.headers
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]


def test_injected_faults_are_counted(portal):
    with SandboxServer(portal, faults=Faults(rate_5xx=1.0)) as server:
        with api_error() as exc:
            hubspot.Client.create(access_token=TOKEN, host=server.url,
                                  retry=Retry(total=0)).crm.contacts.basic_api.get_page()
        stats = json.load(urllib.request.urlopen(server.url + "/__sandbox/stats"))
    assert exc.value.status in (502, 503) and stats["faults"] == 1


def test_the_sandbox_listens_on_loopback_only(portal):
    with SandboxServer(portal) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"


def test_email_events_filter_by_type_and_time_and_page_by_offset(client, portal):
    for i in range(25):
        portal.activity.add_email_event("OPEN" if i % 5 else "CLICK", f"p{i}@northwind.hu", 1_790_000_000_000 + i, 1001,
                               "https://x.io" if i % 5 == 0 else None)
    api = client.crm.contacts.basic_api.api_client
    pages, query = [], [("eventType", "OPEN"), ("startTimestamp", "1790000000003"), ("limit", "7")]
    while True:
        response = api.call_api("/email/public/v1/events", "GET", query_params=query, auth_settings=["oauth2"],
                                header_params={"Accept": "application/json"}, response_types_map={},
                                _return_http_data_only=True, _preload_content=False)
        body = json.loads(response.data)
        pages.append(body["events"])
        if not body["hasMore"]:
            break
        query = [q for q in query if q[0] != "offset"] + [("offset", body["offset"])]
    created = [e["created"] - 1_790_000_000_000 for page in pages for e in page]
    # "Events will be returned in reverse-chronological order" (Email Events API).
    assert created == [i for i in range(24, 2, -1) if i % 5] and [len(p) for p in pages] == [7, 7, 4]
    assert all(e["type"] == "OPEN" and "recipient" in e for page in pages for e in page)


def test_email_events_include_bot_events_unless_asked_to_exclude_them(client, portal):
    portal.activity.add_email_event("OPEN", "human@northwind.hu", 1_790_000_000_000, 1001)
    portal.activity.add_email_event("OPEN", "scanner@northwind.hu", 1_790_000_000_001, 1001, filtered=True)
    api = client.crm.contacts.basic_api.api_client

    def recipients(*query):
        response = api.call_api("/email/public/v1/events", "GET", query_params=[("eventType", "OPEN"), *query],
                                auth_settings=["oauth2"], header_params={"Accept": "application/json"},
                                response_types_map={}, _return_http_data_only=True, _preload_content=False)
        return [e["recipient"] for e in json.loads(response.data)["events"]]

    assert recipients() == ["scanner@northwind.hu", "human@northwind.hu"]
    assert recipients(("excludeFilteredEvents", "true")) == ["human@northwind.hu"]


def test_a_call_the_tokens_scopes_or_the_portals_tier_do_not_allow_is_403(client, portal):
    portal.access.set("professional", ["crm.objects.contacts.read"])
    assert client.crm.contacts.basic_api.get_page(limit=1).results
    with api_error() as exc:  # writing needs its own scope
        client.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input=(
            BatchInputSimplePublicObjectBatchInput(inputs=[SimplePublicObjectBatchInput(
                id=sorted(portal.contacts)[0], properties={"jobtitle": "x"})])))
    body = json.loads(exc.value.body)
    assert exc.value.status == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredScopes"] == ["crm.objects.contacts.write"]
    with api_error() as exc:  # the Events API needs an Enterprise portal, whatever the scopes
        client.events.events_api.get_page(event_type="e_visited_page")
    assert exc.value.status == 403 and "business-intelligence" in json.loads(exc.value.body)["message"]
    portal.access.set("enterprise", None)
    client.events.events_api.get_page(event_type="e_visited_page")


def test_an_admins_script_creates_updates_and_reads_a_contact_with_its_history(client, portal):
    from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate

    basic = client.crm.contacts.basic_api
    made = basic.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"email": "new@acme.example", "lifecyclestage": "lead"}))
    with api_error() as exc:  # the address is taken
        basic.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": "NEW@acme.example"}))
    assert exc.value.status == 409 and f"Existing ID: {made.id}" in json.loads(exc.value.body)["message"]
    basic.update(made.id, simple_public_object_input=SimplePublicObjectInput(
        properties={"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "OPEN"}))
    basic.update(made.id, simple_public_object_input=SimplePublicObjectInput(properties={"lifecyclestage": "lead"}))
    read = basic.get_by_id(made.id, properties=["lifecyclestage"], properties_with_history=["lifecyclestage"])
    assert read.properties["lifecyclestage"] == "marketingqualifiedlead"  # a backward move is not made
    history = read.properties_with_history["lifecyclestage"]
    assert [h.value for h in history] == ["marketingqualifiedlead", "lead"]  # newest first
    assert history[0].source_type == "INTEGRATION" and history[0].timestamp >= history[1].timestamp
    with api_error() as exc:
        basic.update(made.id, simple_public_object_input=SimplePublicObjectInput(
            properties={"email": "p1@northwind.hu"}))
    assert exc.value.status == 409
    batch = client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=(
        BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=made.id)], properties=["email"],
                                           properties_with_history=["hs_lead_status"])))
    assert [h.value for h in batch.results[0].properties_with_history["hs_lead_status"]] == ["OPEN"]
    page = basic.get_page(limit=100, properties_with_history=["email"])
    assert len(page.results) == 50  # history lowers the page size


def test_one_records_associations_are_read_through_the_v4_api(client, portal):
    from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput

    cid = sorted(portal.contacts, key=int)[0]
    task = client.crm.objects.tasks.basic_api.create(simple_public_object_input_for_create=TaskInput(
        properties={"hs_timestamp": "2026-12-01T09:00:00Z", "hs_task_subject": "Call"},
        associations=[{"to": {"id": cid}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                      "associationTypeId": 204}]}]))
    v4 = client.crm.associations.v4.basic_api
    to_contacts = v4.get_page("tasks", task.id, "contacts")
    assert [str(r.to_object_id) for r in to_contacts.results] == [cid]
    assert to_contacts.results[0].association_types[0].type_id == 204
    assert [str(r.to_object_id) for r in v4.get_page("contacts", cid, "tasks").results] == [task.id]


def test_the_burst_limit_follows_the_portals_tier():
    assert HubSpotSandbox(tier="starter").burst.limit == 100
    assert HubSpotSandbox().burst.limit == HubSpotSandbox(tier="professional").burst.limit == 190
    assert HubSpotSandbox(tier="starter", burst_limit=50).burst.limit == 50
