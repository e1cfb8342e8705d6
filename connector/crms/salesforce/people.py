"""Reading Salesforce Leads and Contacts: by SystemModstamp, through queryAll so deletions,
merges and conversions come through; and what this run saw of each record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.adapters.mapped import parse_time, recorded, to_contact, truthy, verdict_of
from mqlsync.connector.config.mapping import Mapping, ObjectMapping
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.pipeline import Pipeline, later
from mqlsync.connector.crms.salesforce.soql import field_value, in_lists, soql_time

#: key prefixes of Leads and Contacts (an id says which object it is)
PREFIX_OBJECT = {"00Q": "Lead", "003": "Contact"}


class PeopleReader:
    """Leads and Contacts in mqlsync's words, and what this run saw of each record: its
    object, its lifecycle value, and the Contact a converted Lead became."""

    def __init__(self, client: SalesforceClient, mapping: Mapping) -> None:
        self.client, self.mapping = client, mapping
        self.objects: dict[str, ObjectMapping] = {name: obj for name, obj in mapping.objects.items() if obj.enabled}
        self.kind: dict[str, str] = {}  # record id -> Lead | Contact
        self.lifecycle: dict[str, str | None] = {}
        self.converted: dict[str, str] = {}  # converted Lead -> its Contact
        self.account_of: dict[str, str | None] = {}  # Contact -> its Account
        self.fields = {name: self.read_fields(name, obj) for name, obj in self.objects.items()}

    def object_of(self, contact_id: str) -> str:
        return self.kind.get(contact_id) or PREFIX_OBJECT.get(contact_id[:3], "Lead")

    def read_fields(self, name: str, obj: ObjectMapping) -> list[str]:
        fields = {"Id", "IsDeleted", "MasterRecordId", "SystemModstamp"} | set(obj.fields.values()) \
            | set(obj.sql_criteria.values())
        if obj.stage_field:
            fields.add(obj.stage_field)
        if obj.sales_status:
            fields.add(obj.sales_status.field)
            if obj.sales_status.at_field:
                fields.add(obj.sales_status.at_field)
        if name == "Lead":
            fields |= {"IsConverted", "ConvertedContactId"}
        if obj.opportunities:
            fields.add("AccountId")
        # mqlsync's own fields too (`setup` makes them): what they show is the record
        # of what was done
        fields |= set(self.mapping.write_back.fields.values())
        return sorted(f for f in fields if not f.startswith("attributes."))

    def pull(self, since: datetime | None) -> Iterator[Page]:
        """Leads and Contacts modified at or after `since`, oldest first, by
        SystemModstamp (which also moves on system changes, unlike LastModifiedDate).
        Incremental reads use queryAll, so deletions come through (IsDeleted); a full
        sync above the threshold reads through a Bulk API 2.0 query job."""
        for name, obj in self.objects.items():
            where = [] if since is None else [f"SystemModstamp >= {soql_time(since)}"]
            pipeline = Pipeline(self.client, obj.opportunities) if obj.opportunities else None
            if pipeline and since is None:
                pipeline.load_all()
            seen: set[str] = set()
            for records in self.client.rows(name, self.fields[name], where, full=since is None):
                page = self._page(name, obj, records, pipeline)
                seen.update(str(r["Id"]) for r in records)
                yield page
            if pipeline and since is not None:
                yield from self._moved_in_pipeline(name, obj, pipeline, since, seen)

    def _moved_in_pipeline(self, name: str, obj: ObjectMapping, pipeline: Pipeline, since: datetime,
                           seen: set[str]) -> Iterator[Page]:
        """Contacts whose opportunities changed since `since` while their records did
        not: read again, so their stage is what the pipeline says now."""
        contacts, accounts = pipeline.changed(since)
        select = f"SELECT {', '.join(self.fields[name])} FROM {name} WHERE "
        for field, ids in (("Id", sorted(contacts - seen)), ("AccountId", sorted(accounts))):
            for listed in in_lists(ids):
                for records in self.client.pages(f"{select}{field} IN ({listed})"):
                    records = [r for r in records if str(r["Id"]) not in seen]
                    seen.update(str(r["Id"]) for r in records)
                    yield self._page(name, obj, records, pipeline)

    def _verdict_times(self, name: str, obj: ObjectMapping, records: list[dict[str, Any]]) -> dict[str, datetime]:
        """When each record's sales status took the value it has, from the field's history
        ({Object}History: Field, NewValue, CreatedDate; kept where an admin turned field
        history tracking on for the status field, else empty): the newest change to the
        current value. NewValue cannot be filtered on in SOQL, so it is compared here."""
        status = obj.sales_status
        if status is None:
            return {}
        current = {str(r["Id"]): field_value(r, status.field) for r in records
                   if not truthy(r.get("IsDeleted")) and verdict_of(obj, {status.field: field_value(r, status.field)})}
        out: dict[str, datetime] = {}
        for listed in in_lists(sorted(current)):
            soql = (f"SELECT {name}Id, NewValue, CreatedDate FROM {name}History WHERE Field = '{status.field}' "
                    f"AND {name}Id IN ({listed}) ORDER BY CreatedDate DESC")
            for rows in self.client.pages(soql):
                for row in rows:
                    cid = str(row[f"{name}Id"])
                    if cid not in out and row.get("NewValue") == current.get(cid):
                        at = parse_time(row.get("CreatedDate"))
                        if at is not None:
                            out[cid] = at
        return out

    def _page(self, name: str, obj: ObjectMapping, records: list[dict[str, Any]],
              pipeline: Pipeline | None = None) -> Page:
        page = Page()
        verdicts = self._verdict_times(name, obj, records)
        for record in records:
            cid = str(record["Id"])
            page.saw(parse_time(record.get("SystemModstamp")))
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
                    self.converted[cid] = str(target)
                else:
                    page.deleted.append(cid)
                continue
            # Flat values: parent fields (Account.Name) come nested from REST, as a
            # column from Bulk CSV; empty means null in both.
            values = {f: field_value(record, f) for f in self.fields[name]}
            try:
                page.contacts.append(to_contact(obj, cid, values, verdicts.get(cid)))
            except (ValidationError, ValueError) as exc:
                page.reject(f"salesforce {name}", exc, cid)
                continue
            page.recorded[cid] = recorded(self.mapping.write_back, obj, values)
            self.kind[cid] = name
            if obj.stage_field:
                self.lifecycle[cid] = values.get(obj.stage_field)
            if obj.opportunities:
                self.account_of[cid] = field_value(record, "AccountId")
        if pipeline is not None:
            ids = [c.id for c in page.contacts]
            pipeline.load(ids, [a for a in (self.account_of.get(i) for i in ids) if a])
            page.contacts = [c.model_copy(update={"crm_stage": stage})
                             if (stage := later(c.crm_stage, pipeline.stage_of(c.id, self.account_of.get(c.id))))
                             != c.crm_stage else c for c in page.contacts]
        return page

