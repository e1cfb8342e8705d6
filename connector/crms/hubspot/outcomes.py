"""What became of each contact's deals: deals modified since the watermark (CRM search on
hs_lastmodifieddate), with their contacts from v4 association batch reads. Won and closed
are HubSpot's calculated deal properties `hs_is_closed_won` and `hs_is_closed` (strings
"true"/"false"), so a portal's own pipeline stages need no mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.crms.hubspot.activity import ENGAGEMENT_SEARCH_CAP, _iso_ms
from mqlsync.connector.crms.hubspot.client import HubSpotClient, ms, search_since
from mqlsync.connector.errors import NotAllowed
from mqlsync.connector.model import DealOutcome

PROPERTIES = ["hs_is_closed_won", "hs_is_closed", "closedate", "amount", "hs_lastmodifieddate"]


class HubSpotDeals:
    def __init__(self, client: HubSpotClient) -> None:
        self.client = client

    def pull(self, since: datetime | None) -> Iterator[Page]:
        def fetch(floor: int, after: int):
            result = self.client.post("/crm/v3/objects/deals/search", {
                "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                               "value": str(floor)}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": PROPERTIES, "limit": 200, "after": str(after)})
            return result.get("results", []), (result.get("paging") or {}).get("next", {}).get("after")

        def changed(record) -> int | None:
            value = (record.get("properties") or {}).get("hs_lastmodifieddate")
            return _iso_ms(value) if value else None

        try:
            for records in search_since(fetch, ms(since) if since else 0, changed, lambda r: r["id"], 200,
                                        ENGAGEMENT_SEARCH_CAP, "deals"):
                yield self._page(records, changed)
        except NotAllowed as exc:
            # A token without the deals scope: the review lacks outcomes, the sync goes on.
            yield Page(skipped=f"{exc}; the funnel review has no deal outcomes until the private app has the "
                               "scope crm.objects.deals.read")

    def _page(self, records: list, changed) -> Page:
        contacts = self.client.associations("deals", "contacts", [str(r["id"]) for r in records])
        page = Page()
        for record in records:
            props = record.get("properties") or {}
            closed = props.get("hs_is_closed") == "true"
            won = (props.get("hs_is_closed_won") == "true") if closed else None
            close = props.get("closedate")
            closed_at = datetime.fromtimestamp(_iso_ms(close) / 1000, UTC) if closed and close else None
            try:
                amount = float(props["amount"]) if props.get("amount") not in (None, "") else None
            except ValueError:
                amount = None  # a text where a number belongs: the outcome still counts
            for cid in contacts.get(str(record["id"]), []):
                page.outcomes.append(DealOutcome(cid, str(record["id"]), won, closed_at, amount))
            stamp = changed(record)
            if stamp is not None:
                page.saw(datetime.fromtimestamp(stamp / 1000, UTC))
        return page
