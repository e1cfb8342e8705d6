"""HubSpot behind the CRM port, through hubspot-api-client: contacts and their activity
in, score fields, lifecycle stage, MQL tag and follow-up tasks out. The adapter only
composes the parts: a client (the API under HubSpot's policy), the contact and activity
readers, the writer and setup."""

from __future__ import annotations

from collections.abc import Mapping as MappingT

from mqlsync.connector.adapters.base import Check, Composed, SetupReport
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot import check, setup
from mqlsync.connector.crms.hubspot.activity import ActivityReader
from mqlsync.connector.crms.hubspot.client import HubSpotClient
from mqlsync.connector.crms.hubspot.contacts import ContactReader
from mqlsync.connector.crms.hubspot.credentials import DEFAULT_HOST, HubSpotCredentials
from mqlsync.connector.crms.hubspot.outcomes import HubSpotDeals
from mqlsync.connector.crms.hubspot.write import MqlList, Writer


class HubSpotAdapter(Composed):
    """One HubSpot portal, read and written through the mapping file."""

    name = "hubspot"

    def __init__(self, mapping: Mapping, token: str, host: str = DEFAULT_HOST) -> None:
        self.mapping = mapping
        self.obj = mapping.objects["contacts"]
        self.client = HubSpotClient(token, host, mapping.limits)
        self.people = ContactReader(self.client, mapping)
        self.activity = ActivityReader(self.client, mapping, self.people)
        self.outcomes = HubSpotDeals(self.client)
        self.mql_list = MqlList(self.client, mapping.mql_tag.list)
        self.writer = Writer(self.client, mapping, self.mql_list)

    @classmethod
    def from_env(cls, mapping: Mapping, env: MappingT[str, str] | None = None) -> HubSpotAdapter:
        credentials = HubSpotCredentials.from_env(env)
        return cls(mapping, credentials.access_token.get_secret_value(), credentials.base_url)

    def missing_fields(self) -> list[str]:
        return check.missing_fields(self.client, self.mapping)

    def check(self) -> list[Check]:
        return check.preflight(self.client, self.mapping, self.mql_list)

    def ensure_fields(self, dry_run: bool = False, grant: bool = True) -> SetupReport:
        # A HubSpot property is visible to every token with the CRM scopes: nothing to grant.
        return setup.ensure_fields(self.client, self.mapping, self.mql_list, dry_run)
