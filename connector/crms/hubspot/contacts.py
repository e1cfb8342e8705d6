"""Reading HubSpot contacts: every contact on a full sync, a search by modification time
on an incremental one; and the e-mail index activity sources use to find a contact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from hubspot.crm.contacts import (
    PublicObjectSearchRequest,
)
from pydantic import ValidationError

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.adapters.mapped import parse_time, recorded, to_contact, verdict_of
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot.client import HubSpotClient, ms, search_since

# API limits (CRM API reference): lists page 100 at a time, search 200, search cannot
# page past 10,000 results (batch reads: HubSpotClient.read_contacts).
LIST_PAGE, SEARCH_PAGE, SEARCH_CAP = 100, 200, 10_000
#: how long CRM search may take to show a change (the CRM search guide: changes take "a
#: few moments" to show): incremental searches overlap the watermark by this much, which
#: costs a few search pages a run (the contacts changed in those seconds, read twice)
SEARCH_LAG = timedelta(seconds=30)
#: HubSpot's read-only property on a merge's primary contact: the merged-away ids
MERGED_IDS = "hs_merged_object_ids"


class ContactReader:
    """Contacts in mqlsync's words, and what this run saw of them: each contact's
    lifecycle stage and the contact id behind each e-mail address."""

    def __init__(self, client: HubSpotClient, mapping: Mapping) -> None:
        self.client, self.mapping = client, mapping
        self.obj = mapping.objects["contacts"]
        self.lifecycle: dict[str, str | None] = {}
        self.email_ids: dict[str, str | None] = {}
        props = set(self.obj.fields.values()) | set(self.obj.sql_criteria.values())
        if self.obj.stage_field:
            props.add(self.obj.stage_field)
        if self.obj.sales_status:
            props.add(self.obj.sales_status.field)
            if self.obj.sales_status.at_field:
                props.add(self.obj.sales_status.at_field)
        props.add(MERGED_IDS)
        # mqlsync's own properties too: what they show is the record of what was done
        props |= set(mapping.write_back.fields.values())
        self.properties = sorted(props)

    def pull(self, since: datetime | None) -> Iterator[Page]:
        """A full sync lists every contact; an incremental one searches for contacts
        modified at or after `since`, oldest first. Search cannot page past 10,000
        results, so after 10,000 the search restarts from the newest modification time
        seen (>=, so records sharing that millisecond are read again, never skipped).
        Search indexes a change seconds after it is made, so the search starts
        SEARCH_LAG before the watermark: a change indexed late is read, not skipped."""
        if since is None:
            yield from self._list_all()
            return
        since -= SEARCH_LAG

        def fetch(floor: int, after: int):
            request = PublicObjectSearchRequest(
                filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                             "value": str(floor)}]}],
                sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                properties=self.properties, limit=SEARCH_PAGE, after=str(after))
            result = self.client.call(self.client.contacts_search.do_search, public_object_search_request=request)
            return result.results, (result.paging.next.after if result.paging and result.paging.next else None)

        def changed(record) -> int | None:
            at = parse_time((record.properties or {}).get("lastmodifieddate")) or record.updated_at
            return ms(at) if at else None

        for records in search_since(fetch, ms(since), changed, lambda r: r.id, SEARCH_PAGE, SEARCH_CAP,
                                    "contacts"):
            yield self._page(records)

    def _list_all(self) -> Iterator[Page]:
        after = None
        while True:
            result = self.client.call(self.client.contacts_basic.get_page, limit=LIST_PAGE, after=after,
                                      properties=self.properties)
            yield self._page(result.results)
            if not (result.paging and result.paging.next):
                return
            after = result.paging.next.after

    def _page(self, records: list[Any]) -> Page:
        page = Page()
        verdicts = self._verdict_times(records)
        for record in records:
            props = record.properties or {}
            page.saw(parse_time(props.get("lastmodifieddate")) or record.updated_at)
            try:
                page.contacts.append(to_contact(self.obj, record.id, props, verdicts.get(record.id)))
                page.recorded[record.id] = recorded(self.mapping.write_back, self.obj, props)
            except (ValidationError, ValueError) as exc:
                page.reject("hubspot contacts", exc, record.id)
            for merged in (props.get(MERGED_IDS) or "").split(";"):
                if merged.strip():
                    page.merged[merged.strip()] = record.id
            if self.obj.stage_field:
                self.lifecycle[record.id] = props.get(self.obj.stage_field)
            email = props.get(self.obj.fields.get("email", "email"))
            if email:
                self.email_ids[str(email).lower()] = record.id
        return page

    def _verdict_times(self, records: list[Any]) -> dict[str, datetime]:
        """When each record's sales status took the value it has, from the property's
        history (propertiesWithHistory, "the properties to be returned along with their
        history of previous values", newest first; batch reads of 100): the time sales
        gave the verdict, to the millisecond, with no workflow to stamp it. Search, the
        incremental read, cannot return history, hence the batch read, for the records
        showing a verdict only."""
        status = self.obj.sales_status
        if status is None:
            return {}
        current = {r.id: (r.properties or {}).get(status.field) for r in records
                   if verdict_of(self.obj, r.properties or {})}
        out: dict[str, datetime] = {}
        for record in self.client.read_contacts(sorted(current), [status.field], history=[status.field]):
            history = (record.properties_with_history or {}).get(status.field) or []
            at = None
            for entry in history:  # the run of entries with the current value: its oldest
                if entry.value != current.get(record.id):
                    break
                at = entry.timestamp
            when = parse_time(at)
            if when is not None:
                out[record.id] = when
        return out

    def ids_by_email(self, emails: list[str]) -> dict[str, str | None]:
        """e-mail -> contact id, from this run's pulls or by batch reads of 100 by the
        unique `email` property (unknown addresses come back as a 207 and map to None)."""
        unknown = sorted({e.lower() for e in emails} - set(self.email_ids))
        for record in self.client.read_contacts(unknown, ["email"], id_property="email"):
            self.email_ids[str((record.properties or {}).get("email") or "").lower()] = record.id
        for email in unknown:
            self.email_ids.setdefault(email, None)
        return {e.lower(): self.email_ids.get(e.lower()) for e in emails}
