"""What became of each person's deals, pulled with the rest of a sync: HubSpot deals
through their contact associations, Salesforce opportunities through contact roles and
a converted lead's ConvertedOpportunityId; incremental, a change to a deal read again;
a token without the deals scope skips them and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter
from mqlsync.connector.crms.salesforce.credentials import ENV_SANDBOX_URL, ENV_SESSION
from mqlsync.connector.state import StateStore
from mqlsync.jobs.sandbox import start_sandbox
from mqlsync.jobs.sync import run_sync
from tests.conftest import ROOT

HUBSPOT = load_mapping(ROOT / "mappings" / "hubspot.yaml")
SALESFORCE = load_mapping(ROOT / "mappings" / "salesforce.yaml")


def test_hubspot_deals_become_each_contacts_outcome_and_a_change_is_read_next_run(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    running = start_sandbox("hubspot", contacts=30, now=now, burst_limit=10**6)
    portal = running.emulation
    with running.server:
        crm = HubSpotAdapter(HUBSPOT.mapping, "sandbox-token", running.server.url)
        crm.ensure_fields()
        a, b, c = list(portal.contacts)[:3]
        won = portal.add_deal([a, b], "closedwon", int(now.timestamp() * 1000), 5000)
        portal.add_deal([c], "appointmentscheduled")
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        first = run_sync(HUBSPOT, crm, store, now)
        known = store.outcomes_of(HUBSPOT.mapping.connection)
        assert first.status == "ok" and first.outcomes == 3
        assert [(o.deal_id, o.won, o.closed_at, o.amount) for o in known[a]] == [(won, True, now, 5000.0)]
        assert [o.won for o in known[b]] == [True] and [(o.won, o.closed_at) for o in known[c]] == [(None, None)]
        portal.set_deal_stage(won, "closedlost", int(now.timestamp() * 1000))
        second = run_sync(HUBSPOT, crm, store, now + timedelta(minutes=15))
        assert second.outcomes >= 2  # the changed deal, for both its contacts
        assert [o.won for o in store.outcomes_of(HUBSPOT.mapping.connection)[a]] == [False]
        served = running.server.snapshot()["by_endpoint"]
        # One deal search a run, beside the calls' searches (the route serves meetings, calls and deals).
        searches = served["POST /crm/v3/objects/(meetings|calls|deals)/search"]
        assert searches == 2 * 3


def test_a_token_without_the_deals_scope_skips_the_deals_and_the_sync_goes_on(tmp_path):
    running = start_sandbox("hubspot", contacts=20, burst_limit=10**6)
    with running.server:
        crm = HubSpotAdapter(HUBSPOT.mapping, "sandbox-token", running.server.url)
        crm.ensure_fields()
        every = {"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read",
                 "crm.schemas.contacts.write", "crm.objects.owners.read", "crm.lists.read", "crm.lists.write",
                 "forms", "content", "crm.objects.marketing_events.read"}
        running.emulation.access.set("enterprise", every)
        summary = run_sync(HUBSPOT, crm, StateStore(f"sqlite:///{tmp_path / 's.db'}"), datetime.now(UTC))
    assert summary.writes == 20 and summary.outcomes == 0
    assert summary.skipped_sources == []  # the activity sources were all read
    assert "the token lacks the scope crm.objects.deals.read" in (summary.outcomes_skipped or "")


def test_a_salesforce_opportunity_is_the_outcome_of_its_contact_and_of_the_lead_converted_into_it(tmp_path):
    running = start_sandbox("salesforce", contacts=60, now=datetime.now(UTC))
    org = running.emulation
    with running.server:
        crm = SalesforceAdapter.from_env(SALESFORCE.mapping, {ENV_SANDBOX_URL: running.server.url,
                                                             ENV_SESSION: running.secret})
        crm.ensure_fields()
        store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
        assert run_sync(SALESFORCE, crm, store, datetime.now(UTC)).outcomes == 0
        lead = next(i for i, r in org.records["Lead"].items() if not r["IsConverted"])
        converted = org.convert(lead, "Expansion")
        assert org.get("Lead", lead)["ConvertedOpportunityId"] == converted["opportunityId"]
        org.touch("Opportunity", converted["opportunityId"], {"StageName": "Closed Won", "Amount": 9000,
                                                               "CloseDate": "2026-11-20"})
        summary = run_sync(SALESFORCE, crm, store, datetime.now(UTC))
    assert summary.status == "ok" and summary.outcomes == 1  # the contact role and the lead name one person
    (deal,) = store.outcomes_of(SALESFORCE.mapping.connection)[converted["contactId"]]
    assert (deal.deal_id, deal.won, deal.closed_at, deal.amount) == (
        converted["opportunityId"], True, datetime(2026, 11, 20, tzinfo=UTC), 9000.0)
