"""A HubSpot portal in memory, answering the CRM v3 and Events v3 requests that
hubspot-api-client sends, with HubSpot's paths, shapes, limits and error bodies.

Sources for each behaviour are cited where it is implemented. Where HubSpot's exact
wording is not documented, the shape is kept and the message is ours."""

from __future__ import annotations

import base64
import bisect
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, cast

from mqlsync.connector.crms.hubspot.sandbox.access import Access
from mqlsync.connector.crms.hubspot.sandbox.activity import PortalActivity
from mqlsync.connector.crms.hubspot.sandbox.records import (
    HISTORY_PAGE,
    ContactCalls,
    history_arg,
    record_change,
    with_history,
)
from mqlsync.connector.crms.hubspot.sandbox.wire import _iso, _ms, error
from mqlsync.connector.sandbox.server import BurstLimiter, Emulation, Request, Response

# HubSpot's usage guidelines: private apps get a burst limit per 10-second window
# (100 requests on Free/Starter, more on higher tiers) and a daily limit
# (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details).
BURST_LIMIT, BURST_WINDOW_S, DAILY_LIMIT = 100, 10.0, 250_000
#: a private app's burst limit by the portal's tier ("Free and Starter | 100 / app";
#: Professional and Enterprise 190 per 10 seconds: API usage guidelines)
BURST_BY_TIER = {"starter": BURST_LIMIT, "professional": 190, "enterprise": 190}
# The CRM search endpoints have their own per-second limit and answer 429 without
# the X-HubSpot-RateLimit-* headers (same guidelines, "search" section).
SEARCH_PER_SECOND = 5
# Search: at most 200 results a page, and no paging past 10,000 results in all
# (https://developers.hubspot.com/docs/api/crm/search, "Limitations").
SEARCH_PAGE_MAX, SEARCH_CAP = 200, 10_000
# Batch endpoints take at most 100 inputs (CRM objects API reference, batch limits).
BATCH_MAX = 100
# Task -> contact association type id for HUBSPOT_DEFINED associations
# (https://developers.hubspot.com/docs/api/crm/associations, default type ids).
TASK_TO_CONTACT, CONTACT_TO_TASK = 204, 203

_DEFAULT_PROPS = ("createdate", "hs_object_id", "lastmodifieddate")
_ENGAGEMENT_DEFAULT_PROPS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
#: the typed properties of engagement objects (tasks, meetings, calls) that searches
#: filter and sort on
ENGAGEMENT_TYPES = {"hs_timestamp": "datetime", "hs_createdate": "datetime", "hs_lastmodifieddate": "datetime",
                    "hs_call_duration": "number", "closedate": "datetime", "amount": "number"}
#: v4 association type ids, HUBSPOT_DEFINED, engagement -> contact (associations API)
ENGAGEMENT_TO_CONTACT = {"meetings": 200, "calls": 194, "deals": 3}

# The HubSpot-defined contact properties the default mapping reads, as
# GET /crm/v3/properties/contacts describes them (type/fieldType pairs per the
# properties API: string/text, number/number, enumeration/select, bool/booleancheckbox,
# datetime/date).
_HS_PROPERTIES: list[tuple[str, str, str, str, list[str]]] = [
    ("firstname", "First Name", "string", "text", []),
    ("lastname", "Last Name", "string", "text", []),
    ("email", "Email", "string", "text", []),
    ("jobtitle", "Job Title", "string", "text", []),
    ("company", "Company Name", "string", "text", []),
    ("phone", "Phone Number", "string", "phonenumber", []),
    ("numemployees", "Number of Employees", "enumeration", "select",
     ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"]),
    ("industry", "Industry", "string", "text", []),
    ("country", "Country/Region", "string", "text", []),
    ("city", "City", "string", "text", []),
    ("hs_analytics_source", "Original Source", "enumeration", "select",
     ["ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
      "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL"]),
    ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox", ["true", "false"]),
    ("hubspot_owner_id", "Contact owner", "enumeration", "select", []),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
     ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
      "evangelist", "other"]),
    ("hs_lead_status", "Lead Status", "enumeration", "radio",
     ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
      "BAD_TIMING"]),
    ("createdate", "Create Date", "datetime", "date", []),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date", []),
    ("hs_object_id", "Record ID", "number", "number", []),
    # Set by HubSpot on the primary contact of a merge: the merged-away ids, joined by ";"
    # (knowledge base, "Merge records"; the property is read-only).
    ("hs_merged_object_ids", "Merged Contact IDs", "enumeration", "checkbox", []),
]


def _no_associations(to: str, ids: list[str]) -> dict[str, Any]:
    """A batch read input with no associations: 207, NO_ASSOCIATIONS_FOUND (as HubSpot
    answers; the research file quotes its bodies)."""
    return {"status": "error", "category": "NO_ASSOCIATIONS_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {to} is associated with {', '.join(ids[:3])}{'...' if len(ids) > 3 else ''}.",
            "context": {"fromObjectId": ids}}


