"""A CRM that stops answering: each request times out instead of hanging the run, is
retried, and the run stops cleanly within its budget; a slow answer inside the timeout
is simply waited for."""

from __future__ import annotations

import pytest

import mqlsync.connector.crms.hubspot.client as hubspot_module
import mqlsync.connector.crms.salesforce.client as salesforce_module
import mqlsync.connector.http as http
from mqlsync.connector.config import load_mapping
from mqlsync.connector.errors import CRMUnavailable
from mqlsync.connector.sandbox.server import Faults
from mqlsync.jobs.connect import adapter_for
from mqlsync.jobs.sandbox import mapping_file, start_sandbox


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_crm_that_stops_answering_times_out_is_retried_and_stops_the_run_cleanly(crm, monkeypatch):
    monkeypatch.setattr(http, "backoff", lambda attempt, **kw: 0.01)
    module = hubspot_module if crm == "hubspot" else salesforce_module
    monkeypatch.setattr(module, "REQUEST_TIMEOUT", (1.0, 0.3))
    loaded = load_mapping(mapping_file(crm))
    running = start_sandbox(crm, contacts=20, burst_limit=10**6, faults=Faults())
    with running.server:
        adapter = adapter_for(loaded, running.env())
        adapter.ensure_fields()
        running.server.faults.delay_s = 0.6
        adapter.budget_s = 2.0
        with pytest.raises(CRMUnavailable, match="kept failing") as caught:
            list(adapter.pull_contacts(None))
        assert adapter.requests >= 3  # timed out, and tried again
        assert "no answer in time" in str(caught.value)
        running.server.faults.delay_s = 0.1  # slow, but inside the timeout
        assert sum(len(p.contacts) for p in adapter.pull_contacts(None)) == 20
