"""HubSpot behind the CRM port, through hubspot-api-client: contacts and their activity
in, score fields, lifecycle stage, MQL tag and follow-up tasks out."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Iterator, Mapping as MappingT
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import hubspot
from hubspot.crm.contacts import (BatchInputSimplePublicObjectBatchInput, BatchReadInputSimplePublicObjectId,
                                  PublicObjectSearchRequest, SimplePublicObjectBatchInput, SimplePublicObjectId)
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest
from hubspot.crm.objects.tasks import (BatchInputSimplePublicObjectBatchInputForCreate,
                                       SimplePublicObjectBatchInputForCreate)
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from pydantic import ValidationError

from ..config.mapping import Mapping
from ..errors import ConfigError, ConfigIssue, CredentialsError, RecordRejected
from ..http import NO_SDK_RETRIES, call, status_of
from ..model import Activity, ApplyResult, Contact, FieldWrite, TaskRequest, WriteFailure, WritePlan
from .base import Page, SetupReport
from .jsonl import describe

log = logging.getLogger("mqlsync.hubspot")

ENV_TOKEN = "HUBSPOT_ACCESS_TOKEN"
ENV_BASE_URL = "MQLSYNC_HUBSPOT_BASE_URL"
DEFAULT_HOST = "https://api.hubapi.com"
# API limits (CRM API reference): lists page 100 at a time, search 200, batches take
# 100 inputs, search cannot page past 10,000 results.
LIST_PAGE, SEARCH_PAGE, BATCH, SEARCH_CAP = 100, 200, 100, 10_000
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type id, task -> contact
#: (connect, read) seconds for every request
REQUEST_TIMEOUT = (10, 60)
#: HubSpot's default lifecycle order; it refuses backward moves unless cleared first
LIFECYCLE_ORDER = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                   "customer", "evangelist"]
#: the property type each write-back key gets from `setup` (type, fieldType)
WRITE_BACK_TYPES = {
    "score": ("number", "number"), "fit": ("number", "number"), "engagement": ("number", "number"),
    "negative": ("number", "number"), "grade": ("string", "text"), "stage": ("string", "text"),
    "mql": ("bool", "booleancheckbox"), "mql_at": ("datetime", "date"), "explanation": ("string", "textarea"),
    "model_version": ("string", "text"),
}
WRITE_BACK_LABELS = {
    "score": "MQL score", "fit": "MQL fit", "engagement": "MQL engagement", "negative": "MQL negative",
    "grade": "MQL fit grade", "stage": "mqlsync stage", "mql": "Is MQL", "mql_at": "MQL date",
    "explanation": "MQL explanation", "model_version": "MQL model version",
}
#: how a task body carries its idempotency key, so it can be found again
TASK_KEY_MARK = "mqlsync-task:"


def base_url(env: MappingT[str, str]) -> str:
    """The API host: HubSpot's, or a sandbox's. Plain http is refused unless it points
    at this machine, so a typo cannot send a token in clear text across a network."""
    url = env.get(ENV_BASE_URL) or DEFAULT_HOST
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError([ConfigIssue("environment", None, ENV_BASE_URL, f"not a URL: {url!r}")])
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError([ConfigIssue("environment", None, ENV_BASE_URL,
                                       "plain http is only allowed for 127.0.0.1/localhost (the sandbox)")])
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "yes", "1", "on", "checked")


class HubSpotAdapter:
    """One HubSpot portal, read and written through the mapping file."""

    name = "hubspot"

    def __init__(self, mapping: Mapping, token: str, host: str = DEFAULT_HOST, budget_s: float = 120.0) -> None:
        self.mapping = mapping
        self.obj = mapping.objects["contacts"]
        self.client = hubspot.Client.create(access_token=token, host=host, retry=NO_SDK_RETRIES)
        # Each `client.crm...` access builds a new API client with its own connection
        # pool: build them once, so connections are reused across a run.
        crm = self.client.crm
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_search = crm.contacts.search_api
        self.contacts_batch = crm.contacts.batch_api
        self.tasks_batch = crm.objects.tasks.batch_api
        self.tasks_search = crm.objects.tasks.search_api
        self.properties_core = crm.properties.core_api
        self.properties_groups = crm.properties.groups_api
        self.events_api = self.client.events.events_api
        self.lists_api = crm.lists.lists_api
        self.members_api = crm.lists.memberships_api
        self._tag_list: str | None = None
        self.budget_s = budget_s
        self._requests = 0
        self._lifecycle: dict[str, str | None] = {}
        self._email_ids: dict[str, str | None] = {}
        props = set(self.obj.fields.values()) | set(self.obj.sql_criteria.values())
        if self.obj.stage_field:
            props.add(self.obj.stage_field)
        if self.obj.sales_status:
            props.add(self.obj.sales_status.field)
            if self.obj.sales_status.at_field:
                props.add(self.obj.sales_status.at_field)
        self.read_properties = sorted(props)

    @classmethod
    def from_env(cls, mapping: Mapping, env: MappingT[str, str] | None = None) -> HubSpotAdapter:
        env = os.environ if env is None else env
        token = env.get(ENV_TOKEN, "").strip()
        if not token:
            raise CredentialsError(f"{ENV_TOKEN} is not set: create a HubSpot private app with the CRM scopes "
                                   "and put its access token in the environment or in .env")
        return cls(mapping, token, base_url(env))

    @property
    def requests(self) -> int:
        return self._requests

    def _call(self, fn, *args, **kwargs):
        """One SDK call under the retry policy, counted, with a timeout: the SDK sets
        none, and a connection that hangs must fail and be retried, not stall the run."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)

        def counted(*a, **k):
            self._requests += 1
            return fn(*a, **k)

        return call(counted, *args, crm="HubSpot", budget_s=self.budget_s, **kwargs)

    # --- reading ---------------------------------------------------------------------

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        """A full sync lists every contact; an incremental one searches for contacts
        modified at or after `since`, oldest first. Search cannot page past 10,000
        results, so after 10,000 the search restarts from the newest modification time
        seen (>=, so records sharing that millisecond are read again, never skipped)."""
        if since is None:
            yield from self._list_all()
            return
        floor = _ms(since)
        seen: set[str] = set()
        while True:
            after, newest, restarted = 0, floor, False
            while True:
                request = PublicObjectSearchRequest(
                    filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                 "value": str(floor)}]}],
                    sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    properties=self.read_properties, limit=SEARCH_PAGE, after=str(after))
                result = self._call(self.contacts_search.do_search,
                                    public_object_search_request=request)
                fresh = [r for r in result.results if r.id not in seen]
                seen.update(r.id for r in result.results)
                page = self._page(fresh)
                if page.high_water:
                    newest = max(newest, _ms(page.high_water))
                yield page
                nxt = result.paging.next.after if result.paging and result.paging.next else None
                if nxt is None:
                    return
                after = int(nxt)
                if after + SEARCH_PAGE > SEARCH_CAP:
                    restarted = True
                    break
            if not restarted or newest == floor:
                if newest == floor:
                    log.warning("more than %d contacts share one modification time; the rest is read next run",
                                SEARCH_CAP)
                return
            floor = newest

    def _list_all(self) -> Iterator[Page]:
        after = None
        while True:
            result = self._call(self.contacts_basic.get_page, limit=LIST_PAGE, after=after,
                                properties=self.read_properties)
            yield self._page(result.results)
            if not (result.paging and result.paging.next):
                return
            after = result.paging.next.after

    def _page(self, records: list[Any]) -> Page:
        page = Page()
        for record in records:
            props = record.properties or {}
            changed = _parse_time(props.get("lastmodifieddate")) or record.updated_at
            if changed and (page.high_water is None or changed > page.high_water):
                page.high_water = changed
            try:
                page.contacts.append(self.to_contact(record.id, props))
            except (ValidationError, ValueError) as exc:
                reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
                page.rejected.append(RecordRejected("hubspot contacts", None, reason, record.id))
            if self.obj.stage_field:
                self._lifecycle[record.id] = props.get(self.obj.stage_field)
            email = props.get(self.obj.fields.get("email", "email"))
            if email:
                self._email_ids[str(email).lower()] = record.id
        return page

    def to_contact(self, contact_id: str, props: MappingT[str, Any]) -> Contact:
        """A HubSpot contact in mqlsync's words, through the mapping."""
        obj = self.obj
        data: dict[str, Any] = {"id": contact_id}
        attributes: dict[str, Any] = {}
        for field, crm in obj.fields.items():
            raw = props.get(crm)
            if raw in (None, ""):
                continue
            if field in ("created_at", "updated_at"):
                data[field] = _parse_time(raw)
                continue
            value: Any = obj.values.get(field, {}).get(str(raw), raw)
            if field in ("unsubscribed", "bounced"):
                value = _truthy(value)
            elif field == "company_size":
                try:
                    value = int(float(str(value).replace(",", "").rstrip("+")))
                except ValueError:
                    raise ValueError(f"company_size: {raw!r} in {crm} is not a number") from None
            if field.startswith("attributes."):
                attributes[field.split(".", 1)[1]] = value
            else:
                data[field] = value
        if attributes:
            data["attributes"] = attributes
        if obj.stage_field:
            data["crm_stage"] = obj.stages.get(str(props.get(obj.stage_field) or ""))
        status = obj.sales_status
        if status is not None:
            value = props.get(status.field)
            verdict = "accepted" if value in status.accepted else "rejected" if value in status.rejected else None
            if verdict:
                at = _parse_time(props.get(status.at_field)) if status.at_field else None
                # Without the time of the verdict it cannot be told from later engagement;
                # the last modification of the record is the closest upper bound.
                data["sales_status"] = verdict
                data["sales_status_at"] = at or _parse_time(props.get("lastmodifieddate"))
        criteria = {name: _truthy(props.get(crm)) for name, crm in obj.sql_criteria.items()
                    if props.get(crm) not in (None, "")}
        if criteria:
            data["sql_criteria"] = criteria
        return Contact.model_validate(data)

    def lifecycle_of(self, contact_id: str) -> str | None:
        return self._lifecycle.get(contact_id)

    def pull_activities(self, since: datetime | None) -> Iterator[Page]:
        """Activity after `since`, source by source as the mapping lists them."""
        for source in self.mapping.activities:
            kind, _, name = source.source.partition(":")
            if kind == "events" and name:
                yield from self._events(source, name, since)
            elif kind == "forms" and not name:
                yield from self._form_submissions(source, since)
            elif kind == "email_events" and name:
                yield from self._email_events(source, name.upper(), since)
            else:
                raise ConfigError([ConfigIssue("mapping", None, "activities.source",
                                               f"{source.source!r}: the HubSpot adapter reads `events:<eventType>`, "
                                               "`forms` and `email_events:<TYPE>`")])

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
                    attributes = {k: special[v] if v in special else values.get(v) for k, v in source.attributes.items()}
                    pending.append((values.get("email"), f"form:{sub['conversionId']}",
                                    datetime.fromtimestamp(sub["submittedAt"] / 1000, timezone.utc), attributes))
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
            pending = [(e.get("recipient"), f"email:{e['id']}", datetime.fromtimestamp(e["created"] / 1000, timezone.utc),
                        {k: e.get(v) for k, v in source.attributes.items()}) for e in result.get("events", [])]
            yield self._by_email(pending, source, f"e-mail {kind}")
            if not result.get("hasMore") or not result.get("offset"):
                return
            query["offset"] = result["offset"]

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

    def _raw_pages(self, path: str, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            result = self._raw_get(path, {**query, **({"after": after} if after else {})})
            yield from result.get("results", [])
            after = (result.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return

    # --- writing ---------------------------------------------------------------------

    def _properties(self, write: FieldWrite) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in write.values.items():
            if key == "lifecycle":
                if self.mapping.write_back.lifecycle and self.obj.stage_field and value is not None:
                    crm_value = self.mapping.write_back.stage_values.get(value)
                    if crm_value:
                        out[self.obj.stage_field] = crm_value
                continue
            prop = self.mapping.write_back.fields.get(key)
            if prop:
                out[prop] = "" if value is None else value
        tag = self.mapping.mql_tag
        if tag.field and "mql" in write.values and tag.field not in out:
            on = write.values["mql"] == "true"
            out[tag.field] = (str(tag.value).lower() if isinstance(tag.value, bool) else str(tag.value)) if on else ""
        return out

    def apply(self, plan: WritePlan) -> ApplyResult:
        result = ApplyResult()
        start = self._requests
        writes = [(w, self._properties(w)) for w in plan.updates]
        # HubSpot refuses a lifecycle stage that moves backward: clear it first.
        clears = [(w.contact_id, {self.obj.stage_field: ""}) for w, props in writes
                  if self.obj.stage_field in props and self._is_backward(w.lifecycle_from, props[self.obj.stage_field])]
        if clears:
            failed = self._update([(cid, p) for cid, p in clears], result, record_success=False)
            writes = [(w, p) for w, p in writes if w.contact_id not in failed]
        self._update([(w.contact_id, p) for w, p in writes if p], result)
        result.updated.extend(w.contact_id for w, p in writes if not p)
        if self.mapping.mql_tag.list:
            self._tag_by_list([w for w, _ in writes if "mql" in w.values], result)
        if plan.tasks:
            self._create_tasks(plan.tasks, result)
        result.requests = self._requests - start
        return result

    def _list_id(self, create: bool = False) -> str | None:
        """The MQL list's id, found by name (lists API v3); created as a MANUAL list of
        contacts (object type 0-1) only by `setup`."""
        if self._tag_list:
            return self._tag_list
        name = self.mapping.mql_tag.list
        try:
            found = self._call(self.lists_api.get_by_name, list_name=name, object_type_id="0-1")
            self._tag_list = found.list.list_id
        except Exception as exc:  # noqa: BLE001 - the SDK's ApiException
            if status_of(exc) != 404:
                raise
            if not create:
                return None
            made = self._call(self.lists_api.create, list_create_request=ListCreateRequest(
                name=name, object_type_id="0-1", processing_type="MANUAL"))
            self._tag_list = made.list.list_id
        return self._tag_list

    def _tag_by_list(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        list_id = self._list_id()
        if list_id is None:
            raise ConfigError([ConfigIssue("mapping", None, "mql_tag.list",
                                           f"the list {self.mapping.mql_tag.list!r} is not in HubSpot: "
                                           "run `mqlsync setup` to create it")])
        failed = {f.contact_id for f in result.failed}
        writes = [w for w in writes if w.contact_id not in failed]
        for i in range(0, len(writes), BATCH):
            chunk = writes[i:i + BATCH]
            change = MembershipChangeRequest(
                record_ids_to_add=[w.contact_id for w in chunk if w.values["mql"] == "true"],
                record_ids_to_remove=[w.contact_id for w in chunk if w.values["mql"] != "true"])
            response = self._call(self.members_api.add_and_remove, list_id=list_id, membership_change_request=change)
            for cid in response.record_ids_missing or []:
                result.failed.append(WriteFailure(contact_id=str(cid), reason="MQL list: contact not found"))

    @staticmethod
    def _is_backward(current: str | None, target: str) -> bool:
        return (current in LIFECYCLE_ORDER and target in LIFECYCLE_ORDER
                and LIFECYCLE_ORDER.index(target) < LIFECYCLE_ORDER.index(current))

    def _update(self, items: list[tuple[str, dict[str, str]]], result: ApplyResult,
                record_success: bool = True) -> set[str]:
        """Batch updates of 100. Unknown ids come back in a 207 and fail alone; a
        validation error refuses the whole batch, so that batch is retried one record
        at a time to find the record at fault and write the others."""
        failed: set[str] = set()
        for i in range(0, len(items), BATCH):
            chunk = items[i:i + BATCH]
            try:
                response = self._batch_update(chunk)
            except Exception as exc:  # noqa: BLE001 - an SDK ApiException, classified below
                if status_of(exc) != 400 or len(chunk) == 1:
                    if status_of(exc) is None:
                        raise
                    for cid, _ in chunk:
                        failed.add(cid)
                        result.failed.append(WriteFailure(contact_id=cid, reason=_reason(exc)))
                    continue
                failed |= self._one_by_one(chunk, result, record_success)
                continue
            missing: set[str] = set()
            for error in getattr(response, "errors", None) or []:
                ids = (error.context or {}).get("ids") or []
                for cid in ids:
                    missing.add(str(cid))
                    result.failed.append(WriteFailure(contact_id=str(cid), reason=f"{error.category}: {error.message}"))
            failed |= missing
            if record_success:
                result.updated.extend(cid for cid, _ in chunk if cid not in missing)
        return failed

    def _one_by_one(self, chunk, result: ApplyResult, record_success: bool) -> set[str]:
        failed: set[str] = set()
        for cid, props in chunk:
            try:
                response = self._batch_update([(cid, props)])
            except Exception as exc:  # noqa: BLE001
                if status_of(exc) is None:
                    raise
                failed.add(cid)
                result.failed.append(WriteFailure(contact_id=cid, reason=_reason(exc)))
                continue
            if getattr(response, "errors", None):
                failed.add(cid)
                result.failed.append(WriteFailure(contact_id=cid, reason=response.errors[0].message))
            elif record_success:
                result.updated.append(cid)
        return failed

    def _batch_update(self, chunk):
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=cid, properties=props) for cid, props in chunk])
        return self._call(self.contacts_batch.update, batch_input_simple_public_object_batch_input=body)

    def _create_tasks(self, tasks: list[TaskRequest], result: ApplyResult) -> None:
        for i in range(0, len(tasks), BATCH):
            chunk = tasks[i:i + BATCH]
            inputs = [SimplePublicObjectBatchInputForCreate(properties=self._task_properties(t), associations=[
                {"to": {"id": t.contact_id},
                 "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}]}])
                for t in chunk]
            try:
                response = self._call(self.tasks_batch.create,
                                      batch_input_simple_public_object_batch_input_for_create=
                                      BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
            except Exception as exc:  # noqa: BLE001
                if status_of(exc) is None:
                    raise
                for task in chunk:
                    result.failed.append(WriteFailure(contact_id=task.contact_id,
                                                      reason=f"task not created: {_reason(exc)}"))
                continue
            # Results are matched to requests by the key in their body, never by position.
            for created in response.results:
                key = task_key_of((created.properties or {}).get("hs_task_body"))
                if key:
                    result.tasks[key] = created.id

    def _task_properties(self, task: TaskRequest) -> dict[str, str]:
        props = {"hs_timestamp": str(_ms(task.due_at)), "hs_task_subject": task.subject,
                 "hs_task_body": f"{task.body}\n\n{TASK_KEY_MARK}{task.key}", "hs_task_status": "NOT_STARTED",
                 "hs_task_type": "TODO"}
        if task.owner_id:
            props["hubspot_owner_id"] = task.owner_id
        if task.priority:
            props["hs_task_priority"] = task.priority
        return props

    def find_tasks(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            response = self._call(self.tasks_search.do_search, public_object_search_request={
                "filterGroups": [{"filters": [{"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN",
                                               "value": f"{TASK_KEY_MARK}{key}"}]}],
                "properties": ["hs_task_body"], "limit": 10})
            for task in response.results:
                if task_key_of((task.properties or {}).get("hs_task_body")) == key:
                    found[key] = task.id
        return found

    # --- setup -----------------------------------------------------------------------

    def ensure_fields(self, dry_run: bool = False) -> SetupReport:
        report = SetupReport()
        group = self.mapping.write_back.group
        groups = {g.name for g in self._call(self.properties_groups.get_all,
                                             object_type="contacts").results}
        existing = {p.name for p in self._call(self.properties_core.get_all,
                                               object_type="contacts").results}
        if group in groups:
            report.existing.append(f"group {group}")
        else:
            report.created.append(f"group {group}")
            if not dry_run:
                self._call(self.properties_groups.create, object_type="contacts",
                           property_group_create=PropertyGroupCreate(name=group, label="mqlsync lead scoring"))
        if self.mapping.mql_tag.list:
            name = f"list {self.mapping.mql_tag.list}"
            if self._list_id() is not None:
                report.existing.append(name)
            else:
                report.created.append(name)
                if not dry_run:
                    self._list_id(create=True)
        wanted = dict(self.mapping.write_back.fields)
        if self.mapping.mql_tag.field and self.mapping.mql_tag.field not in wanted.values():
            wanted["mql"] = self.mapping.mql_tag.field
        for key, name in wanted.items():
            if name in existing:
                report.existing.append(name)
                continue
            report.created.append(name)
            if dry_run:
                continue
            type_, field_type = WRITE_BACK_TYPES[key]
            options = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                       {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}] \
                if type_ == "bool" else None
            self._call(self.properties_core.create, object_type="contacts",
                       property_create=PropertyCreate(name=name, label=WRITE_BACK_LABELS[key], type=type_,
                                                      field_type=field_type, group_name=group, options=options,
                                                      description=f"Written by mqlsync ({key})."))
        return report


def task_key_of(body: str | None) -> str | None:
    if not body or TASK_KEY_MARK not in body:
        return None
    return body.rsplit(TASK_KEY_MARK, 1)[1].split()[0]


def _reason(exc: BaseException) -> str:
    """The CRM's message for a refused write (its JSON `message`), kept short."""
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    status = status_of(exc)
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"
