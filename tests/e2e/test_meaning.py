"""One meaning for every field mqlsync writes: the MQL tag, the stage field and the
explanation sales reads never contradict one another, and a placeholder the CRM forces
("[not provided]") is missing, so one person gets one verdict in both CRMs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter
from mqlsync.connector.crms.salesforce.credentials import ENV_SANDBOX_URL, ENV_SESSION
from mqlsync.connector.state import StateStore
from mqlsync.jobs.sandbox import start_sandbox
from mqlsync.jobs.sync import run_sync
from tests.conftest import ROOT

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
HUBSPOT = load_mapping(ROOT / "mappings" / "hubspot.yaml")
SALESFORCE = load_mapping(ROOT / "mappings" / "salesforce.yaml")
PEOPLE = 400


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory):
    running = start_sandbox("hubspot", contacts=PEOPLE, now=NOW, burst_limit=10**6)
    with running.server:
        crm = HubSpotAdapter(HUBSPOT.mapping, "sandbox-token", running.server.url)
        crm.ensure_fields()
        summary = run_sync(HUBSPOT, crm, StateStore(f"sqlite:///{tmp_path_factory.mktemp('hs') / 's.db'}"), NOW)
        assert summary.status == "ok"
        yield {c["properties"]["email"]: c["properties"] for c in running.emulation.contacts.values()}


@pytest.fixture(scope="module")
def salesforce(tmp_path_factory):
    running = start_sandbox("salesforce", contacts=PEOPLE, now=NOW)
    with running.server:
        crm = SalesforceAdapter.from_env(SALESFORCE.mapping, {ENV_SANDBOX_URL: running.server.url,
                                                             ENV_SESSION: running.secret})
        crm.ensure_fields(grant=True)
        summary = run_sync(SALESFORCE, crm, StateStore(f"sqlite:///{tmp_path_factory.mktemp('sf') / 's.db'}"), NOW)
        assert summary.status == "ok"
        org = running.emulation
        yield {r["Email"]: r for obj in ("Lead", "Contact") for r in org.records[obj].values()}


TAGGED = {"mql", "sal", "sql", "opportunity", "customer"}


def verdict_agrees(tag: bool, stage: str, text: str) -> None:
    """The tag is on exactly from MQL on; the text's last sentence names that stage,
    and says "Not an MQL" only where the tag is off."""
    assert tag == (stage in TAGGED), (tag, stage, text)
    if tag:
        assert "Not an MQL" not in text, text
    if stage in ("lead", "disqualified"):
        assert "Not an MQL: " in text, text
    if stage in ("sal", "sql"):
        assert f"{stage.upper()}: past the MQL stage, with sales." in text, text
    if stage == "mql":
        assert re.search(r"\. MQL[.;]", text), text
    if stage == "recycled":
        assert "Recycled by sales" in text, text


def test_the_hubspot_tag_stage_and_explanation_agree_on_every_contact(hubspot):
    stages = set()
    for props in hubspot.values():
        verdict_agrees(props["mqlsync_mql"] == "true", props["mqlsync_stage"], props["mqlsync_explanation"])
        stages.add(props["mqlsync_stage"])
    # The sample holds people sales already took on: the case the tag once contradicted.
    assert {"mql", "sql", "lead"} <= stages


def test_the_salesforce_tag_stage_and_explanation_agree_on_every_person(salesforce):
    for record in salesforce.values():
        verdict_agrees(record["Is_MQL__c"] is True, record["MQL_Stage__c"], record["MQL_Explanation__c"])


def missing(text: str) -> str:
    found = re.search(r"missing ([a-z, ]+)", text)
    return found.group(1) if found else ""


def test_a_placeholder_last_name_is_missing_so_one_person_gets_one_verdict_in_both_crms(hubspot, salesforce):
    placeholders = [r for r in salesforce.values() if r["LastName"] == "[not provided]"]
    assert placeholders, "the Salesforce sample fills a missing last name with the placeholder"
    for record in placeholders:
        assert "last name" in missing(record["MQL_Explanation__c"]), record["MQL_Explanation__c"]
    # Whatever else differs between the CRMs, the gate's missing fields are the same.
    both = sorted(set(hubspot) & set(salesforce))
    assert len(both) == PEOPLE
    assert [missing(hubspot[e]["mqlsync_explanation"]) for e in both] == \
        [missing(salesforce[e]["MQL_Explanation__c"]) for e in both]


def test_a_crm_value_the_mapping_does_not_translate_is_reported_per_record_and_the_record_is_scored(tmp_path):
    running = start_sandbox("hubspot", contacts=30, now=NOW, burst_limit=10**6)
    with running.server:
        cid, contact = next(iter(running.emulation.contacts.items()))
        contact["properties"]["hs_analytics_source"] = "AI_REFERRALS"  # newer than the shipped mapping
        crm = HubSpotAdapter(HUBSPOT.mapping, "sandbox-token", running.server.url)
        crm.ensure_fields()
        summary = run_sync(HUBSPOT, crm, StateStore(f"sqlite:///{tmp_path / 's.db'}"), NOW)
    assert summary.odd_values == [f"{cid}: channel 'AI_REFERRALS' is not one of inbound_form, event, interaction, "
                                  "referral, outbound, other; no rule can match it (map the CRM's value under "
                                  "`values: {channel: ...}`)"]
    assert summary.status == "ok" and summary.scored == 30
    assert contact["properties"]["mqlsync_score"] not in (None, "")