class HubSpotSandbox(Emulation):
    """The portal: contacts, property definitions, owners, tasks and events."""

    name = "hubspot"

    def __init__(self, token: str = "sandbox-token", burst_limit: int | None = None,
                 burst_window_s: float = BURST_WINDOW_S, tier: str = "enterprise",
                 scopes: Iterable[str] | None = None) -> None:
        self.token = token
        #: the portal's tier and the token's scopes (None: all of them)
        self.access = Access(tier, scopes)
        self.lock = threading.RLock()
        #: associations per record per page in v4 batch reads (tests set it small)
        self.association_page = 500
        self.contacts: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.owners: list[dict[str, Any]] = []
        self.properties: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {
            "contactinformation": {"name": "contactinformation", "label": "Contact information",
                                   "displayOrder": 0, "archived": False}}
        for name, label, type_, field_type, options in _HS_PROPERTIES:
            self._define(name, label, type_, field_type, "contactinformation", options, hubspot_defined=True)
        self.next_id = 100
        self.rng = random.Random(0)
        # Indexes, so a portal of 100,000 contacts answers as fast as a small one:
        # contact ids in order (they only grow), events per type sorted lazily by time,
        # and search results per query until the data changes.
        self.contact_ids: list[int] = []
        self.version = 0
        self._search_cache: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self.clock_ms = 0
        self.burst = BurstLimiter(burst_limit or BURST_BY_TIER[tier], burst_window_s)
        self.search_window = BurstLimiter(SEARCH_PER_SECOND, 1.0)
        #: searches a second other integrations on the portal make: "The search endpoints
        #: are rate limited to five requests per second per account" (CRM search guide,
        #: Limits), shared by every app on the portal, unlike the per-app burst limit
        self.others_searching = 0
        self.daily_used, self.daily_limit = 0, DAILY_LIMIT
        #: record id -> how long its latest change takes to show in search (ms)
        self.index_lag_ms: dict[str, int] = {}
        self.routes = [
            ("GET", re.compile(r"/crm/v3/objects/contacts"), self.list_contacts),
            ("GET", re.compile(r"/crm/v3/objects/contacts/(\d+)"), self.get_contact),
            ("POST", re.compile(r"/crm/v3/objects/contacts/search"), self.search_contacts),
            ("POST", re.compile(r"/crm/v3/objects/contacts/batch/read"), self.batch_read),
            ("POST", re.compile(r"/crm/v3/objects/contacts/batch/update"), self.batch_update),
            ("GET", re.compile(r"/crm/v3/properties/contacts"), self.list_properties),
            ("POST", re.compile(r"/crm/v3/properties/contacts"), self.create_property),
            ("GET", re.compile(r"/crm/v3/properties/contacts/groups"), self.list_groups),
            ("POST", re.compile(r"/crm/v3/properties/contacts/groups"), self.create_group),
            ("GET", re.compile(r"/crm/v3/properties/contacts/(\w+)"), self.get_property),
            ("GET", re.compile(r"/crm/v3/owners/?"), self.list_owners),
            ("GET", re.compile(r"/crm/v3/objects/tasks"), self.list_tasks),
            ("GET", re.compile(r"/crm/v3/objects/tasks/(\d+)"), self.get_task),
            ("POST", re.compile(r"/crm/v3/objects/tasks"), self.create_task),
            ("POST", re.compile(r"/crm/v3/objects/tasks/batch/create"), self.batch_create_tasks),
            ("POST", re.compile(r"/crm/v3/objects/tasks/search"), self.search_tasks),
            ("POST", re.compile(r"/crm/v3/objects/tasks/batch/read"), self.batch_read_tasks),
            ("POST", re.compile(r"/crm/v4/associations/contacts/tasks/batch/read"), self.read_contact_tasks),
            ("GET", re.compile(r"/crm/v3/lists/object-type-id/([0-9-]+)/name/(.+)"), self.get_list_by_name),
            ("POST", re.compile(r"/crm/v3/lists/?"), self.create_list),
            ("PUT", re.compile(r"/crm/v3/lists/(\d+)/memberships/add-and-remove"), self.change_members),
            ("POST", re.compile(r"/crm/v3/objects/(meetings|calls|deals)/search"), self.search_engagements),
            ("POST", re.compile(r"/crm/v4/associations/(meetings|calls|deals)/contacts/batch/read"),
             self.read_engagement_contacts),
        ]
        #: meetings and calls reps log, and deals (searched and associated the same way)
        self.engagements: dict[str, dict[str, dict[str, Any]]] = {"meetings": {}, "calls": {}, "deals": {}}
        self.lists: dict[str, dict[str, Any]] = {}
        self.activity = PortalActivity(self)
        self.routes += self.activity.routes() + ContactCalls(self).routes()

    # --- the portal's state ------------------------------------------------------------

    def now_ms(self) -> int:
        """HubSpot's clock: milliseconds that never go backward. Records written in the
        same millisecond share a lastmodifieddate, as in HubSpot (a batch of 100 often
        does), which is why incremental reads compare with >= and deduplicate."""
        with self.lock:
            self.clock_ms = max(self.clock_ms, int(time.time() * 1000))
            return self.clock_ms

    def new_id(self) -> str:
        with self.lock:
            self.next_id += 1
            return str(self.next_id)

    def _define(self, name: str, label: str, type_: str, field_type: str, group: str,
                options: list[str], hubspot_defined: bool = False, description: str = "") -> dict[str, Any]:
        prop = {"name": name, "label": label, "type": type_, "fieldType": field_type, "groupName": group,
                "description": description, "hidden": False, "formField": False, "calculated": False,
                "externalOptions": False, "hasUniqueValue": False, "hubspotDefined": hubspot_defined,
                "displayOrder": -1, "archived": False, "createdAt": _iso(0), "updatedAt": _iso(0),
                "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                         "readOnlyValue": name in _DEFAULT_PROPS + ("hs_merged_object_ids",)},
                "options": [{"label": o, "value": o, "displayOrder": i, "hidden": False}
                            for i, o in enumerate(options)]}
        self.properties[name] = prop
        return prop

    def add_contact(self, properties: dict[str, str | None], created_ms: int | None = None,
                    source: str = "CRM_UI") -> str:
        cid = self.new_id()
        now = self.now_ms()
        created = created_ms or now
        props = {k: v for k, v in properties.items() if v is not None}
        props.update(hs_object_id=cid, createdate=_iso(created), lastmodifieddate=_iso(now))
        with self.lock:
            self.contacts[cid] = {"id": cid, "properties": props, "createdAt": created, "updatedAt": now}
            record_change(self.contacts[cid], {k: v for k, v in props.items() if k != "lastmodifieddate"}, created,
                          source)
            self.contact_ids.append(int(cid))
            self.version += 1
        return cid

    def touch(self, cid: str, changes: dict[str, str | None]) -> None:
        """Change a contact as a HubSpot user would (outside the API: no limits)."""
        with self.lock:
            record = self.contacts[cid]
            record["properties"].update(changes)
            record["updatedAt"] = self.now_ms()
            record["properties"]["lastmodifieddate"] = _iso(record["updatedAt"])
            record_change(record, changes, record["updatedAt"], "CRM_UI")
            self.version += 1

    def apply(self, record: dict[str, Any], properties: dict[str, Any], source: str) -> None:
        """Property values written through the API, as HubSpot keeps them (a backward
        lifecycle stage is not made), each change in the property's history."""
        applied = {k: self._stored(k, v) for k, v in properties.items() if not self._kept(record, k, v)}
        record["properties"].update(applied)
        record["updatedAt"] = self.now_ms()
        record["properties"]["lastmodifieddate"] = _iso(record["updatedAt"])
        record_change(record, applied, record["updatedAt"], source)
        self.version += 1

    def backdate(self, cid: str, name: str, at_ms: int) -> None:
        """When the property's current value was set (a seed's past, not now)."""
        with self.lock:
            entries = self.contacts[cid].get("history", {}).get(name)
            if entries:
                entries[0]["timestamp"] = _iso(at_ms)

    def merge(self, primary: str, merged: str) -> str:
        """Merge two contacts as HubSpot does: the primary stays, the other's id joins
        its hs_merged_object_ids, and the other is gone (reads and writes of its id no
        longer find it); its events and engagements now show on the primary."""
        with self.lock:
            old = self.contacts.pop(merged)
            props = self.contacts[primary]["properties"]
            ids = [i for i in (props.get("hs_merged_object_ids") or "").split(";") if i]
            ids += [merged] + [i for i in (old["properties"].get("hs_merged_object_ids") or "").split(";") if i]
            self.touch(primary, {"hs_merged_object_ids": ";".join(ids)})
            for events in self.activity.events_by_type.values():
                for event in events:
                    if str(event.get("objectId")) == merged:
                        event["objectId"] = primary
            return primary

    def add_owner(self, owner_id: str, email: str, first: str, last: str) -> None:
        self.owners.append({"id": owner_id, "email": email, "firstName": first, "lastName": last,
                            "userId": int(owner_id) % 100000, "createdAt": _iso(0), "updatedAt": _iso(0),
                            "archived": False, "teams": []})

    def admin(self, request: Request) -> Response | None:
        """What a HubSpot user does in the app, for tests against a sandbox in another
        process: edit a contact, record an event, look at tasks and contacts."""
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == "/__sandbox/access" and request.method == "POST":
            self.access.set(str(body.get("tier", self.access.tier)), body.get("scopes"))
            return Response(200, {"tier": self.access.tier, "scopes": sorted(self.access.scopes or [])})
        if request.path == "/__sandbox/search-share" and request.method == "POST":
            # Other integrations take this many of the portal's searches each second.
            self.others_searching = min(int(body.get("others", 0)), SEARCH_PER_SECOND - 1)
            self.search_window = BurstLimiter(SEARCH_PER_SECOND - self.others_searching, 1.0)
            return Response(200, {"others": self.others_searching})
        if request.path == "/__sandbox/lifecycle-stages" and request.method == "POST":
            self.set_lifecycle_stages([str(v) for v in body.get("stages") or []])
            return Response(200, self.properties["lifecyclestage"])
        if m := re.fullmatch(r"/__sandbox/contacts/(\d+)", request.path):
            if m.group(1) not in self.contacts:
                return Response(404, {"message": "no such contact"})
            if request.method == "POST":
                self.touch(m.group(1), body.get("properties") or {})
            contact = self.contacts[m.group(1)]
            return Response(200, contact | {"properties": dict(contact["properties"])})
        if m := re.fullmatch(r"/__sandbox/contacts/(\d+)/delete", request.path):
            with self.lock:
                gone = self.contacts.pop(m.group(1), None)
                self.version += 1
            return Response(200 if gone else 404, {"deleted": bool(gone)})
        if request.path == "/__sandbox/merge" and request.method == "POST":
            return Response(200, {"id": self.merge(str(body["primary"]), str(body["merged"]))})
        if request.path == "/__sandbox/deals" and request.method == "POST":
            did = self.add_deal([str(c) for c in body["contacts"]], str(body.get("stage") or "appointmentscheduled"),
                                _ms(body.get("closedate")), body.get("amount"))
            return Response(201, {"id": did})
        if m := re.fullmatch(r"/__sandbox/deals/(\d+)", request.path):
            self.set_deal_stage(m.group(1), str(body["stage"]), _ms(body.get("closedate")))
            return Response(200, {"id": m.group(1)})
        if request.path == "/__sandbox/events" and request.method == "POST":
            self.activity.add_event(str(body["eventType"]), str(body["contactId"]),
                                    _ms(body["occurredAt"]) or self.now_ms(), dict(body.get("properties") or {}))
            return Response(201, {"events": self.activity.event_count})
        if request.path == "/__sandbox/contacts" and request.method == "GET":
            with self.lock:
                return Response(200, {"results": [{"id": c["id"], "properties": dict(c["properties"])}
                                                  for c in self.contacts.values()]})
        if request.path == "/__sandbox/form-submissions" and request.method == "POST":
            guid = self.activity.add_form(str(body["formName"]))
            self.activity.add_submission(guid, dict(body.get("values") or {}),
                                         _ms(body["submittedAt"]) or self.now_ms(), str(body.get("pageUrl", "")))
            return Response(201, {"form": guid})
        if request.path == "/__sandbox/email-events" and request.method == "POST":
            self.activity.add_email_event(str(body["type"]), str(body["recipient"]),
                                          _ms(body["created"]) or self.now_ms(), int(body.get("emailCampaignId", 0)),
                                          body.get("url"), bool(body.get("filteredEvent")))
            return Response(201, {"events": len(self.activity.email_events)})
        if request.path == "/__sandbox/counts" and request.method == "GET":
            with self.lock:
                email: dict[str, int] = {}
                for e in self.activity.email_events:
                    email[e["type"]] = email.get(e["type"], 0) + 1
                participations: dict[str, dict[str, int]] = {}
                for oid, event in self.activity.marketing_events.items():
                    for item in event["participations"]:
                        state = item["properties"]["attendanceState"]
                        participations.setdefault(state, {}).setdefault(oid, 0)
                        participations[state][oid] += 1
                return Response(200, {"contacts": len(self.contacts), "participations": participations,
                                      "engagements": {k: len(v) for k, v in self.engagements.items()},
                                      "events": {t: len(v) for t, v in self.activity.events_by_type.items()},
                                      "forms": {g: len(f["submissions"]) for g, f in self.activity.forms.items()},
                                      "email_events": email})
        if request.path == "/__sandbox/lists" and request.method == "GET":
            return Response(200, {"results": [dict(self._list_public(r), members=sorted(r["members"]))
                                              for r in self.lists.values()]})
        if request.path == "/__sandbox/tasks" and request.method == "GET":
            return Response(200, {"results": [dict(self._task_public(t), contacts=sorted(t["contacts"]))
                                              for t in self.tasks.values()]})
        return None

    # --- limits, auth and errors -----------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        # A private app token goes in the Authorization header as a Bearer token.
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "INVALID_AUTHENTICATION",
                         "Authentication credentials not found. This API supports OAuth 2.0 authentication.")
        return self.access.refusal(request)

    def _is_search(self, request: Request) -> bool:
        return request.method == "POST" and request.path.endswith("/search")

    def rate_limit(self, request: Request) -> Response | None:
        if self._is_search(request):
            # Search is exempt from the 10-second window, not from the daily limit
            # (search specs: x-hubspot-rate-limit-exemptions: ["ten-secondly"]).
            with self.lock:
                self.daily_used += 1
            allowed, _, _ = self.search_window.take()
            if not allowed:
                # The search limit answers without rate-limit headers or Retry-After.
                return Response(429, {"status": "error", "message": "You have reached your secondly limit.",
                                      "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()),
                                      "policyName": "SECONDLY"})
            return None
        with self.lock:
            self.daily_used += 1
            over_daily = self.daily_used > self.daily_limit
        if over_daily:
            # The daily limit resets at midnight in the portal's time zone: every call
            # until then is a 429 naming the DAILY policy (usage guidelines).
            body = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()), "policyName": "DAILY"}
            return Response(429, body, self._limit_headers(0))
        allowed, remaining, reset = self.burst.take()
        if allowed:
            return None
        return self.throttled(request, reset)

    def throttled(self, request: Request, reset_s: float = BURST_WINDOW_S) -> Response:
        body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "TEN_SECONDLY_ROLLING"}
        return Response(429, body, {**self._limit_headers(0), "Retry-After": str(max(1, round(reset_s)))})

    def server_error(self, request: Request, status: int) -> Response:
        # The statuses of HubSpot's error handling guide (developers.hubspot.com/docs/api/error-handling).
        if status == 423:
            return error(423, "LOCKED", "The record is locked while a large volume of data syncs; retry in 2 seconds")
        if status == 477:
            migrating = error(477, "MIGRATION_IN_PROGRESS", "This portal's data is being migrated to another "
                                                            "data center")
            migrating.headers["Retry-After"] = "3600"
            return migrating
        return error(status, "INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE",
                     "The service is temporarily unavailable. Please try again.")

    def _limit_headers(self, remaining: int) -> dict[str, str]:
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.burst.window_s * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.burst.limit), "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self.daily_used))}

    def rate_headers(self, request: Request) -> dict[str, str]:
        if self._is_search(request):
            return {}
        return self._limit_headers(max(0, self.burst.limit - self.burst.used))

    def not_found(self, request: Request) -> Response:
        return error(404, "OBJECT_NOT_FOUND", f"No route for {request.method} {request.path}")

    # --- contacts ----------------------------------------------------------------------

    def _public(self, record: dict[str, Any], properties: list[str] | None, kind: str = "contacts",
                history: list[str] | None = None) -> dict[str, Any]:
        # Every object type answers with its own default properties besides those asked for.
        defaults = _DEFAULT_PROPS if kind == "contacts" else _ENGAGEMENT_DEFAULT_PROPS
        wanted = list(defaults) + [p for p in (properties or []) if p not in defaults]
        props = record["properties"]
        out = {"id": record["id"], "properties": {name: props.get(name) for name in wanted},
               "createdAt": _iso(record["createdAt"]), "updatedAt": _iso(record["updatedAt"]), "archived": False}
        if history:
            out["propertiesWithHistory"] = with_history(record, history)
        return out

    @staticmethod
    def _properties_arg(request: Request) -> list[str]:
        out: list[str] = []
        for value in request.query.get("properties", []):
            out.extend(p for p in value.split(",") if p)
        return out

    def list_contacts(self, request: Request, match: re.Match) -> Response:
        history = history_arg(request)
        limit = min(int(request.arg("limit", "10")), HISTORY_PAGE if history else 100)
        after = int(request.arg("after", "0") or 0)
        with self.lock:
            ids = self.contact_ids
            start = bisect.bisect_right(ids, after)
            wanted = self._properties_arg(request)
            page = [self._public(self.contacts[str(i)], wanted, history=history) for i in ids[start:start + limit]]
        body: dict[str, Any] = {"results": page}
        if page and ids[-1] > int(page[-1]["id"]):
            body["paging"] = {"next": {"after": page[-1]["id"], "link": f"?after={page[-1]['id']}"}}
        return Response(200, body)

    def get_contact(self, request: Request, match: re.Match) -> Response:
        record = self.contacts.get(match.group(1))
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        return Response(200, self._public(record, self._properties_arg(request), history=history_arg(request)))

    def _type_of(self, kind: str, name: str) -> str | None:
        """A property's type: from the definitions for contacts; engagements (tasks,
        meetings, calls) have HubSpot's fixed hs_ time and number properties."""
        if kind == "contacts":
            prop = self.properties.get(name)
            return prop["type"] if prop else None
        return ENGAGEMENT_TYPES.get(name)

    def _matches(self, props: dict[str, Any], flt: dict[str, Any], associations: dict[str, set[str]],
                 kind: str = "contacts") -> bool:
        name, op = flt.get("propertyName", ""), flt.get("operator", "EQ")
        if name.startswith("associations."):
            linked = associations.get(name.split(".", 1)[1], set())
            return str(flt.get("value")) in linked if op == "EQ" else str(flt.get("value")) not in linked
        value = props.get(name)
        if op == "HAS_PROPERTY":
            return value not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return value in (None, "")
        if value in (None, ""):
            return op in ("NEQ", "NOT_IN")
        prop_type = self._type_of(kind, name)
        if op == "CONTAINS_TOKEN":
            return str(flt.get("value", "")).lower().strip("*") in str(value).lower()
        if op in ("IN", "NOT_IN"):
            inside = str(value).lower() in {str(v).lower() for v in flt.get("values", [])}
            return inside if op == "IN" else not inside

        def key(v: Any) -> Any:
            if prop_type in ("datetime", "date"):
                return _ms(v)
            if prop_type == "number":
                try:
                    return float(v)
                except (TypeError, ValueError):
                    return None
            return str(v).lower()

        left, right = key(value), key(flt.get("value"))
        if left is None or right is None:
            return False
        if op == "EQ":
            return left == right
        if op == "NEQ":
            return left != right
        if op == "GT":
            return left > right
        if op == "GTE":
            return left >= right
        if op == "LT":
            return left < right
        if op == "LTE":
            return left <= right
        if op == "BETWEEN":
            high = key(flt.get("highValue"))
            return high is not None and right <= left <= high
        return False

    def _search(self, request: Request, records: dict[str, dict[str, Any]], kind: str,
                associations_of) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > SEARCH_PAGE_MAX:
            return error(400, "VALIDATION_ERROR", f"limit must be at most {SEARCH_PAGE_MAX}, got {limit}")
        if after + limit > SEARCH_CAP:
            # The search API cannot page past 10,000 results: a 400, not an empty page.
            return error(400, "VALIDATION_ERROR",
                         f"Paging past {SEARCH_CAP:,} results is not supported: narrow the search "
                         f"(after={after}, limit={limit})")
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters", [])) for g in groups) > 18:
            return error(400, "VALIDATION_ERROR", "Too many filters: at most 5 filter groups and 18 filters")
        for group in groups:
            for flt in group.get("filters", []):
                name = flt.get("propertyName", "")
                if kind == "contacts" and not name.startswith("associations.") and name not in self.properties:
                    return error(400, "VALIDATION_ERROR", f"Property \"{name}\" does not exist", subCategory="")
        # Paging through one query re-runs it with another `after`: keep its rows until
        # anything changes, as a 100,000-contact portal would otherwise filter per page.
        cache_key = json.dumps([kind, groups, body.get("sorts")], sort_keys=True)
        with self.lock:
            cached = self._search_cache.get(cache_key)
            if self.index_lag_ms:
                # A change shows in search only once indexed, a few moments after it is
                # made (CRM search guide); `index_lag_ms` sets that delay per record.
                now = self.now_ms()
                records = {k: r for k, r in records.items()
                           if r.get("updatedAt", 0) + self.index_lag_ms.get(k, 0) <= now}
                cached = None
            if cached and cached[0] == self.version:
                rows = cached[1]
                return self._search_page(rows, after, limit, body, kind)
            rows = [r for r in records.values()
                    if not groups or any(all(self._matches(r["properties"], f, associations_of(r), kind)
                                             for f in g.get("filters", [])) for g in groups)]
        sorts = body.get("sorts") or []
        if sorts:
            sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": sorts[0], "direction": "ASCENDING"}
            name = sort.get("propertyName", "hs_object_id")
            is_time = self._type_of(kind, name) in ("datetime", "date")
            rows.sort(key=lambda r: ((_ms(r["properties"].get(name)) or 0) if is_time
                                     else str(r["properties"].get(name) or ""), int(r["id"])),
                      reverse=sort.get("direction") == "DESCENDING")
        else:
            rows.sort(key=lambda r: int(r["id"]))
        if not self.index_lag_ms:
            with self.lock:
                self._search_cache[cache_key] = (self.version, rows)
        return self._search_page(rows, after, limit, body, kind)

    def _search_page(self, rows: list[dict[str, Any]], after: int, limit: int, body: dict[str, Any],
                     kind: str) -> Response:
        page = rows[after:after + limit]
        out: dict[str, Any] = {"total": len(rows),
                               "results": [self._public(r, body.get("properties"), kind) for r in page]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, out)

    def search_contacts(self, request: Request, match: re.Match) -> Response:
        return self._search(request, self.contacts, "contacts", lambda r: {})

    def batch_read(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of {BATCH_MAX}")
        started = _iso(self.now_ms())
        found, missing = [], []
        # idProperty names a unique property to look contacts up by, e.g. email
        # (CRM objects API, "batch read ... by a unique property").
        id_property = body.get("idProperty")
        with self.lock:
            by_value = ({str(c["properties"].get(id_property, "")).lower(): c for c in self.contacts.values()}
                        if id_property else None)
            for item in inputs:
                key = str(item.get("id"))
                record = by_value.get(key.lower()) if by_value is not None else self.contacts.get(key)
                (found.append(self._public(record, body.get("properties"), history=body.get("propertiesWithHistory")))
                 if record else missing.append(key))
        return self._batch_response(found, missing, started, "get")

    def _batch_response(self, results: list, missing: list[str], started: str, verb: str,
                        ok_status: int = 200) -> Response:
        # Batch results come back in no guaranteed order (CRM API reference, batch
        # endpoints): shuffled here, so a client matching them by position fails in tests.
        results = list(results)
        self.rng.shuffle(results)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _iso(self.now_ms())}
        if not missing:
            return Response(ok_status, out)
        # Some inputs failed: 207 Multi-Status, the others done, the failures listed.
        out["numErrors"] = 1
        out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                          "message": f"Could not {verb} some CONTACT objects, they may be deleted or not exist. "
                                     "Check that ids are valid.",
                          "context": {"ids": missing}}]
        return Response(207, out)

    def batch_update(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of {BATCH_MAX}")
        # Validation is all or nothing: one bad value refuses the whole batch.
        for item in inputs:
            for name, value in (item.get("properties") or {}).items():
                problem = self._invalid_value(str(item.get("id")), name, value)
                if problem:
                    return error(400, "VALIDATION_ERROR", f"Property values were not valid: {problem}",
                                 errors=[{"message": problem, "code": "INVALID_OPTION" if "option" in problem
                                          else "PROPERTY_DOESNT_EXIST" if "does not exist" in problem
                                          else "INVALID_VALUE", "context": {"propertyName": [name]}}])
        started = _iso(self.now_ms())
        done, missing = [], []
        with self.lock:
            for item in inputs:
                cid = str(item.get("id"))
                record = self.contacts.get(cid)
                if record is None:
                    missing.append(cid)
                    continue
                self.apply(record, item["properties"], "INTEGRATION")
                done.append(self._public(record, list(item["properties"])))
        return self._batch_response(done, missing, started, "update")

    def _stored(self, name: str, value: Any) -> Any:
        """A written value as HubSpot keeps it: empty clears it; a datetime, given as
        epoch milliseconds or ISO 8601, reads back as ISO 8601 in UTC to the millisecond
        (API FAQ, "How should timestamps be formatted": accepted as Unix milliseconds,
        shown in responses in ISO 8601)."""
        if value in (None, ""):
            return None
        if (self.properties.get(name) or {}).get("type") == "datetime":
            return _iso(_ms(value))  # type: ignore[arg-type]  # validated before
        return value

    def _invalid_value(self, cid: str, name: str, value: Any) -> str | None:
        prop = self.properties.get(name)
        if prop is None:
            return f"Property \"{name}\" does not exist"
        if prop["modificationMetadata"].get("readOnlyValue"):
            return f"\"{name}\" is a read only property; its value cannot be set"
        if value in (None, ""):
            return None
        options = {o["value"] for o in prop["options"]} if prop["type"] == "enumeration" else set()
        if options and str(value) not in options:
            return f"{value} was not one of the allowed options for {name}"
        if prop["type"] == "number":
            try:
                float(value)
            except (TypeError, ValueError):
                return f"{value} is not a valid number for {name}"
        if prop["type"] == "bool" and str(value).lower() not in ("true", "false"):
            return f"{value} is not a valid boolean for {name}"
        if prop["type"] == "datetime" and _ms(value) is None:
            return f"{value} is not a valid datetime for {name}"
        return None

    def _kept(self, record: dict[str, Any], name: str, value: Any) -> bool:
        """Whether HubSpot answers a write of `value` and keeps the old one: a lifecycle
        stage set earlier in the portal's order than the contact's (the contacts API v1
        reference: "The Lifecycle stage is not designed to move backwards ... you will
        first need to set the value to "" (an empty string)"; a backward set "get[s] a
        successful 204 Response ... but the change was not made",
        integrate.hubspot.com/t/update-lifecycle-stage-using-api/1333). The order is the
        property's options by displayOrder: a portal's admin adds and reorders stages."""
        current = record["properties"].get("lifecyclestage")
        if name != "lifecyclestage" or value in (None, "") or not current or current == value:
            return False
        options = sorted(self.properties["lifecyclestage"]["options"], key=lambda o: o["displayOrder"])
        order = [o["value"] for o in options]
        return current in order and value in order and order.index(value) < order.index(current)

    # --- properties and groups -----------------------------------------------------------

    def list_properties(self, request: Request, match: re.Match) -> Response:
        return Response(200, {"results": list(self.properties.values())})

    def get_property(self, request: Request, match: re.Match) -> Response:
        """GET /crm/v3/properties/contacts/{propertyName} (properties API v3)."""
        prop = self.properties.get(match.group(1))
        if prop is None:
            return error(404, "OBJECT_NOT_FOUND", f"Unable to find property {match.group(1)}")
        return Response(200, prop)

    def set_lifecycle_stages(self, stages: list[str]) -> None:
        """What an admin does in the lifecycle stage settings: stages added, removed and
        reordered (knowledge base, "Create and customize lifecycle stages")."""
        with self.lock:
            self.properties["lifecyclestage"]["options"] = [
                {"label": s, "value": s, "displayOrder": i, "hidden": False} for i, s in enumerate(stages)]

    def create_property(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        name = str(body.get("name", ""))
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            return error(400, "VALIDATION_ERROR", f"Property name '{name}' is not valid")
        if name in self.properties:
            return error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        if body.get("groupName") not in self.groups:
            return error(400, "VALIDATION_ERROR", f"Property group '{body.get('groupName')}' does not exist")
        pairs = {("string", "text"), ("string", "textarea"), ("number", "number"), ("datetime", "date"),
                 ("date", "date"), ("bool", "booleancheckbox"), ("enumeration", "select"),
                 ("enumeration", "radio"), ("enumeration", "booleancheckbox")}
        if (body.get("type"), body.get("fieldType")) not in pairs:
            return error(400, "VALIDATION_ERROR",
                         f"type {body.get('type')} does not go with fieldType {body.get('fieldType')}")
        with self.lock:
            prop = self._define(name, str(body.get("label", name)), body["type"], body["fieldType"],
                                body["groupName"], [o.get("value") for o in body.get("options") or []],
                                description=str(body.get("description", "")))
        return Response(201, prop)

    def list_groups(self, request: Request, match: re.Match) -> Response:
        return Response(200, {"results": list(self.groups.values())})

    def create_group(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        name = str(body.get("name", ""))
        if name in self.groups:
            return error(409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists.")
        group = {"name": name, "label": str(body.get("label", name)),
                 "displayOrder": int(body.get("displayOrder", -1)), "archived": False}
        self.groups[name] = group
        return Response(201, group)

    # --- owners ---------------------------------------------------------------------------

    def list_owners(self, request: Request, match: re.Match) -> Response:
        limit = min(int(request.arg("limit", "100")), 500)
        after = int(request.arg("after", "0") or 0)
        page = self.owners[after:after + limit]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(self.owners):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, body)

    # --- tasks ----------------------------------------------------------------------------

    def _new_task(self, item: dict[str, Any]) -> dict[str, Any] | str:
        props = dict(item.get("properties") or {})
        if not props.get("hs_timestamp"):
            return "hs_timestamp is required"
        contacts = set()
        for assoc in item.get("associations") or []:
            types = [(t.get("associationCategory"), t.get("associationTypeId")) for t in assoc.get("types", [])]
            target = str((assoc.get("to") or {}).get("id"))
            if ("HUBSPOT_DEFINED", TASK_TO_CONTACT) not in types:
                return f"association type {types} is not task to contact ({TASK_TO_CONTACT})"
            if target not in self.contacts:
                return f"contact {target} does not exist"
            contacts.add(target)
        tid = self.new_id()
        now = self.now_ms()
        props.update(hs_object_id=tid, hs_createdate=_iso(now), hs_lastmodifieddate=_iso(now))
        props.setdefault("hs_task_status", "NOT_STARTED")
        record = {"id": tid, "properties": props, "createdAt": now, "updatedAt": now, "contacts": contacts}
        with self.lock:
            self.tasks[tid] = record
            self.version += 1
        return record

    def _task_public(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"id": record["id"], "properties": dict(record["properties"]), "createdAt": _iso(record["createdAt"]),
                "updatedAt": _iso(record["updatedAt"]), "archived": False}

    def _task_read(self, record: dict[str, Any], request: Request) -> dict[str, Any]:
        """A task as the read endpoints show it: the properties asked for (HubSpot's
        few defaults otherwise) and, when `associations=contacts` is asked, its contacts
        ("Tasks" CRM API: GET /crm/v3/objects/tasks, properties and associations)."""
        public = self._task_public(record)
        wanted = self._properties_arg(request)
        public["properties"] = {k: v for k, v in public["properties"].items()
                                if k in wanted or k in _ENGAGEMENT_DEFAULT_PROPS}
        if "contacts" in {a for v in request.query.get("associations", []) for a in v.split(",")}:
            public["associations"] = {"contacts": {"results": [{"id": cid, "type": "task_to_contact"}
                                                               for cid in sorted(record["contacts"], key=int)]}}
        return public

    def list_tasks(self, request: Request, match: re.Match) -> Response:
        """GET /crm/v3/objects/tasks: every task, 100 a page at most, by `after`, as an
        admin's script reads them (`client.crm.objects.tasks.get_all()`)."""
        limit = min(int(request.arg("limit", "10")), 100)
        after = int(request.arg("after", "0") or 0)
        with self.lock:
            ids = sorted(int(t) for t in self.tasks if int(t) > after)
            page = [self._task_read(self.tasks[str(i)], request) for i in ids[:limit]]
        body: dict[str, Any] = {"results": page}
        if len(ids) > limit:
            body["paging"] = {"next": {"after": page[-1]["id"], "link": f"?after={page[-1]['id']}"}}
        return Response(200, body)

    def get_task(self, request: Request, match: re.Match) -> Response:
        record = self.tasks.get(match.group(1))
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", "resource not found")
        return Response(200, self._task_read(record, request))

    def create_task(self, request: Request, match: re.Match) -> Response:
        record = self._new_task(request.body if isinstance(request.body, dict) else {})
        if isinstance(record, str):
            return error(400, "VALIDATION_ERROR", record)
        return Response(201, self._task_public(record))

    def batch_create_tasks(self, request: Request, match: re.Match) -> Response:
        inputs = (request.body or {}).get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of {BATCH_MAX}")
        problems = [p for p in (self._validate_task(i) for i in inputs) if p]
        if problems:
            return error(400, "VALIDATION_ERROR", problems[0])
        started = _iso(self.now_ms())
        created = [self._task_public(cast("dict[str, Any]", self._new_task(item))) for item in inputs]  # validated
        return self._batch_response(created, [], started, "create", ok_status=201)

    def _validate_task(self, item: dict[str, Any]) -> str | None:
        props = item.get("properties") or {}
        if not props.get("hs_timestamp"):
            return "hs_timestamp is required"
        owner = props.get("hubspot_owner_id")
        if owner and str(owner) not in {o["id"] for o in self.owners}:
            # An owner who left (deactivated user): the whole batch is refused, as a
            # property validation error naming INVALID_OWNER_ID.
            return (f"Property values were not valid: [{{\"isValid\":false,\"message\":\"{owner} is not a valid "
                    f"owner id\",\"error\":\"INVALID_OWNER_ID\",\"name\":\"hubspot_owner_id\"}}]")
        for assoc in item.get("associations") or []:
            if str((assoc.get("to") or {}).get("id")) not in self.contacts:
                return f"contact {(assoc.get('to') or {}).get('id')} does not exist"
        return None

    def batch_read_tasks(self, request: Request, match: re.Match) -> Response:
        """POST /crm/v3/objects/tasks/batch/read: the tasks asked for, with the
        properties asked for; unknown ids in a 207 (CRM objects API, batch read)."""
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs") or []
        if len(inputs) > BATCH_MAX:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of {BATCH_MAX}")
        wanted = body.get("properties") or []
        started = _iso(self.now_ms())
        found, missing = [], []
        for item in inputs:
            record = self.tasks.get(str(item.get("id")))
            if record is None:
                missing.append(str(item.get("id")))
                continue
            public = self._task_public(record)
            public["properties"] = {k: v for k, v in public["properties"].items()
                                    if k in wanted or k in _ENGAGEMENT_DEFAULT_PROPS}
            found.append(public)
        return self._batch_response(found, missing, started, "read")

    def _associated(self, item: dict[str, Any], ids: list[str], type_id: int) -> dict[str, Any]:
        """One input's associations, a page of them: "The 'after' field in a returned
        paging object can be added alongside the 'id' to retrieve the next page ... The
        'paging' field will only be present if there are more pages" (associations API
        v4, batch read). The page size is not documented; the sandbox's is
        `association_page`."""
        start = int(base64.urlsafe_b64decode(str(item["after"])).decode()) if item.get("after") else 0
        end = start + self.association_page
        out: dict[str, Any] = {"from": {"id": str(item.get("id"))}, "to": [
            {"toObjectId": int(i), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id,
                                                          "label": None}]} for i in ids[start:end]]}
        if end < len(ids):
            after = base64.urlsafe_b64encode(str(end).encode()).decode()
            out["paging"] = {"next": {"after": after, "link": None}}
        return out

    def read_contact_tasks(self, request: Request, match: re.Match) -> Response:
        """POST /crm/v4/associations/contacts/tasks/batch/read: each contact's tasks
        (association type 203, contact to task), read from the records themselves, so a
        task is there the moment it is made, unlike in search (associations API v4)."""
        inputs = (request.body or {}).get("inputs") or []
        if len(inputs) > 1000:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of 1000")
        started = _iso(self.now_ms())
        with self.lock:
            by_contact: dict[str, list[str]] = {}
            for task in self.tasks.values():
                for cid in task["contacts"]:
                    by_contact.setdefault(cid, []).append(task["id"])
        results = [self._associated(item, sorted(by_contact.get(str(item.get("id")), []), key=int), CONTACT_TO_TASK)
                   for item in inputs if by_contact.get(str(item.get("id")))]
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _iso(self.now_ms())}
        missing = [str(i.get("id")) for i in inputs if not by_contact.get(str(i.get("id")))]
        if missing:  # as for engagements: 207, the inputs without associations listed
            out["numErrors"] = len(missing)
            out["errors"] = [_no_associations("task", missing)]
            return Response(207, out)
        return Response(200, out)

    def search_tasks(self, request: Request, match: re.Match) -> Response:
        return self._search(request, self.tasks, "tasks", lambda r: {"contact": r["contacts"]})

    # --- lists (the MQL tag as list membership) ------------------------------------------

    def _list_public(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "members"} | {"size": len(record["members"])}

    def get_list_by_name(self, request: Request, match: re.Match) -> Response:
        """GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName} (lists API v3)."""
        from urllib.parse import unquote

        name = unquote(match.group(2))
        # HubSpot looks list names up without regard to case (review E7), and a name
        # differing only in case is taken.
        for record in self.lists.values():
            if record["name"].casefold() == name.casefold() and record["objectTypeId"] == match.group(1):
                return Response(200, {"list": self._list_public(record)})
        return error(404, "OBJECT_NOT_FOUND", f"List with name {name} does not exist")

    def create_list(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        name = str(body.get("name") or "")
        if not name or body.get("objectTypeId") is None or body.get("processingType") is None:
            return error(400, "VALIDATION_ERROR", "name, objectTypeId and processingType are required")
        if any(r["name"].casefold() == name.casefold() for r in self.lists.values()):
            return error(409, "OBJECT_ALREADY_EXISTS", f"A list named {name} already exists")
        lid = self.new_id()
        now = _iso(self.now_ms())
        self.lists[lid] = {"listId": lid, "name": name, "objectTypeId": body["objectTypeId"],
                           "processingType": body["processingType"], "processingStatus": "COMPLETE",
                           "listVersion": 1, "createdAt": now, "updatedAt": now, "members": set()}
        return Response(200, {"list": self._list_public(self.lists[lid])})

    def change_members(self, request: Request, match: re.Match) -> Response:
        """PUT /crm/v3/lists/{listId}/memberships/add-and-remove: only MANUAL lists take
        members by hand; adding a member twice or removing a non-member is no error."""
        record = self.lists.get(match.group(1))
        if record is None:
            return error(404, "OBJECT_NOT_FOUND", f"List {match.group(1)} does not exist")
        if record["processingType"] != "MANUAL":
            return error(400, "VALIDATION_ERROR", "Only MANUAL lists accept membership changes")
        body = request.body if isinstance(request.body, dict) else {}
        added, removed, missing = [], [], []
        with self.lock:
            for rid in map(str, body.get("recordIdsToAdd") or []):
                if rid not in self.contacts:
                    missing.append(rid)
                elif rid not in record["members"]:
                    record["members"].add(rid)
                    added.append(rid)
            for rid in map(str, body.get("recordIdsToRemove") or []):
                if rid in record["members"]:
                    record["members"].discard(rid)
                    removed.append(rid)
        return Response(200, {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing})

    # --- meetings and calls ------------------------------------------------------------

    def add_engagement(self, kind: str, contact_id: str, at_ms: int, properties: dict[str, str],
                       contacts: list[str] | None = None) -> str:
        """A meeting or call logged by a rep, associated to a contact (or to `contacts`)."""
        eid = self.new_id()
        now = self.now_ms()
        props = dict(properties, hs_object_id=eid, hs_timestamp=_iso(at_ms), hs_createdate=_iso(now),
                     hs_lastmodifieddate=_iso(now))
        with self.lock:
            self.engagements[kind][eid] = {"id": eid, "properties": props, "createdAt": now, "updatedAt": now,
                                           "contacts": set(contacts or [contact_id])}
            self.version += 1
        return eid

    def add_deal(self, contacts: list[str], stage: str, close_ms: int | None = None,
                 amount: float | None = None, name: str = "Deal") -> str:
        """A deal in the default pipeline, associated to `contacts`. `hs_is_closed_won`
        and `hs_is_closed` are HubSpot's calculated booleans, read back as "true" or
        "false" strings (HubSpot's agent-cli-skills, sales-reporting: "hs_is_closed_won
        is returned as \"true\"/\"false\" (string); amount is a numeric string")."""
        properties = {"dealname": name, "pipeline": "default", "dealstage": stage,
                      "hs_is_closed_won": "true" if stage == "closedwon" else "false",
                      "hs_is_closed": "true" if stage in ("closedwon", "closedlost") else "false",
                      "amount": None if amount is None else f"{amount:g}",
                      "closedate": _iso(close_ms) if close_ms is not None else None}
        did = self.add_engagement("deals", contacts[0], self.now_ms(),
                                  {k: v for k, v in properties.items() if v is not None}, contacts)
        self.engagements["deals"][did]["properties"].pop("hs_timestamp", None)  # deals have none
        return did

    def set_deal_stage(self, deal_id: str, stage: str, close_ms: int | None = None) -> None:
        with self.lock:
            record = self.engagements["deals"][deal_id]
            now = self.now_ms()
            record["properties"].update(dealstage=stage, hs_is_closed_won="true" if stage == "closedwon" else "false",
                                        hs_is_closed="true" if stage in ("closedwon", "closedlost") else "false",
                                        hs_lastmodifieddate=_iso(now))
            if close_ms is not None:
                record["properties"]["closedate"] = _iso(close_ms)
            record["updatedAt"] = now
            self.version += 1

    def search_engagements(self, request: Request, match: re.Match) -> Response:
        return self._search(request, self.engagements[match.group(1)], match.group(1),
                            lambda r: {"contact": r["contacts"]})

    def read_engagement_contacts(self, request: Request, match: re.Match) -> Response:
        """POST /crm/v4/associations/{from}/contacts/batch/read: each input's associated
        contacts, with the association types (associations API v4)."""
        kind = match.group(1)
        inputs = (request.body or {}).get("inputs") or []
        if len(inputs) > 1000:
            return error(400, "VALIDATION_ERROR", f"Batch size {len(inputs)} exceeds the limit of 1000")
        started = _iso(self.now_ms())
        results, missing = [], []
        for item in inputs:
            record = self.engagements[kind].get(str(item.get("id")))
            if record is None:
                missing.append(str(item.get("id")))
                continue
            results.append(self._associated(item, sorted(record["contacts"]), ENGAGEMENT_TO_CONTACT[kind]))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": _iso(self.now_ms())}
        if missing:
            out["numErrors"] = len(missing)
            out["errors"] = [_no_associations("contact", missing)]
            return Response(207, out)
        return Response(200, out)
