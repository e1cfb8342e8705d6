"""Where a Salesforce Contact stands in the sales pipeline, from opportunities: a
Contact has no status field of its own, so its stage comes from the opportunities it
has a contact role on (OpportunityContactRole) and its Account's won opportunities
(Opportunity.IsWon, IsClosed: Object Reference). A customer or someone in an open deal
is never made an MQL nor given an MQL task."""

from __future__ import annotations

from datetime import datetime

from mqlsync.connector.config.mapping import PipelineStages
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.soql import field_value, in_lists, soql_time
from mqlsync.connector.model import Stage


class Pipeline:
    """Contact roles and won accounts: all of them for a full read, those of the
    Contacts at hand for an incremental one."""

    def __init__(self, client: SalesforceClient, stages: PipelineStages) -> None:
        self.client, self.stages = client, stages
        #: contact id -> the states of the opportunities it has a role on (won, open, lost)
        self.roles: dict[str, set[str]] = {}
        self.won_accounts: set[str] = set()
        self._all = False
        self._asked: set[str] = set()  # contacts and accounts already looked up

    def load_all(self) -> None:
        """Every contact role and every won opportunity's account (a full read: two
        queries, paged, instead of one per page of Contacts)."""
        self._roles("SELECT ContactId, Opportunity.IsWon, Opportunity.IsClosed FROM OpportunityContactRole")
        for rows in self.client.pages("SELECT AccountId FROM Opportunity WHERE IsWon = true"):
            self.won_accounts.update(str(r["AccountId"]) for r in rows if r.get("AccountId"))
        self._all = True

    def load(self, contacts: list[str], accounts: list[str]) -> None:
        """The roles of `contacts` and the won opportunities of `accounts`, unless known."""
        if self._all:
            return
        contacts = sorted(set(contacts) - self._asked)
        accounts = sorted(set(accounts) - self._asked)
        self._asked.update(contacts, accounts)
        for listed in in_lists(contacts):
            self._roles("SELECT ContactId, Opportunity.IsWon, Opportunity.IsClosed FROM OpportunityContactRole "
                        f"WHERE ContactId IN ({listed})")
        for listed in in_lists(accounts):
            for rows in self.client.pages(f"SELECT AccountId FROM Opportunity WHERE IsWon = true AND AccountId IN "
                                          f"({listed})"):
                self.won_accounts.update(str(r["AccountId"]) for r in rows if r.get("AccountId"))

    def _roles(self, soql: str) -> None:
        for rows in self.client.pages(soql):
            for row in rows:
                won, closed = field_value(row, "Opportunity.IsWon"), field_value(row, "Opportunity.IsClosed")
                state = "won" if won in (True, "true") else "lost" if closed in (True, "true") else "open"
                self.roles.setdefault(str(row["ContactId"]), set()).add(state)

    def stage_of(self, contact_id: str, account_id: str | None) -> Stage | None:
        states = self.roles.get(contact_id, set())
        if self.stages.won and ("won" in states or (account_id and account_id in self.won_accounts)):
            return self.stages.won
        if self.stages.open and "open" in states:
            return self.stages.open
        return None

    def changed(self, since: datetime) -> tuple[set[str], set[str]]:
        """Contacts and Accounts whose opportunities changed at or after `since`: their
        Contacts' stage may have moved though the Contact records did not."""
        contacts: set[str] = set()
        accounts: set[str] = set()
        at = soql_time(since)
        for rows in self.client.pages(f"SELECT ContactId FROM OpportunityContactRole WHERE SystemModstamp >= {at}"):
            contacts.update(str(r["ContactId"]) for r in rows)
        opportunities: list[str] = []
        for rows in self.client.pages(f"SELECT Id, AccountId, IsWon FROM Opportunity WHERE SystemModstamp >= {at}"):
            for row in rows:
                opportunities.append(str(row["Id"]))
                if row.get("AccountId") and row.get("IsWon") in (True, "true"):
                    accounts.add(str(row["AccountId"]))
        for listed in in_lists(opportunities):
            for rows in self.client.pages(f"SELECT ContactId FROM OpportunityContactRole WHERE OpportunityId IN "
                                          f"({listed})"):
                contacts.update(str(r["ContactId"]) for r in rows)
        return contacts, accounts


def later(a: Stage | None, b: Stage | None) -> Stage | None:
    """The further of two stages along the funnel (None is nowhere)."""
    if a is None or b is None:
        return a or b
    return a if a.rank >= b.rank else b
