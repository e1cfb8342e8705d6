"""Salesforce behind the CRM port, through simple-salesforce: Leads and Contacts and
their activity (Tasks, Events, campaign memberships, custom activity objects) in;
score fields, Lead Status, the MQL tag and follow-up Tasks out."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingT
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from mqlsync.connector.adapters.base import Metered, Page, SetupReport
from mqlsync.connector.adapters.jsonl import describe
from mqlsync.connector.adapters.mapped import parse_time, recorded, to_contact, truthy
from mqlsync.connector.config.mapping import ActivitySource, Mapping, ObjectMapping
from mqlsync.connector.crms.salesforce.credentials import login_from_env
from mqlsync.connector.crms.salesforce.policy import error_code, salesforce_classify, salesforce_policy
from mqlsync.connector.crms.salesforce.rules import SALESFORCE_ACTIVITY
from mqlsync.connector.crms.salesforce.soql import condition_soql, field_value, holds, soql_time
from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD, WRITE_BACK_METADATA, SalesforceWriter
from mqlsync.connector.errors import ConfigError, ConfigIssue, CRMUnavailable, RecordRejected
from mqlsync.connector.http import is_loopback
from mqlsync.connector.model import Activity

log = logging.getLogger("mqlsync.salesforce")

API_VERSION = "59.0"
#: (connect, read) seconds for every request
REQUEST_TIMEOUT = (10, 60)
#: a full sync of more records than this reads through a Bulk API 2.0 query job: one
#: job and a few result pages instead of a query request per 2,000 rows
BULK_THRESHOLD = 20_000
#: share of the daily API allocation at which a run warns
USAGE_WARNING = 0.9
#: rows per Bulk API 2.0 results page, and the first wait before polling the job
BULK_PAGE, BULK_POLL_S = 50_000, 0.2


class _Transport(HTTPAdapter):
    """Every request simple-salesforce sends: counted, with a timeout (requests sets
    none), and, for a sandbox on this machine only, sent as plain http (the SDK builds
    https:// URLs from the instance's host name)."""

    def __init__(self, on_request: Callable[[], None], loopback_http: bool) -> None:
        super().__init__()
        self.on_request, self.loopback_http = on_request, loopback_http

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        to_loopback = is_loopback(urlsplit(request.url).hostname or "")
        if self.loopback_http and request.url.startswith("https://") and to_loopback:
            request.url = "http://" + request.url[len("https://"):]
        self.on_request()
        return super().send(request, **kwargs)


class SalesforceAdapter(Metered, SalesforceWriter):
    """One Salesforce org, read and written through the mapping file."""

    name = "salesforce"

    def __init__(self, mapping: Mapping, connect: Callable[[requests.Session], Salesforce],
                 loopback_http: bool = False, bulk_threshold: int = BULK_THRESHOLD) -> None:
        self.mapping = mapping
        limits = mapping.limits
        self.policy = salesforce_policy(limits.retry_budget_s, limits.max_requests, limits.per_seconds)
        self.bulk_threshold = bulk_threshold
        self._requests = 0
        self._usage_warned = False
        session = requests.Session()
        transport = _Transport(self._count, loopback_http)
        session.mount("https://", transport)
        session.mount("http://", transport)
        self.sf: Salesforce = self._call(connect, session)
        self.people: dict[str, ObjectMapping] = {name: obj for name, obj in mapping.objects.items()
                                                 if obj.enabled}
        self._kind: dict[str, str] = {}  # record id -> Lead | Contact
        self._lifecycle: dict[str, str | None] = {}
        self._converted: dict[str, str] = {}  # converted Lead -> its Contact
        self._campaign_id: str | None = None
        self._read = {name: self.read_fields(name, obj) for name, obj in self.people.items()}

    def _count(self) -> None:
        self._requests += 1

    def _call(self, fn, *args, **kwargs):
        result = self.policy.call(fn, *args, **kwargs)
        self._check_usage()
        return result

    def _check_usage(self) -> None:
        """Warn once per run when the org's daily API allocation is nearly used: every
        response says how much is (Sforce-Limit-Info, read by simple-salesforce)."""
        usage = (getattr(getattr(self, "sf", None), "api_usage", None) or {}).get("api-usage")
        if usage is None or not usage.total or self._usage_warned:
            return
        if usage.used >= USAGE_WARNING * usage.total:
            self._usage_warned = True
            log.warning("Salesforce API usage is at %d%% of the org's daily allocation (%s of %s requests); at "
                        "100%% every integration on the org is refused until the 24-hour window frees up",
                        100 * usage.used // usage.total, f"{usage.used:,}", f"{usage.total:,}")

    @classmethod
    def from_env(cls, mapping: Mapping, env: MappingT[str, str] | None = None, **options: Any) -> SalesforceAdapter:
        """Log in the way the environment says (credentials.LOGINS, in that order)."""
        login = login_from_env(os.environ if env is None else env)
        return cls(mapping, lambda s: login.client(s, version=API_VERSION, object_pairs_hook=dict),
                   loopback_http=login.loopback_http, **options)

    # --- reading ---------------------------------------------------------------------

    def _pages(self, soql: str, include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """A query's rows, one REST batch (up to 2,000) at a time, by nextRecordsUrl."""
        result = self._call(self.sf.query, soql, include_deleted=include_deleted)
        while True:
            yield result["records"]
            if result["done"]:
                return
            result = self._call(self.sf.query_more, result["nextRecordsUrl"], identifier_is_url=True)

    def _bulk_pages(self, obj: str, soql: str) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job's rows, one results page at a time (CSV, paged by
        Sforce-Locator). A failure part-way fails the run: the watermark has not moved,
        so the next run reads again."""
        try:
            for text in getattr(self.sf.bulk2, obj).query(soql, max_records=BULK_PAGE, wait=BULK_POLL_S):
                yield list(csv.DictReader(io.StringIO(text)))
        except SalesforceError as exc:
            raise salesforce_classify(exc) or CRMUnavailable(
                f"Salesforce Bulk API query failed ({exc.status}); the next run reads again") from None

    def _rows(self, obj: str, fields: list[str], where: list[str], full: bool) -> Iterator[list[dict[str, Any]]]:
        """The rows of `obj` meeting `where`, page by page. An incremental read is a
        REST query, oldest first, through queryAll so deletions come through; a full
        read of more rows than the threshold is a Bulk API 2.0 query job (counted first
        with COUNT(), which Bulk API 2.0 cannot run), without ORDER BY, which Bulk API
        2.0 refuses ("Understanding Bulk API 2.0 Query", SOQL considerations)."""
        soql = f"SELECT {', '.join(fields)} FROM {obj}" + (f" WHERE {' AND '.join(where)}" if where else "")
        if full:
            counted = self._call(self.sf.query, f"SELECT COUNT() FROM {obj}"
                                 + (f" WHERE {' AND '.join(where)}" if where else ""))
            if int(counted["totalSize"]) > self.bulk_threshold:
                log.info("full read of %s through a Bulk API 2.0 query job", obj)
                yield from self._bulk_pages(obj, soql)
                return
        yield from self._pages(soql + " ORDER BY SystemModstamp, Id", include_deleted=not full)

    def read_fields(self, name: str, obj: ObjectMapping) -> list[str]:
        fields = {"Id", "IsDeleted", "MasterRecordId", "SystemModstamp"} | set(obj.fields.values()) \
            | set(obj.sql_criteria.values())
        if obj.stage_field:
            fields.add(obj.stage_field)
        if obj.sales_status:
            fields |= {obj.sales_status.field, obj.sales_status.at_field}
        if name == "Lead":
            fields |= {"IsConverted", "ConvertedContactId"}
        # mqlsync's own fields too (`setup` makes them): what they show is the record
        # of what was done
        fields |= set(self.mapping.write_back.fields.values())
        return sorted(f for f in fields if not f.startswith("attributes."))

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        """Leads and Contacts modified at or after `since`, oldest first, by
        SystemModstamp (which also moves on system changes, unlike LastModifiedDate).
        Incremental reads use queryAll, so deletions come through (IsDeleted); a full
        sync above the threshold reads through a Bulk API 2.0 query job."""
        for name, obj in self.people.items():
            where = [] if since is None else [f"SystemModstamp >= {soql_time(since)}"]
            for records in self._rows(name, self._read[name], where, full=since is None):
                yield self._people_page(name, obj, records)

    def _people_page(self, name: str, obj: ObjectMapping, records: list[dict[str, Any]]) -> Page:
        page = Page()
        for record in records:
            cid = str(record["Id"])
            changed = parse_time(record.get("SystemModstamp"))
            if changed and (page.high_water is None or changed > page.high_water):
                page.high_water = changed
            if truthy(record.get("IsDeleted")):
                # Deleted, or merged into the record MasterRecordId names (queryAll).
                master = field_value(record, "MasterRecordId")
                if master:
                    page.merged[cid] = str(master)
                else:
                    page.deleted.append(cid)
                continue
            if name == "Lead" and truthy(record.get("IsConverted")):
                # A converted Lead lives on as its Contact: scored once, as the Contact.
                target = field_value(record, "ConvertedContactId")
                if target:
                    page.merged[cid] = str(target)
                    self._converted[cid] = str(target)
                else:
                    page.deleted.append(cid)
                continue
            # Flat values: parent fields (Account.Name) come nested from REST, as a
            # column from Bulk CSV; empty means null in both.
            values = {f: field_value(record, f) for f in self._read[name]}
            try:
                page.contacts.append(to_contact(obj, cid, values))
            except (ValidationError, ValueError) as exc:
                reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
                page.rejected.append(RecordRejected(f"salesforce {name}", None, reason, cid))
                continue
            page.recorded[cid] = recorded(self.mapping.write_back, obj, values)
            self._kind[cid] = name
            if obj.stage_field:
                self._lifecycle[cid] = values.get(obj.stage_field)
        return page

    def lifecycle_of(self, contact_id: str) -> str | None:
        return self._lifecycle.get(contact_id)

    def pull_activities(self, since: MappingT[str, datetime | None]) -> Iterator[Page]:
        """Each source object read once per run, from its own watermark by
        SystemModstamp, with the mapping's conditions as SOQL; each row becomes the
        activity of every mapping entry it meets (a campaign member Registered, later
        Attended, is two activities)."""
        by_source: dict[str, list[ActivitySource]] = {}
        for entry in self.mapping.activities:
            by_source.setdefault(entry.source, []).append(entry)
        for source, entries in by_source.items():
            person, at = self._who_and_when(source, entries)
            fields = {"Id", "SystemModstamp", *person, *at.values()}
            for entry in entries:
                fields |= set(entry.attributes.values()) | set(entry.where)
            clauses = []
            start = since.get(source)
            if start is not None:
                clauses.append(f"SystemModstamp >= {soql_time(start)}")
            if all(entry.where for entry in entries):
                clauses.append("(" + " OR ".join(
                    "(" + " AND ".join(condition_soql(f, c) for f, c in entry.where.items()) + ")"
                    for entry in entries) + ")")
            for records in self._rows(source, sorted(fields), clauses, full=start is None):
                yield self._activity_page(source, entries, person, at, records)

    def _who_and_when(self, source: str, entries: list[ActivitySource]) -> tuple[list[str], dict[int, str]]:
        default_person, default_at = SALESFORCE_ACTIVITY.get(source, ([], "CreatedDate"))
        person = entries[0].person or default_person
        if not person:
            raise ConfigError([ConfigIssue("mapping", None, "activities.person",
                                           f"{source}: name the field(s) holding the Lead or Contact id, "
                                           "e.g. person: [Contact__c, Lead__c]")])
        return person, {i: entry.at or default_at for i, entry in enumerate(entries)}

    def _activity_page(self, source: str, entries: list[ActivitySource], person: list[str], at: dict[int, str],
                       records: list[dict[str, Any]]) -> Page:
        page = Page(source=source)
        for record in records:
            changed = parse_time(record.get("SystemModstamp"))
            if changed and (page.high_water is None or changed > page.high_water):
                page.high_water = changed
            who = next((str(v) for v in (field_value(record, f) for f in person) if v), None)
            if who is None:
                continue  # a task on an account or an opportunity: nobody to score
            who = self._converted.get(who, who)
            for i, entry in enumerate(entries):
                if not all(holds(cond, field_value(record, f)) for f, cond in entry.where.items()):
                    continue
                try:
                    when = parse_time(field_value(record, at[i]))
                    if when is None:
                        raise ValueError(f"{at[i]} is empty")
                    page.activities.append(Activity(
                        id=f"{record['Id']}:{entry.type}", contact_id=who, type=entry.type, at=when,
                        attributes={k: field_value(record, v) for k, v in entry.attributes.items()}))
                except (ValidationError, ValueError) as exc:
                    reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
                    page.rejected.append(RecordRejected(f"salesforce {source}", None, reason, str(record["Id"])))
        return page

    # --- setup -----------------------------------------------------------------------

    def ensure_fields(self, dry_run: bool = False) -> SetupReport:
        """Custom fields for the write-back on each enabled object, the task key on
        Task, created through the Tooling API (CustomField); the MQL campaign when the
        tag is a campaign. The integration user needs field-level access to new fields
        (a permission set): Salesforce grants none by default."""
        report = SetupReport()
        wanted = dict(self.mapping.write_back.fields)
        if self.mapping.mql_tag.field and self.mapping.mql_tag.field not in wanted.values():
            wanted["mql"] = self.mapping.mql_tag.field
        plan: list[tuple[str, str, dict[str, Any]]] = [
            (obj, field, WRITE_BACK_METADATA[key]) for obj in self.people for key, field in wanted.items()]
        if self.mapping.tasks.enabled:
            plan.append(("Task", TASK_KEY_FIELD, WRITE_BACK_METADATA["task_key"]))
        existing: dict[str, set[str]] = {}
        for obj, field, metadata in plan:
            if obj not in existing:
                described = self._call(getattr(self.sf, obj).describe)
                existing[obj] = {f["name"] for f in described["fields"]}
            name = f"{obj}.{field}"
            if field in existing[obj]:
                report.existing.append(name)
                continue
            report.created.append(name)
            if not dry_run:
                try:
                    self._call(self.sf.toolingexecute, "sobjects/CustomField/", method="POST",
                               data={"FullName": name, "Metadata": metadata})
                except SalesforceError as exc:
                    # Created by an earlier attempt whose answer was lost: it is there.
                    if error_code(exc) != "DUPLICATE_DEVELOPER_NAME":
                        raise
        if self.mapping.mql_tag.list:
            name = f"campaign {self.mapping.mql_tag.list}"
            if self._campaign(create=False) is not None:
                report.existing.append(name)
            else:
                report.created.append(name)
                if not dry_run:
                    self._campaign(create=True)
        return report
