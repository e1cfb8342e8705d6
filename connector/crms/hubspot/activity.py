"""Reading HubSpot activity for the adapter: Events API event types, form submissions
and marketing e-mail events, with people known only by e-mail resolved to contacts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from pydantic import ValidationError

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.adapters.jsonl import describe
from mqlsync.connector.crms.hubspot.write import BATCH
from mqlsync.connector.errors import ConfigError, ConfigIssue, RecordRejected
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
#: the CRM search API stops at 10,000 results (see search_since)
ENGAGEMENT_SEARCH_CAP = 10_000

#: the participant state API cannot filter by time: an incremental run reads the
#: participants of events started or updated this long before the watermark
MARKETING_EVENT_LOOKBACK = timedelta(days=60)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _iso_ms(value: str | None) -> int:
    if not value:
        return 0
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def search_since(fetch, since_ms: int, time_of, id_of, page_size: int, cap: int, what: str) -> Iterator[list]:
    """Page a CRM search for records modified at or after `since_ms`, oldest first.
    HubSpot's search cannot page past `cap` (10,000) results, so the search restarts
    from the newest modification time seen: with >=, records sharing that millisecond
    are read again (and dropped here as seen), never skipped."""
    floor = since_ms
    seen: set[str] = set()
    while True:
        after, newest, restarted = 0, floor, False
        while True:
            records, nxt = fetch(floor, after)
            fresh = [r for r in records if id_of(r) not in seen]
            seen.update(id_of(r) for r in records)
            newest = max([newest] + [t for t in map(time_of, records) if t is not None])
            yield fresh
            if nxt is None:
                return
            after = int(nxt)
            if after + page_size > cap:
                restarted = True
                break
        if not restarted or newest == floor:
            if restarted:
                log.warning("more than %d %s share one modification time; the rest is read next run", cap, what)
            return
        floor = newest


class ActivityReader:
    """The activity half of HubSpotAdapter (mixed into it): needs its `mapping`,
    `_call`, `events_api`, `contacts_batch`, `contacts_basic` and `_email_ids`."""

    def pull_activities(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        """Activity since each source's watermark, source by source as the mapping
        lists them, reading a little earlier where HubSpot can deliver late."""
        for source in self.mapping.activities:
            kind, _, name = source.source.partition(":")
            start = since.get(source.source)
            if start is not None:
                start -= LATE_ARRIVAL.get(kind, LATE_ARRIVAL["*"])
            for page in self._read_source(source, kind, name, start):
                page.source = source.source
                yield page

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
            result = self._call(self.events_api.get_page, object_type="contact", event_type=event_type,
                                occurred_after=since, limit=100, sort=["ASCENDING"], after=after)
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
        floor = _ms(since) if since else None
        for form in self._raw_pages("/marketing/v3/forms/", {"limit": 100}):
            after = None
            while True:
                query = {"limit": 50, **({"after": after} if after else {})}
                result = self._raw_get(f"/form-integrations/v1/submissions/forms/{form['id']}", query)
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
        query: dict[str, Any] = {"eventType": kind, "limit": 1000}
        if since:
            query["startTimestamp"] = _ms(since)
        while True:
            result = self._raw_get("/email/public/v1/events", query)
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
        floor = _ms(since - MARKETING_EVENT_LOOKBACK) if since else None
        for event in self._raw_pages("/marketing/v3/marketing-events/", {"limit": 100}):
            recent = max(_iso_ms(event.get("startDateTime")), _iso_ms(event.get("updatedAt")))
            if floor is not None and recent < floor:
                continue
            after = None
            while True:
                query = {"state": state, "limit": 100, **({"after": after} if after else {})}
                result = self._raw_get(f"/marketing/v3/marketing-events/participations/{event['objectId']}/breakdown",
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
        wanted = sorted({"hs_timestamp", "hs_lastmodifieddate", *source.attributes.values()})

        def fetch(floor: int, after: int):
            result = self._raw_post(f"/crm/v3/objects/{kind}/search", {
                "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                               "value": str(floor)}]}],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": wanted, "limit": 200, "after": str(after)})
            return result.get("results", []), (result.get("paging") or {}).get("next", {}).get("after")

        def changed(record) -> int | None:
            value = (record.get("properties") or {}).get("hs_lastmodifieddate")
            return _iso_ms(value) if value else None

        for records in search_since(fetch, _ms(since) if since else 0, changed, lambda r: r["id"], 200,
                                    ENGAGEMENT_SEARCH_CAP, kind):
            contacts: dict[str, list[str]] = {}
            for i in range(0, len(records), 1000):  # v4 association batch reads take 1,000 inputs
                result = self._raw_post(f"/crm/v4/associations/{kind}/contacts/batch/read",
                                        {"inputs": [{"id": r["id"]} for r in records[i:i + 1000]]})
                for item in result.get("results", []):
                    contacts[str(item["from"]["id"])] = [str(t["toObjectId"]) for t in item.get("to", [])]
            page = Page()
            modified = [t for t in map(changed, records) if t is not None]
            for record in records:
                props = record.get("properties") or {}
                when = props.get("hs_timestamp")
                if not when:
                    continue
                at = datetime.fromtimestamp(_iso_ms(when) / 1000, UTC)
                attributes = {k: props.get(v) for k, v in source.attributes.items()}
                for cid in contacts.get(str(record["id"]), []):
                    self._add_activity(page, f"{kind}:{record['id']}:{cid}", cid, source, at, attributes, kind)
            # The search filters on modification time: that is what the watermark follows.
            page.high_water = datetime.fromtimestamp(max(modified) / 1000, UTC) if modified else None
            yield page

    def _by_email(self, pending, source, origin: str) -> Page:
        """Activities of people known by e-mail: those who are contacts, by their id.
        A recipient or submitter who is not a contact has nothing to score."""
        ids = self._contact_ids([email for email, *_ in pending if email])
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
            page.rejected.append(RecordRejected(f"hubspot {origin}", None, describe(exc), activity_id))
            return
        if page.high_water is None or page.activities[-1].at > page.high_water:
            page.high_water = page.activities[-1].at

    def _contact_ids(self, emails: list[str]) -> dict[str, str | None]:
        """e-mail -> contact id, from this run's pulls or by batch reads of 100 by the
        unique `email` property (unknown addresses come back as a 207 and map to None)."""
        unknown = sorted({e.lower() for e in emails} - set(self._email_ids))
        for i in range(0, len(unknown), BATCH):
            chunk = unknown[i:i + BATCH]
            body = BatchReadInputSimplePublicObjectId(id_property="email", properties=["email"],
                                                      inputs=[SimplePublicObjectId(id=e) for e in chunk])
            result = self._call(self.contacts_batch.read, batch_read_input_simple_public_object_id=body)
            for record in result.results:
                self._email_ids[str((record.properties or {}).get("email") or "").lower()] = record.id
            for email in chunk:
                self._email_ids.setdefault(email, None)
        return {e.lower(): self._email_ids.get(e.lower()) for e in emails}

    def _raw_get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        """GET an endpoint the SDK has no typed call for (or one whose typed models
        demand more than we read), through the SDK's own client: same connection pool,
        authentication, timeouts and ApiException as every other call."""
        api_client = self.contacts_basic.api_client

        def send(**kwargs):
            response = api_client.call_api(path, "GET", query_params=list(query.items()),
                                           header_params={"Accept": "application/json"}, auth_settings=["oauth2"],
                                           response_types_map={}, _return_http_data_only=True,
                                           _preload_content=False, **kwargs)
            return json.loads(response.data or b"{}")

        return self._call(send)

    def _raw_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to an endpoint through the SDK's own client (see _raw_get)."""
        api_client = self.contacts_basic.api_client

        def send(**kwargs):
            response = api_client.call_api(path, "POST", body=body,
                                           header_params={"Accept": "application/json",
                                                          "Content-Type": "application/json"},
                                           auth_settings=["oauth2"], response_types_map={},
                                           _return_http_data_only=True, _preload_content=False, **kwargs)
            return json.loads(response.data or b"{}")

        return self._call(send)

    def _raw_pages(self, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            result = self._raw_get(path, {**query, **({"after": after} if after else {})})
            yield from result.get("results", [])
            after = (result.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return
