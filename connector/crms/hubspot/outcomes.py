"""What became of each contact's deals: deals modified since the watermark (CRM search on
hs_lastmodifieddate), with their contacts from v4 association batch reads. Won and closed
are HubSpot's calculated deal properties `hs_is_closed_won` and `hs_is_closed` (strings
"true"/"false"), so a portal's own pipeline stages need no mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.crms.hubspot.activity import ENGAGEMENT_SEARCH_CAP
from mqlsync.connector.crms.hubspot.client import HubSpotClient, iso_ms, last_modified, modified_since
from mqlsync.connector.errors import NotAllowed
from mqlsync.connector.model import DealOutcome

PROPERTIES = ["hs_is_closed_won", "hs_is_closed", "closedate", "amount"]


class HubSpotDeals:
    def __init__(self, client: HubSpotClient) -> None:
        self.client = client

    def pull(self, since: datetime | None) -> Iterator[Page]:
        try:
            for records in modified_since(self.client, "deals", PROPERTIES, since, ENGAGEMENT_SEARCH_CAP):
                yield self._page(records)
        except NotAllowed as exc:
            # A token without the deals scope: the review lacks outcomes, the sync goes on.
            yield Page(skipped=f"{exc}; the funnel review has no deal outcomes until the private app has the "
                               "scope crm.objects.deals.read")

    def _page(self, records: list) -> Page:
        contacts = self.client.associations("deals", "contacts", [str(r["id"]) for r in records])
        page = Page()
        for record in records:
            props = record.get("properties") or {}
            closed = props.get("hs_is_closed") == "true"
            won = (props.get("hs_is_closed_won") == "true") if closed else None
            close = props.get("closedate")
            closed_at = datetime.fromtimestamp(iso_ms(close) / 1000, UTC) if closed and close else None
            try:
                amount = float(props["amount"]) if props.get("amount") not in (None, "") else None
            except ValueError:
                amount = None  # a text where a number belongs: the outcome still counts
            for cid in contacts.get(str(record["id"]), []):
                page.outcomes.append(DealOutcome(cid, str(record["id"]), won, closed_at, amount))
            stamp = last_modified(record)
            if stamp is not None:
                page.saw(datetime.fromtimestamp(stamp / 1000, UTC))
        return page
