"""The sandbox portal's contact records as an admin's own script sees and edits them:
each property's history of values (`propertiesWithHistory`), creating and updating one
contact, and one record's associations (v4).

- History: "propertiesWithHistory: A comma separated list of the properties to be
  returned along with their history of previous values" (CRM objects API, contacts:
  GET by id, list, batch read); entries newest first, each with `value`, `timestamp`,
  `sourceType` and `sourceId`. Asking for history on a list page lowers its size to 50
  ("Usage of this parameter will reduce the maximum number of objects that can be read
  by a single request").
- `POST /crm/v3/objects/contacts` creates one; an e-mail address already in use is 409
  CONFLICT, "Contact already exists. Existing ID: ..." (contacts API). `PATCH
  /crm/v3/objects/contacts/{id}` updates one, with the batch update's checks.
- `GET /crm/v4/objects/{fromObjectType}/{objectId}/associations/{toObjectType}`: one
  record's associations, paged by `after` (associations API v4)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mqlsync.connector.crms.hubspot.sandbox.wire import _iso, error
from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox

#: list pages asking for history hold at most this many records
HISTORY_PAGE = 50


def record_change(record: dict[str, Any], changes: Mapping[str, Any], at_ms: int, source: str) -> None:
    """Each changed property's new value at the head of its history (newest first)."""
    history = record.setdefault("history", {})
    for name, value in changes.items():
        history.setdefault(name, []).insert(0, {
            "value": "" if value is None else str(value), "timestamp": _iso(at_ms), "sourceType": source,
            "sourceId": "mqlsync-sandbox" if source == "INTEGRATION" else None})


def with_history(record: dict[str, Any], names: list[str]) -> dict[str, list[dict[str, Any]]]:
    history = record.get("history", {})
    return {name: [dict(entry) for entry in history.get(name, [])] for name in names}


def history_arg(request: Request) -> list[str]:
    return [p for value in request.query.get("propertiesWithHistory", []) for p in value.split(",") if p]


class ContactCalls:
    """One contact created or updated, and one record's associations, over `portal`."""

    def __init__(self, portal: HubSpotSandbox) -> None:
        self.portal = portal

    def routes(self) -> list[tuple[str, re.Pattern, Any]]:
        return [
            ("POST", re.compile(r"/crm/v3/objects/contacts/?"), self.create_contact),
            ("PATCH", re.compile(r"/crm/v3/objects/contacts/(\d+)"), self.update_contact),
            ("GET", re.compile(r"/crm/v4/objects/(\w+)/(\d+)/associations/(\w+)"), self.associations),
        ]

    def _refused(self, cid: str | None, properties: dict[str, Any]) -> Response | None:
        portal = self.portal
        for name, value in properties.items():
            problem = portal._invalid_value(cid or "", name, value)
            if problem:
                return error(400, "VALIDATION_ERROR", f"Property values were not valid: {problem}",
                             errors=[{"message": problem, "code": "INVALID_OPTION" if "option" in problem
                                      else "PROPERTY_DOESNT_EXIST" if "does not exist" in problem else "INVALID_VALUE",
                                      "context": {"propertyName": [name]}}])
        email = str(properties.get("email") or "").lower()
        if email:
            other = next((c["id"] for c in portal.contacts.values()
                          if str(c["properties"].get("email") or "").lower() == email and c["id"] != cid), None)
            if other is not None:
                return error(409, "CONFLICT", f"Contact already exists. Existing ID: {other}")
        return None

    def create_contact(self, request: Request, match: re.Match) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        properties = dict(body.get("properties") or {})
        with self.portal.lock:
            refused = self._refused(None, properties)
            if refused is not None:
                return refused
            cid = self.portal.add_contact({k: self.portal._stored(k, v) for k, v in properties.items()},
                                          source="INTEGRATION")
            return Response(201, self.portal._public(self.portal.contacts[cid], list(properties)))

    def update_contact(self, request: Request, match: re.Match) -> Response:
        cid = match.group(1)
        body = request.body if isinstance(request.body, dict) else {}
        properties = dict(body.get("properties") or {})
        with self.portal.lock:
            record = self.portal.contacts.get(cid)
            if record is None:
                return error(404, "OBJECT_NOT_FOUND", "resource not found")
            refused = self._refused(cid, properties)
            if refused is not None:
                return refused
            self.portal.apply(record, properties, "INTEGRATION")
            return Response(200, self.portal._public(record, list(properties)))

    def associations(self, request: Request, match: re.Match) -> Response:
        """One record's associated ids of another type, paged (v4)."""
        from_type, object_id, to_type = match.groups()
        portal = self.portal
        linked: list[str] | None = None
        type_id = 0
        with portal.lock:
            if from_type == "tasks" and to_type == "contacts" and object_id in portal.tasks:
                linked, type_id = sorted(portal.tasks[object_id]["contacts"], key=int), 204
            elif from_type == "contacts" and to_type == "tasks" and object_id in portal.contacts:
                linked = sorted((t["id"] for t in portal.tasks.values() if object_id in t["contacts"]), key=int)
                type_id = 203
            elif from_type in portal.engagements and to_type == "contacts" and object_id in portal.engagements[
                    from_type]:
                linked = sorted(portal.engagements[from_type][object_id]["contacts"], key=int)
                type_id = {"meetings": 200, "calls": 194}[from_type]
        if linked is None:
            return error(404, "OBJECT_NOT_FOUND", f"No {from_type} with id {object_id}")
        page = portal._associated({"id": object_id, "after": request.arg("after")}, linked, type_id)
        out: dict[str, Any] = {"results": page["to"]}
        if "paging" in page:
            out["paging"] = page["paging"]
        return Response(200, out)
