"""Start a seeded sandbox CRM: the work behind `mqlsync sandbox` and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mqlsync.connector import sample
from mqlsync.connector.config import load_mapping
from mqlsync.connector.config.load import MAPPINGS_DIR
from mqlsync.connector.sandbox.hubspot import BURST_LIMIT, HubSpotSandbox
from mqlsync.connector.sandbox.salesforce import SalesforceSandbox
from mqlsync.connector.sandbox.seed import seed_hubspot, seed_salesforce
from mqlsync.connector.sandbox.server import Emulation, Faults, SandboxServer

CRMS = ("hubspot", "salesforce")


@dataclass
class RunningSandbox:
    server: SandboxServer
    emulation: Any  # HubSpotSandbox | SalesforceSandbox
    #: sample contact id -> CRM id
    ids: dict[str, str]
    crm: str = "hubspot"
    secret: str = "sandbox-token"

    def env(self) -> dict[str, str]:
        """The environment that points mqlsync's adapter at this sandbox."""
        if self.crm == "salesforce":
            from mqlsync.connector.adapters.salesforce import ENV_SANDBOX_URL, ENV_SESSION

            return {ENV_SANDBOX_URL: self.server.url, ENV_SESSION: self.secret}
        from mqlsync.connector.adapters.hubspot import ENV_BASE_URL, ENV_TOKEN

        return {ENV_BASE_URL: self.server.url, ENV_TOKEN: self.secret}

    @property
    def tasks(self) -> int:
        """Follow-up tasks mqlsync created in the CRM (Salesforce: those with a task key;
        the reps' logged calls are Tasks too)."""
        if self.crm == "salesforce":
            from mqlsync.connector.adapters.salesforce_write import TASK_KEY_FIELD

            return sum(bool(r.get(TASK_KEY_FIELD)) and not r["IsDeleted"]
                       for r in self.emulation.records["Task"].values())
        return len(self.emulation.tasks)


def mapping_file(crm: str) -> Path:
    return MAPPINGS_DIR / f"{crm}.yaml"


def start_sandbox(crm: str = "hubspot", seed: int = 7, contacts: int = 2000, port: int = 0,
                  secret: str = "sandbox-token", faults: Faults | None = None, mapping_path=None,
                  now: datetime | None = None, burst_limit: int = BURST_LIMIT) -> RunningSandbox:
    """A sandbox of `crm` seeded with the sample data through that CRM's mapping (not
    started: call .server.start() or use .server as a context manager). The sample's
    activity is dated relative to `now` (the generator's fixed anchor by default);
    `secret` is the token (HubSpot) or session id (Salesforce) it accepts."""
    mapping = load_mapping(mapping_path or mapping_file(crm)).mapping
    data = sample.generate(seed=seed, contacts=contacts, now=now or sample.ANCHOR)
    emulation: Emulation
    if crm == "salesforce":
        emulation = SalesforceSandbox(session_id=secret)
        ids = seed_salesforce(emulation, mapping, data.contacts, data.activities)
    else:
        emulation = HubSpotSandbox(token=secret, burst_limit=burst_limit)
        ids = seed_hubspot(emulation, mapping, data.contacts, data.activities)
    return RunningSandbox(SandboxServer(emulation, port=port, faults=faults), emulation, ids, crm, secret)


def hubspot_sandbox(seed: int = 7, contacts: int = 2000, port: int = 0, token: str = "sandbox-token",
                    faults: Faults | None = None, mapping_path=None, now: datetime | None = None,
                    burst_limit: int = BURST_LIMIT) -> RunningSandbox:
    """A seeded HubSpot sandbox (see start_sandbox)."""
    return start_sandbox("hubspot", seed, contacts, port, token, faults, mapping_path, now, burst_limit)
