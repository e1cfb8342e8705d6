"""Start a seeded sandbox CRM: the work behind `mqlsync sandbox` and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connector import sample
from connector.config import load_mapping
from connector.config.load import MAPPINGS_DIR
from connector.sandbox.hubspot import BURST_LIMIT, HubSpotSandbox
from connector.sandbox.seed import seed_hubspot
from connector.sandbox.server import Faults, SandboxServer


@dataclass
class RunningSandbox:
    server: SandboxServer
    emulation: HubSpotSandbox
    #: sample contact id -> CRM id
    ids: dict[str, str]


def hubspot_sandbox(seed: int = 7, contacts: int = 2000, port: int = 0, token: str = "sandbox-token",
                    faults: Faults | None = None, mapping_path=None, now: datetime | None = None,
                    burst_limit: int = BURST_LIMIT) -> RunningSandbox:
    """A HubSpot sandbox seeded with the sample data through the HubSpot mapping (not
    started: call .server.start() or use it as a context manager). The sample's
    activity is dated relative to `now` (the generator's fixed anchor by default)."""
    mapping = load_mapping(mapping_path or MAPPINGS_DIR / "hubspot.yaml").mapping
    data = sample.generate(seed=seed, contacts=contacts, now=now or sample.ANCHOR)
    emulation = HubSpotSandbox(token=token, burst_limit=burst_limit)
    ids = seed_hubspot(emulation, mapping, data.contacts, data.activities)
    return RunningSandbox(SandboxServer(emulation, port=port, faults=faults), emulation, ids)
