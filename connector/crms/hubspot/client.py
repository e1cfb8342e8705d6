"""One HubSpot portal's API under HubSpot's policy: the SDK's API objects built once,
every call paced, retried, counted and given a timeout; raw calls through the same
client for endpoints the SDK has no typed model for; and paging past search's cap."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import hubspot
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from mqlsync.connector.config.mapping import Limits
from mqlsync.connector.crms.hubspot.policy import announced_limit, hubspot_policy
from mqlsync.connector.http import NO_SDK_RETRIES

log = logging.getLogger("mqlsync.hubspot")

#: the burst limit paced to when the mapping sets none: Free/Starter's 100 per 10 s
DEFAULT_BURST = 100
#: (connect, read) seconds for every request
REQUEST_TIMEOUT = (10, 60)
#: v4 association batch reads take up to 1,000 inputs (associations API v4)
ASSOCIATION_BATCH = 1000
#: contact batch reads take up to 100 inputs (CRM objects API)
CONTACT_BATCH = 100


def ms(value: datetime) -> int:
    """A time as HubSpot's APIs take it: epoch milliseconds."""
    return int(value.timestamp() * 1000)


class HubSpotClient:
    def __init__(self, token: str, host: str, limits: Limits) -> None:
        self.sdk = hubspot.Client.create(access_token=token, host=host, retry=NO_SDK_RETRIES)
        # Each `sdk.crm...` access builds a new API client with its own connection
        # pool: build them once, so connections are reused across a run.
        crm = self.sdk.crm
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_search = crm.contacts.search_api
        self.contacts_batch = crm.contacts.batch_api
        self.tasks_batch = crm.objects.tasks.batch_api
        self.properties_core = crm.properties.core_api
        self.properties_groups = crm.properties.groups_api
        self.events_api = self.sdk.events.events_api
        self.lists_api = crm.lists.lists_api
        self.members_api = crm.lists.memberships_api
        self.policy = hubspot_policy(limits.retry_budget_s, limits.max_requests or DEFAULT_BURST, limits.per_seconds)
        self.requests = 0

    def call(self, fn, *args, idempotent: bool = True, **kwargs):
        """One SDK call under HubSpot's policy (paced, retried), counted, with a timeout:
        the SDK sets none, and a connection that hangs must fail and be retried."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)

        @functools.wraps(fn)
        def counted(*a, **k):
            self.requests += 1
            result = fn(*a, **k)
            self._pace_as_announced(fn)
            return result

        return self.policy.call(counted, *args, idempotent=idempotent, **kwargs)

    def _pace_as_announced(self, fn) -> None:
        """Pace to the portal's own burst limit where it is below the mapping's: the
        shipped mapping paces for Enterprise (190 per 10 s), a Starter portal allows
        100, and every response says which (announced_limit). Read from the SDK client's
        last response: calls are made one at a time."""
        owner = getattr(fn, "api_client", None) or getattr(getattr(fn, "__self__", None), "api_client", None)
        response = getattr(owner, "last_response", None)
        getheaders = getattr(response, "getheaders", None)
        headers = getheaders() if getheaders is not None else getattr(response, "headers", None)
        limit = announced_limit(headers)
        pace = self.policy.pace
        if limit and pace is not None and pace.tighten(*limit):
            log.info("HubSpot allows %d requests per %g s on this portal: pacing to that (the mapping's "
                     "limits.max_requests is higher)", *limit)

    def get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
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

        send.api_client = api_client  # type: ignore[attr-defined]  # whose last response announces the limit
        return self.call(send)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to an endpoint through the SDK's own client (see get)."""
        api_client = self.contacts_basic.api_client

        def send(**kwargs):
            response = api_client.call_api(path, "POST", body=body,
                                           header_params={"Accept": "application/json",
                                                          "Content-Type": "application/json"},
                                           auth_settings=["oauth2"], response_types_map={},
                                           _return_http_data_only=True, _preload_content=False, **kwargs)
            return json.loads(response.data or b"{}")

        send.search = path.endswith("/search")  # type: ignore[attr-defined]  # paced as a search (policy.is_search)
        send.api_client = api_client  # type: ignore[attr-defined]  # whose last response announces the limit
        return self.call(send)

    def contact_properties(self) -> dict[str, Any]:
        """The portal's contact property definitions by name (one request)."""
        return {p.name: p for p in self.call(self.properties_core.get_all, object_type="contacts").results}

    def read_contacts(self, ids: list[str], properties: list[str], history: list[str] | None = None,
                      id_property: str | None = None) -> Iterator[Any]:
        """Contacts by id (or by the unique `id_property`), batch reads of 100, with
        `properties` and, for those in `history`, their history of values
        (propertiesWithHistory); ids HubSpot does not know are left out (its 207)."""
        for i in range(0, len(ids), CONTACT_BATCH):
            body = BatchReadInputSimplePublicObjectId(
                properties=properties, properties_with_history=history, id_property=id_property,
                inputs=[SimplePublicObjectId(id=key) for key in ids[i:i + CONTACT_BATCH]])
            yield from self.call(self.contacts_batch.read, batch_read_input_simple_public_object_id=body).results

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Each record's associated ids, by v4 batch reads of 1,000 inputs, every page: a
        record's associations come in pages, and "the 'after' field in a returned paging
        object can be added alongside the 'id' to retrieve the next page of associations
        from that objectId" (associations API v4, batch read)."""
        out: dict[str, list[str]] = {}
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:
            more: list[dict[str, str]] = []
            for i in range(0, len(pending), ASSOCIATION_BATCH):
                result = self.post(f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                                   {"inputs": pending[i:i + ASSOCIATION_BATCH]})
                for item in result.get("results", []):
                    record = str(item["from"]["id"])
                    out.setdefault(record, []).extend(str(to["toObjectId"]) for to in item.get("to", []))
                    after = ((item.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        more.append({"id": record, "after": str(after)})
            pending = more
        return out

    def pages(self, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every result of a paged GET, following paging.next.after."""
        after = None
        while True:
            result = self.get(path, {**query, **({"after": after} if after else {})})
            yield from result.get("results", [])
            after = (result.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return


def iso_ms(value: str | None) -> int:
    """An ISO 8601 time as HubSpot's APIs send it, in epoch milliseconds (0 for none)."""
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


def modified_since(client: HubSpotClient, kind: str, properties: list[str], since: datetime | None,
                   cap: int = 10_000) -> Iterator[list]:
    """Records of a CRM object (meetings, calls, deals) modified at or after `since`,
    oldest first, a search page of 200 at a time (search_since), each with
    `properties` and hs_lastmodifieddate."""
    wanted = sorted({"hs_lastmodifieddate", *properties})

    def fetch(floor: int, after: int):
        result = client.post(f"/crm/v3/objects/{kind}/search", {
            "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                           "value": str(floor)}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": wanted, "limit": 200, "after": str(after)})
        return result.get("results", []), (result.get("paging") or {}).get("next", {}).get("after")

    return search_since(fetch, ms(since) if since else 0, last_modified, lambda r: r["id"], 200, cap, kind)


def last_modified(record: dict[str, Any]) -> int | None:
    """A searched record's hs_lastmodifieddate, in epoch milliseconds."""
    value = (record.get("properties") or {}).get("hs_lastmodifieddate")
    return iso_ms(value) if value else None
