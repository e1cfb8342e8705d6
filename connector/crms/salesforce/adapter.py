"""Salesforce behind the CRM port, through simple-salesforce: Leads and Contacts and
their activity (Tasks, Events, campaign memberships, custom activity objects) in;
score fields, Lead Status, the MQL tag and follow-up Tasks out. The adapter only
composes the parts: a client (the API under Salesforce's policy), the people and
activity readers, the writer and setup."""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping as MappingT
from typing import Any

import requests
from simple_salesforce import Salesforce

from mqlsync.connector.adapters.base import Check, Composed, SetupReport
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.salesforce import check, setup
from mqlsync.connector.crms.salesforce.activity import ActivityReader
from mqlsync.connector.crms.salesforce.client import API_VERSION, BULK_THRESHOLD, SalesforceClient
from mqlsync.connector.crms.salesforce.credentials import login_from_env
from mqlsync.connector.crms.salesforce.outcomes import SalesforceOpportunities
from mqlsync.connector.crms.salesforce.people import PeopleReader
from mqlsync.connector.crms.salesforce.write import MqlCampaign, Writer


class SalesforceAdapter(Composed):
    """One Salesforce org, read and written through the mapping file."""

    name = "salesforce"

    def __init__(self, mapping: Mapping, connect: Callable[[requests.Session], Salesforce],
                 loopback_http: bool = False, bulk_threshold: int = BULK_THRESHOLD,
                 login_server: str | None = None) -> None:
        self.mapping = mapping
        self.client = SalesforceClient(connect, mapping.limits, loopback_http, bulk_threshold, login_server)
        self.people = PeopleReader(self.client, mapping)
        self.activity = ActivityReader(self.client, mapping, self.people)
        self.outcomes = SalesforceOpportunities(self.client)
        self.campaign = MqlCampaign(self.client, mapping.mql_tag.list)
        self.writer = Writer(self.client, mapping, self.people, self.campaign)

    @classmethod
    def from_env(cls, mapping: Mapping, env: MappingT[str, str] | None = None, **options: Any) -> SalesforceAdapter:
        """Log in the way the environment says (credentials.LOGINS, in that order)."""
        login = login_from_env(os.environ if env is None else env)
        return cls(mapping, lambda s: login.client(s, version=API_VERSION, object_pairs_hook=dict),
                   loopback_http=login.loopback_http, login_server=login.sandbox_url, **options)

    @property
    def sf(self) -> Salesforce:
        return self.client.sf

    def missing_fields(self) -> list[str]:
        return check.missing_fields(self.client, self.mapping, self.people.objects)

    def check(self) -> list[Check]:
        return check.preflight(self.client, self.mapping, self.people.objects, self.campaign)

    def ensure_fields(self, dry_run: bool = False, grant: bool = True) -> SetupReport:
        return setup.ensure_fields(self.client, self.mapping, self.people.objects, self.campaign, dry_run, grant)
