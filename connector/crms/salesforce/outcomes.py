"""What became of each person's opportunities: those modified since the watermark
(Opportunity.SystemModstamp), won or lost by IsWon and IsClosed, closed on CloseDate
(a date: midnight UTC), with their people from the contact roles
(OpportunityContactRole.ContactId) and from the leads converted into them
(Lead.ConvertedOpportunityId, the lead's person being its ConvertedContactId, which is
who mqlsync follows once a lead is converted). Object Reference: Opportunity, Lead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.adapters.mapped import parse_time
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.soql import field_value, in_lists, soql_time
from mqlsync.connector.model import DealOutcome


def _flag(value: object) -> bool:
    return value in (True, "true")


class SalesforceOpportunities:
    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def pull(self, since: datetime | None) -> Iterator[Page]:
        where = f" WHERE SystemModstamp >= {soql_time(since)}" if since else ""
        for rows in self.client.pages("SELECT Id, IsWon, IsClosed, Amount, CloseDate, SystemModstamp "
                                      f"FROM Opportunity{where} ORDER BY SystemModstamp"):
            yield self._page(rows)

    def _page(self, rows: list[dict]) -> Page:
        ids = [str(r["Id"]) for r in rows]
        people: dict[str, set[str]] = {}
        for listed in in_lists(ids):
            for found in self.client.pages("SELECT OpportunityId, ContactId FROM OpportunityContactRole "
                                           f"WHERE OpportunityId IN ({listed})"):
                for r in found:
                    if r.get("ContactId"):
                        people.setdefault(str(r["OpportunityId"]), set()).add(str(r["ContactId"]))
            for found in self.client.pages("SELECT ConvertedOpportunityId, ConvertedContactId FROM Lead "
                                           f"WHERE ConvertedOpportunityId IN ({listed})"):
                for r in found:
                    if r.get("ConvertedContactId"):
                        people.setdefault(str(r["ConvertedOpportunityId"]), set()).add(str(r["ConvertedContactId"]))
        page = Page()
        for row in rows:
            closed = _flag(field_value(row, "IsClosed"))
            won = _flag(field_value(row, "IsWon")) if closed else None
            day = field_value(row, "CloseDate")
            closed_at = datetime.fromisoformat(str(day)).replace(tzinfo=UTC) if closed and day else None
            amount = field_value(row, "Amount")
            for person in sorted(people.get(str(row["Id"]), ())):
                page.outcomes.append(DealOutcome(person, str(row["Id"]), won, closed_at,
                                                 None if amount in (None, "") else float(amount)))
            page.saw(parse_time(field_value(row, "SystemModstamp")))
        return page
