"""Reading HubSpot activity: Events API event types, form submissions, marketing e-mail
events, marketing event participations and engagements (meetings, calls)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.config.mapping import Mapping as MappingFile
from mqlsync.connector.crms.hubspot.client import HubSpotClient, iso_ms, last_modified, modified_since, ms
from mqlsync.connector.crms.hubspot.contacts import ContactReader
from mqlsync.connector.errors import ConfigError, ConfigIssue, NotAllowed
from mqlsync.connector.model import Activity

log = logging.getLogger("mqlsync.hubspot")

#: how much earlier than its watermark each kind of source is read: analytics events
#: are processed with a delay, so an event may appear after a run that should have
#: seen it; the e-mail log's startTimestamp may be exclusive; searches by modification
#: time use >= and need nothing (forms and participations stop at or use the watermark)
LATE_ARRIVAL = {"events": timedelta(hours=1), "email_events": timedelta(seconds=1),
                # engagements are found by CRM search, which shows a change a few moments late
                "objects": timedelta(seconds=30), "*": timedelta(0)}
#: CRM objects whose records are activity (engagements logged by reps)
ENGAGEMENTS = ("meetings", "calls")
#: sources whose API a portal's tier decides: "Requires one of the following products or
#: higher. Marketing Hub -Enterprise, Sales Hub -Enterprise, ..." (event analytics guide;
#: the events spec's x-hubspot-product-tier-requirements: ENTERPRISE for every hub)
TIER_NEEDED = {"events": "the Events API needs an Enterprise portal"}
#: the CRM search API stops at 10,000 results (see search_since)
ENGAGEMENT_SEARCH_CAP = 10_000

#: the participant state API cannot filter by time: an incremental run reads the
#: participants of events started or updated this long before the watermark
MARKETING_EVENT_LOOKBACK = timedelta(days=60)


class ActivityReader:
    """Activity of contacts, source by source as the mapping lists them; people known
    only by e-mail are found among the contacts (`people`)."""

    def __init__(self, client: HubSpotClient, mapping: MappingFile, people: ContactReader) -> None:
        self.client, self.mapping, self.people = client, mapping, people

    def pull(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        """Activity since each source's watermark, source by source as the mapping
        lists them, reading a little earlier where HubSpot can deliver late."""
        for source in self.mapping.activities:
            kind, _, name = source.source.partition(":")
            start = since.get(source.source)
            if start is not None:
                start -= LATE_ARRIVAL.get(kind, LATE_ARRIVAL["*"])
            try:
                for page in self._read_source(source, kind, name, start):
                    page.source = source.source
                    yield page
            except NotAllowed as exc:
                # A source the token's scopes or the portal's tier do not allow: skipped,
                # the rest of the run goes on and writes.
                why = str(exc) + (f"; {TIER_NEEDED[kind]}" if kind in TIER_NEEDED else "")
                log.info("activity source %s skipped: %s", source.source, why)
                yield Page(source=source.source, skipped=why)

    def _read_source(self, source, kind: str, name: str, since: datetime | None) -> Iterator[Page]:
        if kind == "events" and name:
            yield from self._events(source, name, since)
        elif kind == "forms" and not name:
            yield from self._form_submissions(source, since)
        elif kind == "email_events" and name:
            yield from self._email_events(source, name.upper(), since)
        elif kind == "marketing_events" and name:
            yield from self._participations(source, name.upper(), since)
        elif kind == "objects" and name in ENGAGEMENTS:
            yield from self._engagements(source, name, since)
        else:
            raise ConfigError([ConfigIssue("mapping", None, "activities.source",
                                           f"{source.source!r}: the HubSpot adapter reads `events:<eventType>`, "
                                           "`forms`, `email_events:<TYPE>`, `marketing_events:<STATE>` and "
                                           "`objects:meetings|calls`")])

    def _events(self, source, event_type: str, since: datetime | None) -> Iterator[Page]:
        after = None
        while True:
            # No `sort`: the order is not relied on (the watermark is the newest time
            # seen), and the spec changed its values (ASCENDING, then occurredAt).
            result = self.client.call(self.client.events_api.get_page, object_type="contact",
                                      event_type=event_type, occurred_after=since, limit=100, after=after)
            page = Page()
            for event in result.results:
                props = event.properties or {}
                self._add_activity(page, f"{event_type}:{event.id}", str(event.object_id), source, event.occurred_at,
                                   {k: props.get(v) for k, v in source.attributes.items()}, event_type)
            yield page
            if not (result.paging and result.paging.next):
                return
            after = result.paging.next.after

    def _form_submissions(self, source, since: datetime | None) -> Iterator[Page]:
        """Every form's submissions, newest first, down to `since`. The person is the
        submission's e-mail, looked up among the contacts."""
        floor = ms(since) if since else None
        for form in self.client.pages("/marketing/v3/forms/", {"limit": 100}):
            after = None
            while True:
                query = {"limit": 50, **({"after": after} if after else {})}
                result = self.client.get(f"/form-integrations/v1/submissions/forms/{form['id']}", query)
                pending = []
                older = False
                for sub in result.get("results", []):
                    if floor is not None and sub["submittedAt"] < floor:
                        older = True
                        break
                    values = {v.get("name"): v.get("value") for v in sub.get("values", [])}
                    special = {"form.name": form.get("name"), "pageUrl": sub.get("pageUrl")}
                    attributes = {k: special[v] if v in special else values.get(v)
                                  for k, v in source.attributes.items()}
                    pending.append((values.get("email"), f"form:{sub['conversionId']}",
                                    datetime.fromtimestamp(sub["submittedAt"] / 1000, UTC), attributes))
                yield self._by_email(pending, source, f"form {form.get('name')}")
                after = (result.get("paging") or {}).get("next", {}).get("after")
                if older or not after:
                    break

    def _email_events(self, source, kind: str, since: datetime | None) -> Iterator[Page]:
        # Bot and machine opens and clicks (security scanners, Apple Mail privacy) are
        # not engagement: HubSpot includes them unless asked not to (Email Events API
        # reference, excludeFilteredEvents).
        query: dict[str, Any] = {"eventType": kind, "limit": 1000, "excludeFilteredEvents": "true"}
        if since:
            query["startTimestamp"] = ms(since)
        while True:
            result = self.client.get("/email/public/v1/events", query)
            pending = [(e.get("recipient"), f"email:{e['id']}", datetime.fromtimestamp(e["created"] / 1000, UTC),
                        {k: e.get(v) for k, v in source.attributes.items()}) for e in result.get("events", [])]
            yield self._by_email(pending, source, f"e-mail {kind}")
            if not result.get("hasMore") or not result.get("offset"):
                return
            query["offset"] = result["offset"]

    def _participations(self, source, state: str, since: datetime | None) -> Iterator[Page]:
        """Marketing event participants in one state (REGISTERED, ATTENDED, ...), from the
        participant state API. It has no time filter, so an incremental run reads the
        events started or updated within MARKETING_EVENT_LOOKBACK of the watermark."""
        floor = ms(since - MARKETING_EVENT_LOOKBACK) if since else None
        for event in self.client.pages("/marketing/v3/marketing-events/", {"limit": 100}):
            recent = max(iso_ms(event.get("startDateTime")), iso_ms(event.get("updatedAt")))
            if floor is not None and recent < floor:
                continue
            after = None
            while True:
                query = {"state": state, "limit": 100, **({"after": after} if after else {})}
                result = self.client.get(f"/marketing/v3/marketing-events/participations/{event['objectId']}/breakdown",
                                       query)
                page = Page()
                for item in result.get("results", []):
                    props = item.get("properties") or {}
                    links = item.get("associations") or {}
                    contact = (links.get("contact") or {}).get("contactId")
                    occurred = props.get("occurredAt")
                    if contact is None or occurred is None:
                        continue
                    seconds = props.get("attendanceDurationSeconds")
                    fields = {**(links.get("marketingEvent") or {}), **props,
                              "attendanceDurationMinutes": None if seconds is None else round(seconds / 60)}
                    self._add_activity(page, f"marketing-event:{item['id']}", str(contact), source,
                                       datetime.fromtimestamp(occurred / 1000, UTC),
                                       {k: fields.get(v) for k, v in source.attributes.items()},
                                       f"marketing event {event.get('eventName')}")
                yield page
                after = (result.get("paging") or {}).get("next", {}).get("after")
                if not after:
                    break

    def _engagements(self, source, kind: str, since: datetime | None) -> Iterator[Page]:
        """Meetings or calls logged by reps, modified since the watermark (CRM search on
        hs_lastmodifieddate), with their contacts from v4 association batch reads: one
        activity per engagement and contact."""
        properties = ["hs_timestamp", *source.attributes.values()]
        for records in modified_since(self.client, kind, properties, since, ENGAGEMENT_SEARCH_CAP):
            contacts = self.client.associations(kind, "contacts", [str(r["id"]) for r in records])
            page = Page()
            modified = [t for t in map(last_modified, records) if t is not None]
            for record in records:
                props = record.get("properties") or {}
                when = props.get("hs_timestamp")
                if not when:
                    continue
                at = datetime.fromtimestamp(iso_ms(when) / 1000, UTC)
                attributes = {k: props.get(v) for k, v in source.attributes.items()}
                for cid in contacts.get(str(record["id"]), []):
                    self._add_activity(page, f"{kind}:{record['id']}:{cid}", cid, source, at, attributes, kind)
            # The search filters on modification time: that is what the watermark follows.
            page.high_water = datetime.fromtimestamp(max(modified) / 1000, UTC) if modified else None
            yield page

    def _by_email(self, pending, source, origin: str) -> Page:
        """Activities of people known by e-mail: those who are contacts, by their id.
        A recipient or submitter who is not a contact has nothing to score."""
        ids = self.people.ids_by_email([email for email, *_ in pending if email])
        page = Page()
        for email, activity_id, at, attributes in pending:
            cid = ids.get((email or "").lower())
            if cid is not None:
                self._add_activity(page, activity_id, cid, source, at, attributes, origin)
        return page

    def _add_activity(self, page: Page, activity_id: str, contact_id: str, source, at: datetime | None,
                      attributes: dict[str, Any], origin: str) -> None:
        try:
            page.activities.append(Activity(id=activity_id, contact_id=contact_id, type=source.type, at=at,
                                            attributes={k: v for k, v in attributes.items() if v is not None}))
        except ValidationError as exc:
            page.reject(f"hubspot {origin}", exc, activity_id)
            return
        page.saw(page.activities[-1].at)
