"""Start a seeded sandbox CRM: the work behind `mqlsync sandbox` and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mqlsync.connector import sample
from mqlsync.connector.config import load_mapping
from mqlsync.connector.config.load import MAPPINGS_DIR
from mqlsync.connector.registry import CrmKind, crm_kind
from mqlsync.connector.sandbox.server import Faults, SandboxServer


@dataclass
class RunningSandbox:
    server: SandboxServer
    emulation: Any
    #: sample contact id -> CRM id
    ids: dict[str, str]
    kind: CrmKind
    secret: str = "sandbox-token"

    @property
    def crm(self) -> str:
        return self.kind.name

    def env(self) -> dict[str, str]:
        """The environment that points mqlsync's adapter at this sandbox."""
        return self.kind.sandbox_env(self.server.url, self.secret)

    @property
    def tasks(self) -> int:
        """Follow-up tasks mqlsync created in the CRM."""
        return self.kind.tasks_in_sandbox(self.emulation)


def mapping_file(crm: str) -> Path:
    return MAPPINGS_DIR / f"{crm}.yaml"


def start_sandbox(crm: str = "hubspot", seed: int = 7, contacts: int = 2000, port: int = 0,
                  secret: str = "sandbox-token", faults: Faults | None = None, mapping_path=None,
                  now: datetime | None = None, burst_limit: int | None = None,
                  tier: str | None = None) -> RunningSandbox:
    """A sandbox of `crm` seeded with the sample data through that CRM's mapping (not
    started: call .server.start() or use .server as a context manager). The sample's
    activity is dated relative to `now` (the generator's fixed anchor by default);
    `secret` is the token or session id it accepts; `burst_limit` the requests it
    allows per 10 s, where the CRM has such a window."""
    kind = crm_kind(crm)
    mapping = load_mapping(mapping_path or mapping_file(crm)).mapping
    data = sample.generate(seed=seed, contacts=contacts, now=now or sample.ANCHOR)
    # A tier only when asked for: a CRM whose APIs have none need not take the argument.
    seeded = kind.seed_sandbox(mapping, data.contacts, data.activities, secret=secret, burst_limit=burst_limit,
                               **({"tier": tier} if tier is not None else {}))
    return RunningSandbox(SandboxServer(seeded.emulation, port=port, faults=faults), seeded.emulation, seeded.ids,
                          kind, secret)

