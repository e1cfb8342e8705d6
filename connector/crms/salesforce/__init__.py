"""Salesforce: Leads and Contacts, their campaign members, Tasks, Events and custom
activity objects, written back through sObject Collections, a campaign and Tasks keyed
by an external id. The SDK-bound parts are imported when first used."""

from __future__ import annotations

from collections.abc import Mapping as MappingT
from typing import Any

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.salesforce import rules
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.registry import Report, Seeded


class Salesforce:
    name = "salesforce"
    label = "Salesforce"

    def check_mapping(self, mapping: Mapping, add: Report) -> None:
        rules.check_mapping(mapping, add)

    def connect(self, mapping: Mapping, env: MappingT[str, str] | None = None):
        from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter

        return SalesforceAdapter.from_env(mapping, env)

    def seed_sandbox(self, mapping: Mapping, contacts: list[Contact], activities: list[Activity], *,
                     secret: str, burst_limit: int | None = None, tier: str | None = None) -> Seeded:
        if tier is not None:
            raise ValueError("a Salesforce org's API does not depend on a tier: --tier is for HubSpot")
        from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox
        from mqlsync.connector.crms.salesforce.sandbox.seed import seed_salesforce

        org = SalesforceSandbox(session_id=secret)  # no burst window: a daily allocation only
        return Seeded(org, seed_salesforce(org, mapping, contacts, activities))

    def sandbox_env(self, url: str, secret: str) -> dict[str, str]:
        from mqlsync.connector.crms.salesforce.credentials import ENV_SANDBOX_URL, ENV_SESSION

        return {ENV_SANDBOX_URL: url, ENV_SESSION: secret}

    def tasks_in_sandbox(self, emulation: Any) -> int:
        """Tasks with a task key: the reps' logged calls are Tasks too."""
        from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD

        return sum(bool(r.get(TASK_KEY_FIELD)) and not r["IsDeleted"] for r in emulation.records["Task"].values())


KIND = Salesforce()
