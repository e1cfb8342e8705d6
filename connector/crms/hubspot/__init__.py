"""HubSpot: contacts, their activity from the Events, Forms, marketing e-mail and
marketing events APIs and engagements, written back as contact properties, a static
list and tasks. The SDK-bound parts are imported when first used."""

from __future__ import annotations

from collections.abc import Mapping as MappingT
from typing import Any

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot import rules
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.registry import Report, Seeded


class HubSpot:
    name = "hubspot"
    label = "HubSpot"

    def check_mapping(self, mapping: Mapping, add: Report) -> None:
        rules.check_mapping(mapping, add)

    def connect(self, mapping: Mapping, env: MappingT[str, str] | None = None):
        from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter

        return HubSpotAdapter.from_env(mapping, env)

    def seed_sandbox(self, mapping: Mapping, contacts: list[Contact], activities: list[Activity], *,
                     secret: str, burst_limit: int | None = None, tier: str | None = None) -> Seeded:
        from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox
        from mqlsync.connector.crms.hubspot.sandbox.seed import seed_hubspot

        portal = HubSpotSandbox(token=secret, burst_limit=burst_limit, tier=tier or "enterprise")
        return Seeded(portal, seed_hubspot(portal, mapping, contacts, activities))

    def sandbox_env(self, url: str, secret: str) -> dict[str, str]:
        from mqlsync.connector.crms.hubspot.credentials import ENV_BASE_URL, ENV_TOKEN

        return {ENV_BASE_URL: url, ENV_TOKEN: secret}

    def tasks_in_sandbox(self, emulation: Any) -> int:
        return len(emulation.tasks)


KIND = HubSpot()
