"""The sandbox's HubSpot activity APIs: Events API occurrences, forms and their
submissions, and the marketing e-mail event log, as HubSpot pages and filters them."""

from __future__ import annotations

import base64
import bisect
import re
import uuid
from typing import TYPE_CHECKING, Any

from mqlsync.connector.crms.hubspot.sandbox.wire import PORTAL_ID, _iso, _ms, error
from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox


def _cursor(request: Request, name: str) -> int:
    """A paging cursor the sandbox handed out (base64 of an offset); 0 when absent."""
    raw = request.arg(name)
    return int(base64.urlsafe_b64decode(raw).decode()) if raw else 0


class PortalActivity:
    """The portal's activity and the APIs that serve it (state under `portal`'s lock)."""

    event_count = 0
    submission_count = 0

    def __init__(self, portal: HubSpotSandbox) -> None:
        self.portal = portal
        self.events_by_type: dict[str, list[dict[str, Any]]] = {}
        self._events_sorted: set[str] = set()
        self.forms: dict[str, dict[str, Any]] = {}
        self.email_events: list[dict[str, Any]] = []
        self.email_by_type: dict[str, list[dict[str, Any]]] = {}
        self.marketing_events: dict[str, dict[str, Any]] = {}
        self._email_sorted: set[str] = set()

    def routes(self) -> list[tuple[str, re.Pattern, Any]]:
        return [
            ("GET", re.compile(r"/events/v3/events/?"), self.list_events),
            ("GET", re.compile(r"/marketing/v3/forms/?"), self.list_forms),
            ("GET", re.compile(r"/form-integrations/v1/submissions/forms/([0-9a-f-]+)"), self.list_submissions),
            ("GET", re.compile(r"/email/public/v1/events"), self.list_email_events),
            ("GET", re.compile(r"/marketing/v3/marketing-events/?"), self.list_marketing_events),
            ("GET", re.compile(r"/marketing/v3/marketing-events/participations/(\d+)/breakdown"),
             self.list_participations),
        ]

    def add_event(self, event_type: str, contact_id: str, occurred_ms: int, properties: dict[str, str]) -> None:
        with self.portal.lock:
            self.event_count += 1
            self.events_by_type.setdefault(event_type, []).append(
                {"id": str(uuid.UUID(int=self.event_count)), "eventType": event_type, "objectType": "contact",
                 "objectId": contact_id, "occurredAt": occurred_ms, "properties": properties})
            self._events_sorted.discard(event_type)

    def add_form(self, name: str) -> str:
        """A HubSpot form (GET /marketing/v3/forms/ lists them); returns its guid."""
        with self.portal.lock:
            for guid, form in self.forms.items():
                if form["name"] == name:
                    return guid
            guid = str(uuid.UUID(int=len(self.forms) + 0x5000))
            self.forms[guid] = {"id": guid, "name": name, "formType": "hubspot", "createdAt": _iso(0),
                                "updatedAt": _iso(0), "archived": False, "submissions": []}
            return guid

    def add_submission(self, form_guid: str, values: dict[str, str], submitted_ms: int, page_url: str) -> None:
        with self.portal.lock:
            form = self.forms[form_guid]
            self.submission_count += 1  # conversion ids are unique across the portal
            form["submissions"].append({"conversionId": str(uuid.UUID(int=0x7000000 + self.submission_count)),
                                        "submittedAt": submitted_ms, "pageUrl": page_url,
                                        "values": [{"name": k, "value": v} for k, v in values.items()]})
            form["sorted"] = False

    def add_email_event(self, kind: str, recipient: str, created_ms: int, campaign_id: int,
                        url: str | None = None, filtered: bool = False) -> None:
        """A marketing e-mail event as the Email Events API reports it: id, created (ms),
        type, recipient, portalId, appId, emailCampaignId, and url for clicks;
        `filtered` for one HubSpot marks as a bot's or a machine's (filteredEvent)."""
        with self.portal.lock:
            event = {"id": str(uuid.UUID(int=0x9000000 + len(self.email_events))), "created": created_ms,
                     "type": kind, "recipient": recipient, "portalId": PORTAL_ID, "appId": 113,
                     "appName": "BatchEmail", "emailCampaignId": campaign_id}
            if url:
                event["url"] = url
            if filtered:
                event["filteredEvent"] = True
            self.email_events.append(event)
            self.email_by_type.setdefault(kind, []).append(event)
            self._email_sorted -= {kind, "*"}  # "*" is the all-types view: self.email_events

    def _email_of(self, kind: str | None) -> list[dict[str, Any]]:
        """Events of one type (or all), sorted by created time, sorted lazily."""
        key = kind or "*"
        rows = self.email_by_type.setdefault(key, self.email_events if kind is None else [])
        if key not in self._email_sorted:
            rows.sort(key=lambda e: (e["created"], e["id"]))
            self._email_sorted.add(key)
        return rows

    def _events_of(self, event_type: str) -> list[dict[str, Any]]:
        rows = self.events_by_type.get(event_type, [])
        if event_type not in self._events_sorted:
            rows.sort(key=lambda e: (e["occurredAt"], e["id"]))
            self._events_sorted.add(event_type)
        return rows

    # --- events -----------------------------------------------------------------------------

    def list_events(self, request: Request, match: re.Match) -> Response:
        """GET /events/v3/events: occurrences of one event type, filterable by object
        and time, paged by an opaque cursor (event analytics API reference)."""
        limit = min(int(request.arg("limit", "20")), 100)
        offset = _cursor(request, "after")
        event_type, object_id = request.arg("eventType"), request.arg("objectId")
        after_ms, before_ms = _ms(request.arg("occurredAfter")), _ms(request.arg("occurredBefore"))
        # The spec's wording changed: versions to 2025-12 took ASCENDING or DESCENDING;
        # from 2026-02 "Supported value: occurredAt (ascending) or -occurredAt
        # (descending)" (events.json, HubSpot's public API spec). Both are served.
        sort = request.arg("sort") or "-occurredAt"
        descending = sort.startswith("-") or sort.upper().startswith("DESC")
        with self.portal.lock:
            if event_type:
                rows = self._events_of(event_type)
            else:
                rows = sorted((e for t in list(self.events_by_type) for e in self._events_of(t)),
                              key=lambda e: (e["occurredAt"], e["id"]))
            at = lambda e: e["occurredAt"]  # noqa: E731
            lo = bisect.bisect_right(rows, after_ms, key=at) if after_ms is not None else 0
            hi = bisect.bisect_left(rows, before_ms, key=at) if before_ms is not None else len(rows)
            if object_id:
                view = [e for e in rows[lo:hi] if e["objectId"] == object_id]
                lo, hi, rows = 0, len(view), view
            total = hi - lo
            if descending:
                page = rows[max(lo, hi - offset - limit):hi - offset][::-1] if offset < total else []
            else:
                page = rows[lo + offset:min(hi, lo + offset + limit)]
        body: dict[str, Any] = {"results": [dict(e, occurredAt=_iso(e["occurredAt"])) for e in page]}
        if offset + limit < total:
            token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
            body["paging"] = {"next": {"after": token, "link": f"?after={token}"}}
        return Response(200, body)

    def list_forms(self, request: Request, match: re.Match) -> Response:
        """GET /marketing/v3/forms/ (forms API v3): the portal's forms, paged."""
        limit = min(int(request.arg("limit", "20")), 100)
        offset = int(request.arg("after") or 0)
        forms = [{k: v for k, v in f.items() if k not in ("submissions", "sorted")} for f in self.forms.values()]
        body: dict[str, Any] = {"results": forms[offset:offset + limit]}
        if offset + limit < len(forms):
            body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
        return Response(200, body)

    def list_submissions(self, request: Request, match: re.Match) -> Response:
        """GET /form-integrations/v1/submissions/forms/{guid} (forms API v1): newest first,
        at most 50 a page, cursor in paging.next.after."""
        form = self.forms.get(match.group(1))
        if form is None:
            return error(404, "OBJECT_NOT_FOUND", f"Form {match.group(1)} does not exist")
        limit = int(request.arg("limit", "20"))
        if not 1 <= limit <= 50:
            return error(400, "VALIDATION_ERROR", f"limit must be between 1 and 50, got {limit}")
        offset = _cursor(request, "after")
        with self.portal.lock:
            if not form.get("sorted", True):
                form["submissions"].sort(key=lambda x: (-x["submittedAt"], x["conversionId"]))
                form["sorted"] = True
            page = form["submissions"][offset:offset + limit]
            more = offset + limit < len(form["submissions"])
        body: dict[str, Any] = {"results": page}
        if more:
            token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
            body["paging"] = {"next": {"after": token, "link": ""}}
        return Response(200, body)

    def list_email_events(self, request: Request, match: re.Match) -> Response:
        """GET /email/public/v1/events (email analytics API v1): filtered by type,
        recipient and a created time range, paged by `offset` while `hasMore`. "Events
        will be returned in reverse-chronological order"; bot and machine events
        (filteredEvent) are included unless excludeFilteredEvents=true (Email Events API
        reference: excludeFilteredEvents, default false)."""
        limit = min(int(request.arg("limit", "100")), 1000)
        offset = _cursor(request, "offset")
        kind, recipient = request.arg("eventType"), request.arg("recipient")
        start, end = _ms(request.arg("startTimestamp")), _ms(request.arg("endTimestamp"))
        with self.portal.lock:
            events = self._email_of(kind.upper() if kind else None)
            created = lambda e: e["created"]  # noqa: E731
            lo = bisect.bisect_left(events, start, key=created) if start is not None else 0
            hi: int | None = bisect.bisect_right(events, end, key=created) if end is not None else len(events)
            exclude = (request.arg("excludeFilteredEvents") or "").lower() == "true"
            if recipient or exclude:
                events, lo, hi = [e for e in events[lo:hi] if (not recipient or e["recipient"] == recipient)
                                  and not (exclude and e.get("filteredEvent"))], 0, None
            total = (hi if hi is not None else len(events)) - lo
            end_at = lo + total  # newest first: page backward from the end of the range
            page = events[max(lo, end_at - offset - limit):max(lo, end_at - offset)][::-1]
        body: dict[str, Any] = {"events": page, "hasMore": offset + limit < total}
        if body["hasMore"]:
            body["offset"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return Response(200, body)

    # --- marketing events (webinars and their participants) ------------------------------

    def add_marketing_event(self, name: str, external_id: str, start_ms: int) -> str:
        """A marketing event as a webinar integration records it; returns its objectId."""
        with self.portal.lock:
            for oid, event in self.marketing_events.items():
                if event["externalEventId"] == external_id:
                    return oid
            oid = str(800000 + len(self.marketing_events))
            self.marketing_events[oid] = {
                "objectId": oid, "eventName": name, "eventType": "WEBINAR", "externalEventId": external_id,
                "externalAccountId": "sample-webinars", "eventOrganizer": "mqlsync", "startDateTime": _iso(start_ms),
                "endDateTime": _iso(start_ms + 3_600_000), "createdAt": _iso(start_ms), "updatedAt": _iso(start_ms),
                "participations": []}
            return oid

    def add_participation(self, event_id: str, contact_id: str, email: str | None, state: str, occurred_ms: int,
                          duration_s: int | None = None) -> None:
        with self.portal.lock:
            event = self.marketing_events[event_id]
            self.participation_count += 1
            props: dict[str, Any] = {"attendanceState": state, "occurredAt": occurred_ms}
            if duration_s is not None:
                props["attendanceDurationSeconds"] = duration_s
            event["participations"].append({
                "id": str(0x6000000 + self.participation_count), "createdAt": _iso(occurred_ms),
                "associations": {"contact": {"contactId": contact_id, "email": email},
                                 "marketingEvent": {"marketingEventId": event_id, "name": event["eventName"],
                                                    "externalAccountId": event["externalAccountId"],
                                                    "externalEventId": event["externalEventId"]}},
                "properties": props})
            event["updatedAt"] = _iso(max(_ms(event["updatedAt"]) or 0, occurred_ms))

    participation_count = 0

    def list_marketing_events(self, request: Request, match: re.Match) -> Response:
        """GET /marketing/v3/marketing-events/: the portal's marketing events, paged."""
        limit = min(int(request.arg("limit", "10")), 100)
        offset = int(request.arg("after") or 0)
        events = [{k: v for k, v in e.items() if k != "participations"} for e in self.marketing_events.values()]
        body: dict[str, Any] = {"results": events[offset:offset + limit]}
        if offset + limit < len(events):
            body["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
        return Response(200, body)

    def list_participations(self, request: Request, match: re.Match) -> Response:
        """GET /marketing/v3/marketing-events/participations/{marketingEventId}/breakdown
        (participant state API): one event's participations, filterable by state."""
        event = self.marketing_events.get(match.group(1))
        if event is None:
            return error(404, "OBJECT_NOT_FOUND", f"Marketing event {match.group(1)} does not exist")
        limit = min(int(request.arg("limit", "10")), 100)
        offset = _cursor(request, "after")
        state = request.arg("state")
        with self.portal.lock:
            rows = [p for p in event["participations"] if not state or p["properties"]["attendanceState"] == state]
        body: dict[str, Any] = {"results": rows[offset:offset + limit], "total": len(rows)}
        if offset + limit < len(rows):
            token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
            body["paging"] = {"next": {"after": token, "link": ""}}
        return Response(200, body)
