"""HubSpot behind the CRM port, through hubspot-api-client: contacts and their activity
in, score fields, lifecycle stage, MQL tag and follow-up tasks out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from collections.abc import Mapping as MappingT
from datetime import datetime, timedelta
from typing import Any

import hubspot
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from pydantic import ValidationError

from mqlsync.connector.adapters.base import Metered, Page, SetupReport
from mqlsync.connector.adapters.jsonl import describe
from mqlsync.connector.adapters.mapped import parse_time as _parse_time
from mqlsync.connector.adapters.mapped import recorded, to_contact
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot.activity import ActivityReader, search_since
from mqlsync.connector.crms.hubspot.credentials import DEFAULT_HOST, HubSpotCredentials
from mqlsync.connector.crms.hubspot.policy import hubspot_policy
from mqlsync.connector.crms.hubspot.write import PlanWriter
from mqlsync.connector.errors import RecordRejected
from mqlsync.connector.http import NO_SDK_RETRIES, status_of
from mqlsync.connector.model import Contact

log = logging.getLogger("mqlsync.hubspot")

# API limits (CRM API reference): lists page 100 at a time, search 200, search cannot
# page past 10,000 results; batches take 100 inputs (BATCH, in hubspot_write).
LIST_PAGE, SEARCH_PAGE, SEARCH_CAP = 100, 200, 10_000
#: how long CRM search may take to show a change (the CRM search guide: changes take "a
#: few moments" to show): incremental searches overlap the watermark by this much, which
#: costs a few search pages a run (the contacts changed in those seconds, read twice)
SEARCH_LAG = timedelta(seconds=30)
#: HubSpot's read-only property on a merge's primary contact: the merged-away ids
MERGED_IDS = "hs_merged_object_ids"
#: the burst limit paced to when the mapping sets none: Free/Starter's 100 per 10 s
DEFAULT_BURST = 100
#: (connect, read) seconds for every request
REQUEST_TIMEOUT = (10, 60)
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


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class HubSpotAdapter(Metered, ActivityReader, PlanWriter):
    """One HubSpot portal, read and written through the mapping file."""

    name = "hubspot"

    def __init__(self, mapping: Mapping, token: str, host: str = DEFAULT_HOST) -> None:
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
        limits = mapping.limits
        self.policy = hubspot_policy(limits.retry_budget_s, limits.max_requests or DEFAULT_BURST, limits.per_seconds)
        self._requests = 0
        self._lifecycle: dict[str, str | None] = {}
        self._email_ids: dict[str, str | None] = {}
        props = set(self.obj.fields.values()) | set(self.obj.sql_criteria.values())
        if self.obj.stage_field:
            props.add(self.obj.stage_field)
        if self.obj.sales_status:
            props |= {self.obj.sales_status.field, self.obj.sales_status.at_field}
        props.add(MERGED_IDS)
        # mqlsync's own properties too: what they show is the record of what was done
        props |= set(mapping.write_back.fields.values())
        self.read_properties = sorted(props)

    @classmethod
    def from_env(cls, mapping: Mapping, env: MappingT[str, str] | None = None) -> HubSpotAdapter:
        credentials = HubSpotCredentials.from_env(env)
        return cls(mapping, credentials.access_token.get_secret_value(), credentials.base_url)

    def _call(self, fn, *args, idempotent: bool = True, **kwargs):
        """One SDK call under HubSpot's policy (paced, retried), counted, with a timeout:
        the SDK sets none, and a connection that hangs must fail and be retried."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)

        @functools.wraps(fn)
        def counted(*a, **k):
            self._requests += 1
            return fn(*a, **k)

        return self.policy.call(counted, *args, idempotent=idempotent, **kwargs)

    # --- reading ---------------------------------------------------------------------

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
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
                properties=self.read_properties, limit=SEARCH_PAGE, after=str(after))
            result = self._call(self.contacts_search.do_search, public_object_search_request=request)
            return result.results, (result.paging.next.after if result.paging and result.paging.next else None)

        def changed(record) -> int | None:
            at = _parse_time((record.properties or {}).get("lastmodifieddate")) or record.updated_at
            return _ms(at) if at else None

        for records in search_since(fetch, _ms(since), changed, lambda r: r.id, SEARCH_PAGE, SEARCH_CAP,
                                    "contacts"):
            yield self._page(records)

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
                page.recorded[record.id] = recorded(self.mapping.write_back, self.obj, props)
            except (ValidationError, ValueError) as exc:
                reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
                page.rejected.append(RecordRejected("hubspot contacts", None, reason, record.id))
            for merged in (props.get(MERGED_IDS) or "").split(";"):
                if merged.strip():
                    page.merged[merged.strip()] = record.id
            if self.obj.stage_field:
                self._lifecycle[record.id] = props.get(self.obj.stage_field)
            email = props.get(self.obj.fields.get("email", "email"))
            if email:
                self._email_ids[str(email).lower()] = record.id
        return page

    def to_contact(self, contact_id: str, props: MappingT[str, Any]) -> Contact:
        """A HubSpot contact in mqlsync's words, through the mapping."""
        return to_contact(self.obj, contact_id, props)

    def lifecycle_of(self, contact_id: str) -> str | None:
        return self._lifecycle.get(contact_id)

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
                try:
                    self._call(self.properties_groups.create, object_type="contacts",
                               property_group_create=PropertyGroupCreate(name=group, label="mqlsync lead scoring"))
                except Exception as exc:
                    if status_of(exc) != 409:
                        raise
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
            try:
                self._call(self.properties_core.create, object_type="contacts",
                           property_create=PropertyCreate(name=name, label=WRITE_BACK_LABELS[key], type=type_,
                                                          field_type=field_type, group_name=group, options=options,
                                                          description=f"Written by mqlsync ({key})."))
            except Exception as exc:
                if status_of(exc) != 409:  # 409: made by an earlier attempt whose answer was lost
                    raise
        return report
