"""The Salesforce adapter's logins and error paths, with `responses` answering as
Salesforce does (bodies as the SOAP API, OAuth and REST API guides document them):
the three ways to log in, an expired session, a malformed query, a general error,
the daily limit and a refused batch. No secret appears in any error."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import mqlsync.connector.http as http
from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter
from mqlsync.connector.errors import ConfigError, CredentialsError, CRMUnavailable
from mqlsync.connector.model import FieldWrite, WritePlan
from tests.conftest import ROOT

MAPPING = load_mapping(ROOT / "mappings" / "salesforce.yaml").mapping
INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
PASSWORD, TOKEN, SESSION = "hunter2-pw", "sec-token-XYZ", "00Dxx0000001gPL!AQ4AQsession"
PASSWORD_ENV = {"SALESFORCE_USERNAME": "integration@acme.example", "SALESFORCE_PASSWORD": PASSWORD,
                "SALESFORCE_SECURITY_TOKEN": TOKEN}
SESSION_ENV = {"SALESFORCE_SESSION_ID": SESSION, "SALESFORCE_INSTANCE_URL": INSTANCE}

# SOAP API Developer Guide, login(): the LoginResult in a loginResponse envelope.
LOGIN_OK = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>
<metadataServerUrl>{INSTANCE}/services/Soap/m/59.0/00Dxx0000001gPL</metadataServerUrl>
<passwordExpired>false</passwordExpired><sandbox>false</sandbox>
<serverUrl>{INSTANCE}/services/Soap/u/59.0/00Dxx0000001gPL</serverUrl>
<sessionId>{SESSION}</sessionId><userId>005xx000001Sv6AAAS</userId>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""
# The fault a wrong password or token gets (HTTP 500, exceptionCode INVALID_LOGIN).
LOGIN_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>
<faultcode>INVALID_LOGIN</faultcode>
<faultstring>INVALID_LOGIN: Invalid username, password, security token; or user locked out.</faultstring>
<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>
<sf:exceptionMessage>Invalid username, password, security token; or user locked out.</sf:exceptionMessage>
</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""
# REST API, "Status Codes and Error Responses": a list of {message, errorCode}.
EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
NO_COLUMN = [{"message": "\nSELECT City, Company, LinkedIn_URL__c FROM Lead\n"
                         "                ^\nERROR at Row:1:Column:17\n"
                         "No such column 'LinkedIn_URL__c' on entity 'Lead'. If you are attempting to use a custom "
                         "field, be sure to append the '__c' after the custom field name. Please reference your "
                         "WSDL or the describe call for the appropriate names.", "errorCode": "INVALID_FIELD"}]
LIMIT = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
UNKNOWN = [{"message": "An unexpected error occurred. Please include this ErrorId if you contact support: "
                       "1867486466-88717 (-1177657328)", "errorCode": "UNKNOWN_EXCEPTION"}]
EMPTY = {"totalSize": 0, "done": True, "records": []}


def no_secret(text: str) -> None:
    for secret in (PASSWORD, TOKEN, SESSION):
        assert secret not in text


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.0)


@responses.activate
def test_username_password_and_token_log_in_by_soap_and_use_the_session():
    login = responses.post("https://test.salesforce.com/services/Soap/u/59.0", body=LOGIN_OK, status=200)
    query = responses.get(f"{API}/query/", json=EMPTY)
    crm = SalesforceAdapter.from_env(MAPPING, PASSWORD_ENV | {"SALESFORCE_DOMAIN": "test"})
    pages = list(crm.pull_contacts(None))
    # Leads, then Contacts: a full sync counts the rows first (Bulk API above a threshold);
    # before the Contacts, their contact roles and the won opportunities (their stage)
    assert login.call_count == 1 and query.call_count == 6
    body = login.calls[0].request.body
    assert f"<n1:password>{PASSWORD}{TOKEN}</n1:password>" in (body.decode() if isinstance(body, bytes) else body)
    assert query.calls[0].request.headers["Authorization"] == f"Bearer {SESSION}"
    assert all(p.contacts == [] for p in pages) and crm.requests == 7


@responses.activate
def test_the_password_and_token_may_come_from_secret_files(tmp_path):
    login = responses.post("https://login.salesforce.com/services/Soap/u/59.0", body=LOGIN_OK, status=200)
    responses.get(f"{API}/query/", json=EMPTY)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "tok").write_text(TOKEN)
    env = {"SALESFORCE_USERNAME": PASSWORD_ENV["SALESFORCE_USERNAME"], "SALESFORCE_PASSWORD_FILE": str(tmp_path / "pw"),
           "SALESFORCE_SECURITY_TOKEN_FILE": str(tmp_path / "tok")}
    list(SalesforceAdapter.from_env(MAPPING, env).pull_contacts(None))
    body = login.calls[0].request.body
    assert f"<n1:password>{PASSWORD}{TOKEN}</n1:password>" in (body.decode() if isinstance(body, bytes) else body)


@responses.activate
def test_a_refused_login_names_the_reason_and_no_secret():
    responses.post("https://login.salesforce.com/services/Soap/u/59.0", body=LOGIN_FAULT, status=500)
    with pytest.raises(CredentialsError) as caught:
        SalesforceAdapter.from_env(MAPPING, PASSWORD_ENV)
    assert "Invalid username, password, security token" in str(caught.value)
    no_secret(str(caught.value))


@responses.activate
def test_oauth_jwt_bearer_signs_an_assertion_with_the_private_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "server.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    token = responses.post("https://login.salesforce.com/services/oauth2/token", json={
        "access_token": SESSION, "scope": "api", "instance_url": INSTANCE, "id": "https://login.salesforce.com/id/x/y",
        "token_type": "Bearer"})
    responses.get(f"{API}/query/", json=EMPTY)
    crm = SalesforceAdapter.from_env(MAPPING, {"SALESFORCE_USERNAME": "integration@acme.example",
                                               "SALESFORCE_CONSUMER_KEY": "3MVG9consumer",
                                               "SALESFORCE_PRIVATE_KEY_FILE": str(path)})
    list(crm.pull_contacts(None))
    form = parse_qs(token.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], key.public_key(), algorithms=["RS256"], audience="https://login.salesforce.com")
    assert claims["iss"] == "3MVG9consumer" and claims["sub"] == "integration@acme.example"


@responses.activate
def test_an_expired_session_id_stops_the_run_with_what_to_do():
    responses.get(f"{API}/query/", json=EXPIRED, status=401)
    crm = SalesforceAdapter.from_env(MAPPING, SESSION_ENV)
    with pytest.raises(CredentialsError, match="INVALID_SESSION_ID") as caught:
        list(crm.pull_contacts(None))
    no_secret(str(caught.value))


@responses.activate
def test_an_expired_session_is_renewed_once_when_the_adapter_can_log_in_again():
    login = responses.post("https://login.salesforce.com/services/Soap/u/59.0", body=LOGIN_OK)
    responses.get(f"{API}/query/", json=EXPIRED, status=401)
    responses.get(f"{API}/query/", json=EMPTY)
    crm = SalesforceAdapter.from_env(MAPPING, PASSWORD_ENV)
    assert [p.contacts for p in crm.pull_contacts(None)] == [[], []]
    assert login.call_count == 2  # the first login, and one more for the expired session


@responses.activate
def test_a_field_the_org_lacks_is_a_mapping_error_not_a_crash():
    responses.get(f"{API}/query/", json=NO_COLUMN, status=400)
    crm = SalesforceAdapter.from_env(MAPPING, SESSION_ENV)
    with pytest.raises(ConfigError) as caught:
        list(crm.pull_contacts(None))
    assert "No such column 'LinkedIn_URL__c' on entity 'Lead'" in str(caught.value)


@responses.activate
def test_a_general_error_is_retried_and_then_stops_the_run_cleanly():
    flaky = [responses.get(f"{API}/query/", json=UNKNOWN, status=500) for _ in range(2)]
    responses.get(f"{API}/query/", json=EMPTY)
    crm = SalesforceAdapter.from_env(MAPPING, SESSION_ENV)
    assert len(list(crm.pull_contacts(None))) == 2
    assert [f.call_count for f in flaky] == [1, 1]  # each 500 answered once, then retried
    responses.reset()
    responses.get(f"{API}/query/", json=UNKNOWN, status=500)
    crm.budget_s = 0.5
    with pytest.raises(CRMUnavailable, match="kept failing"):
        list(crm.pull_contacts(None))


@responses.activate
def test_the_daily_request_limit_stops_the_run_and_says_why():
    responses.get(f"{API}/query/", json=LIMIT, status=403)
    crm = SalesforceAdapter.from_env(MAPPING, SESSION_ENV)
    with pytest.raises(CRMUnavailable, match="API request limit"):
        list(crm.pull_contacts(None))


@responses.activate
def test_a_batch_refused_whole_fails_each_record_with_the_reason():
    refused = [{"message": "Json Deserialization failed on token 'records'", "errorCode": "JSON_PARSER_ERROR"}]
    responses.patch(f"{API}/composite/sobjects", json=refused, status=400)
    crm = SalesforceAdapter.from_env(MAPPING, SESSION_ENV)
    result = crm.apply(WritePlan(updates=[FieldWrite(contact_id="00Qxx0000001", values={"score": "50"}),
                                          FieldWrite(contact_id="003xx0000001", values={"score": "20"})]))
    assert result.updated == [] and [f.reason for f in result.failed] == ["JSON_PARSER_ERROR: Json Deserialization "
                                                                          "failed on token 'records'"] * 2
    sent = json.loads(responses.calls[0].request.body)
    assert [r["attributes"]["type"] for r in sent["records"]] == ["Lead", "Contact"]
    assert sent["allOrNone"] is False and sent["records"][0]["MQL_Score__c"] == 50.0


@responses.activate
def test_a_password_login_still_works_and_warns_that_salesforce_is_retiring_it(caplog):
    responses.post("https://login.salesforce.com/services/Soap/u/59.0", body=LOGIN_OK)
    responses.get(f"{API}/query/", json=EMPTY)
    with caplog.at_level("WARNING", logger="mqlsync.salesforce"):
        crm = SalesforceAdapter.from_env(MAPPING, PASSWORD_ENV)
    assert [p.contacts for p in crm.pull_contacts(None)] == [[], []]  # Leads, Contacts
    (warning,) = [r.getMessage() for r in caplog.records if "SOAP API login()" in r.getMessage()]
    assert "retiring" in warning and "005132110" in warning and "JWT bearer" in warning
    no_secret(warning)
