"""The sandbox Salesforce behaves as the REST API documents, seen through the real
simple-salesforce client: query paging, queryAll, SOQL errors, sObject Collections,
upsert, describe, limits and the Sforce-Limit-Info header, the Tooling API, Bulk API
2.0 query jobs, and the session and request-limit errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from mqlsync.connector.crms.salesforce.client import _Transport
from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox
from mqlsync.connector.sandbox.server import SandboxServer

SESSION = "sandbox-session"


@pytest.fixture
def org():
    org = SalesforceSandbox(session_id=SESSION)
    org.define("Task", "Key__c", "string", {"externalId": True})
    owner = org.insert("User", {"Name": "Rep", "IsActive": True})
    for i in range(4500):
        org.insert("Lead", {"LastName": f"L{i:04d}", "Company": "Acme", "OwnerId": owner, "NumberOfEmployees": i,
                            "Status": "Open - Not Contacted"})
    return org


@pytest.fixture
def sf(org):
    with SandboxServer(org) as server:
        session = requests.Session()
        counted = []
        session.mount("https://", _Transport(lambda: counted.append(1), loopback_http=True))
        client = Salesforce(session_id=SESSION, instance_url=server.url.replace("http://", "https://"),
                            session=session, version="59.0")
        client.counted = counted
        yield client


def test_query_pages_of_2000_follow_next_records_url(sf):
    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY LastName")
    assert first["totalSize"] == 4500 and not first["done"] and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    assert first["records"][0]["attributes"]["type"] == "Lead"
    names = [r["LastName"] for r in sf.query_all_iter("SELECT Id, LastName FROM Lead ORDER BY LastName")]
    assert len(names) == 4500 and names == sorted(names) and len(set(names)) == 4500
    assert len(sf.counted) == 1 + 3  # the first batch above, then three for the whole walk


def test_query_options_header_sets_a_smaller_batch(sf):
    result = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(result["records"]) == 500 and not result["done"]


def test_where_order_limit_count_and_parent_fields(sf, org):
    rows = sf.query("SELECT Id, NumberOfEmployees, Owner.Name FROM Lead WHERE NumberOfEmployees >= 10 "
                    "AND (LastName IN ('L0010', 'L0011') OR NOT Company = 'acme') ORDER BY NumberOfEmployees DESC "
                    "LIMIT 5")["records"]
    assert [r["NumberOfEmployees"] for r in rows] == [11, 10]
    assert rows[0]["Owner"]["Name"] == "Rep" and rows[0]["Owner"]["attributes"]["type"] == "User"
    assert sf.query("SELECT COUNT() FROM Lead WHERE Company = 'ACME'")["totalSize"] == 4500  # = ignores case
    cutoff = datetime.now(UTC) + timedelta(hours=1)
    later = sf.query(f"SELECT Id FROM Lead WHERE SystemModstamp >= {cutoff.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    assert later["totalSize"] == 0


def test_soql_errors_come_back_as_salesforce_sends_them(sf):
    cases = {"SELECT Id FORM Lead": "MALFORMED_QUERY",
             "SELECT Nope__c FROM Lead": "INVALID_FIELD",
             "SELECT Id FROM Nope__c": "INVALID_TYPE",
             "SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01T00:00:00Z'": "INVALID_FIELD"}
    for soql, code in cases.items():
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(soql)
        assert caught.value.status == 400
        assert caught.value.content[0]["errorCode"] == code, soql
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01T00:00:00Z'")
    assert "should not be enclosed in quotes" in caught.value.content[0]["message"]


def test_query_all_includes_deleted_rows_and_query_does_not(sf, org):
    lead = next(iter(org.records["Lead"]))
    org.delete("Lead", lead)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 4499
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in deleted["records"]] == [(lead, True)]


def test_collections_update_reports_each_record_in_request_order(sf, org):
    a, b, c = list(org.records["Lead"])[:3]
    org.locked = {c}
    saved = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "id": a, "Status": "Working - Contacted"},
        {"attributes": {"type": "Lead"}, "id": b, "Status": "Nope"},
        {"attributes": {"type": "Lead"}, "id": c, "Title": "CMO"}]})
    assert [r["success"] for r in saved] == [True, False, False]
    assert saved[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert saved[2]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert org.records["Lead"][a]["Status"] == "Working - Contacted"


def test_collections_all_or_none_rolls_back_and_refuses_over_200(sf, org):
    a, b = list(org.records["Lead"])[:2]
    saved = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": a, "Title": "CMO"},
        {"attributes": {"type": "Lead"}, "id": b, "NumberOfEmployees": "many"}]})
    assert [r["success"] for r in saved] == [False, False]
    assert saved[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.records["Lead"][a]["Title"] is None
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
            {"attributes": {"type": "Lead"}, "id": a, "Title": "x"}] * 201})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_a_collection_may_hold_at_most_ten_runs_of_one_object_type(sf, org):
    # "A single request can process up to 10 chunks" (sObject Collections): Leads and
    # Contacts interleaved make a chunk of every run.
    leads = list(org.records["Lead"])[:6]
    contacts = [org.insert("Contact", {"LastName": f"C{i}"}) for i in range(6)]
    mixed = [r for pair in zip(leads, contacts, strict=True) for r in pair]  # L C L C ...: 12 runs

    def body(ids):
        return {"allOrNone": False, "records": [{"attributes": {"type": "Lead" if r.startswith("00Q") else "Contact"},
                                                 "id": r, "Title": "CMO"} for r in ids]}

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json=body(mixed))
    assert caught.value.content[0]["message"].startswith("Cannot have more than 10 chunks in a single operation")
    assert all(org.records["Lead"][r]["Title"] is None for r in leads)  # nothing was saved
    saved = sf.restful("composite/sobjects", method="PATCH", json=body(mixed[:10]))  # 10 runs
    assert all(r["success"] for r in saved)


def test_a_uri_longer_than_16384_bytes_is_refused_with_414(sf, org):
    # "If the URI itself exceeds this limit, the request returns a 414 URI Too Long
    # error" (Salesforce help 000386264).
    ids = ", ".join(f"'{r}'" for r in list(org.records["Lead"])[:900])
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query(f"SELECT Id FROM Lead WHERE Id IN ({ids})")
    assert caught.value.status == 414
    assert sf.query(f"SELECT Id FROM Lead WHERE Id IN ({ids[:5000].rsplit(',', 1)[0]})")["totalSize"] > 0


def test_updating_a_converted_lead_is_refused(sf, org):
    lead = next(iter(org.records["Lead"]))
    contact = org.convert_lead(lead)
    saved = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": lead, "Title": "x"},
        {"attributes": {"type": "Contact"}, "id": contact, "Title": "x"}]})
    assert saved[0]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD" and saved[1]["success"]


def test_upsert_on_an_external_id_creates_once_then_updates(sf, org):
    lead = next(iter(org.records["Lead"]))
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "Key__c": "k1", "WhoId": lead,
                                             "Subject": "Call"}]}
    first = sf.restful("composite/sobjects/Task/Key__c", method="PATCH", json=body)
    second = sf.restful("composite/sobjects/Task/Key__c", method="PATCH", json=body)
    assert first[0]["created"] is True and second[0]["created"] is False and first[0]["id"] == second[0]["id"]
    assert len(org.records["Task"]) == 1
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects/Task/Subject", method="PATCH", json=body)  # not an external id


def test_describe_limits_and_the_usage_header(sf):
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["Status"]["type"] == "picklist" and fields["Status"]["restrictedPicklist"]
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] > limits["DailyApiRequests"]["Remaining"] > 0
    usage = sf.api_usage["api-usage"]  # parsed by simple-salesforce from Sforce-Limit-Info
    assert usage.used == 2 and usage.total == limits["DailyApiRequests"]["Max"]


def _grant(sf, *fields: str, edit: bool = True) -> str:
    """What an admin's script does to give the API user a field: a permission set with
    FieldPermissions, assigned to the user the token belongs to."""
    permission_set = sf.PermissionSet.create({"Name": "Scripted", "Label": "Scripted"})["id"]
    for field in fields:
        sf.FieldPermissions.create({"ParentId": permission_set, "SobjectType": field.split(".")[0], "Field": field,
                                    "PermissionsRead": True, "PermissionsEdit": edit})
    user = sf.oauth2("userinfo")["user_id"]
    sf.PermissionSetAssignment.create({"PermissionSetId": permission_set, "AssigneeId": user})
    return permission_set


def test_a_new_custom_field_is_hidden_until_a_permission_set_grants_it(sf):
    created = sf.toolingexecute("sobjects/CustomField/", method="POST", data={
        "FullName": "Lead.MQL_Score__c", "Metadata": {"label": "MQL Score", "type": "Number", "precision": 18,
                                                      "scale": 0}})
    assert created["success"] and created["id"].startswith("00N")
    # Nobody has field-level access to a field just made: not in describe, not in SOQL, not writable.
    assert "MQL_Score__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, MQL_Score__c FROM Lead LIMIT 1")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    lead = sf.query("SELECT Id FROM Lead LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead, {"MQL_Score__c": 40})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    # Made again: it is there all the same.
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.toolingexecute("sobjects/CustomField/", method="POST", data={
            "FullName": "Lead.MQL_Score__c", "Metadata": {"label": "MQL Score", "type": "Number"}})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    _grant(sf, "Lead.MQL_Score__c", edit=False)
    assert sf.query("SELECT Id, MQL_Score__c FROM Lead LIMIT 1")["records"][0]["MQL_Score__c"] is None
    with pytest.raises(SalesforceMalformedRequest) as caught:  # read, not edit
        sf.Lead.update(lead, {"MQL_Score__c": 40})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    row = sf.query("SELECT Id, PermissionsEdit FROM FieldPermissions WHERE Field = 'Lead.MQL_Score__c'")
    sf.FieldPermissions.update(row["records"][0]["Id"], {"PermissionsEdit": True})
    sf.Lead.update(lead, {"MQL_Score__c": 40})
    assert sf.Lead.get(lead)["MQL_Score__c"] == 40


def test_field_permissions_are_checked_as_salesforce_does(sf):
    permission_set = sf.PermissionSet.create({"Name": "Checks", "Label": "Checks"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:  # edit needs read
        sf.FieldPermissions.create({"ParentId": permission_set, "SobjectType": "Lead", "Field": "Lead.Title",
                                    "PermissionsRead": False, "PermissionsEdit": True})
    assert caught.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    with pytest.raises(SalesforceMalformedRequest) as caught:  # no such field
        sf.FieldPermissions.create({"ParentId": permission_set, "SobjectType": "Lead", "Field": "Lead.Nope__c",
                                    "PermissionsRead": True})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.PermissionSet.create({"Name": "Checks", "Label": "Again"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_task_custom_fields_are_made_on_activity(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.toolingexecute("sobjects/CustomField/", method="POST", data={
            "FullName": "Task.Key2__c", "Metadata": {"label": "Key", "type": "Text", "length": 255}})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    sf.toolingexecute("sobjects/CustomField/", method="POST", data={
        "FullName": "Activity.Key2__c", "Metadata": {"label": "Key", "type": "Text", "length": 255,
                                                     "externalId": True}})
    _grant(sf, "Task.Key2__c", "Event.Key2__c")
    assert "Key2__c" in {f["name"] for f in sf.Task.describe()["fields"]}
    assert "Key2__c" in {f["name"] for f in sf.Event.describe()["fields"]}


def test_bulk_2_query_job_pages_csv_by_locator(sf):
    pages = list(sf.bulk2.Lead.query("SELECT Id, LastName, NumberOfEmployees FROM Lead", max_records=2000,
                                     wait=0.01))
    assert len(pages) == 3
    lines = [line for page in pages for line in page.strip().split("\n")[1:]]
    assert len(lines) == 4500 and lines[0].startswith('"00Q') and lines[0].endswith('"L0000","0"')
    assert pages[0].split("\n")[0] == '"Id","LastName","NumberOfEmployees"'
    with pytest.raises(SalesforceMalformedRequest) as caught:  # unsupported in Bulk API 2.0 queries
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead ORDER BY LastName", wait=0.01))
    assert caught.value.content[0]["errorCode"] == "INVALIDJOB"


def test_an_invalid_session_and_the_daily_limit(org):
    with SandboxServer(org) as server:
        session = requests.Session()
        session.mount("https://", _Transport(lambda: None, loopback_http=True))
        base = server.url.replace("http://", "https://")
        wrong = Salesforce(session_id="expired", instance_url=base, session=session)
        with pytest.raises(SalesforceExpiredSession) as caught:
            wrong.query("SELECT Id FROM Lead LIMIT 1")
        assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
        org.daily_limit, org.daily_used = 10, 10
        right = Salesforce(session_id=SESSION, instance_url=base, session=session)
        with pytest.raises(SalesforceRefusedRequest) as caught:
            right.query("SELECT Id FROM Lead LIMIT 1")
        assert caught.value.status == 403 and caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_single_record_create_get_and_update(sf, org):
    owner = next(iter(org.records["User"]))
    created = sf.Lead.create({"LastName": "Nagy", "Company": "Northwind", "OwnerId": owner})
    assert created["success"] and created["id"].startswith("00Q")
    assert sf.Lead.update(created["id"], {"Title": "CMO"}) == 204
    got = sf.Lead.get(created["id"])
    assert (got["Title"], got["Status"]) == ("CMO", "Open - Not Contacted")  # the picklist's default
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "NoCompany"})
    assert caught.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(created["id"], {"OwnerId": "005000000000000AAA"})
    assert caught.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_an_admins_script_counts_and_groups_with_soql_aggregates(sf, org):
    for i in range(3):
        org.insert("Lead", {"LastName": f"W{i}", "Company": "Acme", "Status": "Working - Contacted"})
    total = sf.query("SELECT COUNT(Id) FROM Lead")
    assert total["records"][0]["expr0"] == 4503 and total["records"][0]["attributes"]["type"] == "AggregateResult"
    grouped = sf.query("SELECT Status, COUNT(Id) n FROM Lead GROUP BY Status ORDER BY COUNT(Id) DESC")
    assert [(r["Status"], r["n"]) for r in grouped["records"]] == [("Open - Not Contacted", 4500),
                                                                  ("Working - Contacted", 3)]
    few = sf.query("SELECT Status, COUNT(Id) FROM Lead GROUP BY Status HAVING COUNT(Id) < 10")
    assert [(r["Status"], r["expr0"]) for r in few["records"]] == [("Working - Contacted", 3)]
    assert sf.query("SELECT MAX(NumberOfEmployees) most, MIN(NumberOfEmployees) FROM Lead")["records"][0] \
        | {"attributes": None} == {"attributes": None, "most": 4499, "expr0": 0}
    with pytest.raises(SalesforceMalformedRequest) as caught:  # neither grouped nor aggregated
        sf.query("SELECT Status, LastName, COUNT(Id) FROM Lead GROUP BY Status")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_date_literals_and_the_who_relationship_of_tasks(sf, org):
    lead = org.insert("Lead", {"FirstName": "Ada", "LastName": "Byron", "Company": "Acme",
                               "Status": "Open - Not Contacted"})
    org.insert("Task", {"WhoId": lead, "Subject": "Call"}, at=datetime.now(UTC) - timedelta(days=3))
    recent = org.insert("Task", {"WhoId": lead, "Subject": "Follow up"})
    today = sf.query("SELECT Id, Who.Name, Who.Type FROM Task WHERE CreatedDate = TODAY")["records"]
    assert [r["Id"] for r in today] == [recent]
    assert today[0]["Who"]["Name"] == "Ada Byron" and today[0]["Who"]["Type"] == "Lead"
    assert today[0]["Who"]["attributes"]["type"] == "Lead"
    assert len(sf.query("SELECT Id FROM Task WHERE CreatedDate = LAST_N_DAYS:7")["records"]) == 2
    assert len(sf.query("SELECT Id FROM Task WHERE CreatedDate < TODAY")["records"]) == 1
    assert sf.query("SELECT COUNT(Id) FROM Task WHERE Who.Type = 'Lead'")["records"][0]["expr0"] == 2


def test_an_admins_script_uses_the_standard_rest_calls(sf, org):
    versions = requests.get(sf.base_url.split("/services/")[0].replace("https://", "http://") + "/services/data/",
                            timeout=5).json()
    assert {"version": "59.0", "url": "/services/data/v59.0", "label": "Winter '24"} in versions
    assert "Lead" in {o["name"] for o in sf.describe()["sobjects"]}
    made = sf.Task.upsert("Key__c/k-1", {"Subject": "Call back"})
    assert made == 201
    assert sf.Task.get_by_custom_id("Key__c", "k-1")["Subject"] == "Call back"
    assert sf.Task.upsert("Key__c/k-1", {"Subject": "Call back soon"}) == 200
    assert sf.Task.get_by_custom_id("Key__c", "k-1")["Subject"] == "Call back soon"
    task = sf.Task.get_by_custom_id("Key__c", "k-1")["Id"]
    assert sf.Task.delete(task) == 204
    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 0
    assert len(sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)["records"]) == 1


def test_a_lead_is_converted_through_the_soap_api(sf, org):
    lead = next(iter(org.records["Lead"]))
    soap = (sf.base_url.split("/services/")[0].replace("https://", "http://") + "/services/Soap/u/59.0")
    envelope = ('<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header>'
                f"<urn:SessionHeader><urn:sessionId>{{session}}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
                f"<soapenv:Body><urn:convertLead><urn:leadConverts><urn:convertedStatus>Closed - Converted"
                f"</urn:convertedStatus><urn:leadId>{lead}</urn:leadId><urn:opportunityName>Acme deal"
                "</urn:opportunityName></urn:leadConverts></urn:convertLead></soapenv:Body></soapenv:Envelope>")
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"}
    refused = requests.post(soap, data=envelope.format(session="wrong"), headers=headers, timeout=5)
    assert refused.status_code == 500 and "INVALID_SESSION_ID" in refused.text
    answer = requests.post(soap, data=envelope.format(session=SESSION), headers=headers, timeout=5)
    assert answer.status_code == 200 and "<success>true</success>" in answer.text
    contact = answer.text.split("<contactId>")[1].split("<")[0]
    opportunity = answer.text.split("<opportunityId>")[1].split("<")[0]
    assert sf.Lead.get(lead)["IsConverted"] is True and sf.Lead.get(lead)["ConvertedContactId"] == contact
    roles = sf.query(f"SELECT ContactId, Opportunity.Name FROM OpportunityContactRole WHERE OpportunityId = "
                     f"'{opportunity}'")["records"]
    assert [(r["ContactId"], r["Opportunity"]["Name"]) for r in roles] == [(contact, "Acme deal")]
    again = requests.post(soap, data=envelope.format(session=SESSION), headers=headers, timeout=5)
    assert "<success>false</success>" in again.text and "CANNOT_UPDATE_CONVERTED_LEAD" in again.text
