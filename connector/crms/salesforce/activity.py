"""Reading Salesforce activity: Tasks, Events, campaign members and custom activity
objects, each source read once per run from its own watermark, with the mapping's
conditions as SOQL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mqlsync.connector.adapters.base import Page
from mqlsync.connector.adapters.mapped import parse_time, truthy
from mqlsync.connector.config.mapping import ActivitySource
from mqlsync.connector.config.mapping import Mapping as MappingFile
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.people import PeopleReader
from mqlsync.connector.crms.salesforce.rules import SALESFORCE_ACTIVITY
from mqlsync.connector.crms.salesforce.soql import condition_soql, field_value, holds, soql_time
from mqlsync.connector.errors import ConfigError, ConfigIssue
from mqlsync.connector.model import Activity


class ActivityReader:
    def __init__(self, client: SalesforceClient, mapping: MappingFile, people: PeopleReader) -> None:
        self.client, self.mapping, self.people = client, mapping, people

    def pull(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        """Each source object read once per run, from its own watermark by
        SystemModstamp, with the mapping's conditions as SOQL; each row becomes the
        activity of every mapping entry it meets (a campaign member Registered, later
        Attended, is two activities)."""
        by_source: dict[str, list[ActivitySource]] = {}
        for entry in self.mapping.activities:
            by_source.setdefault(entry.source, []).append(entry)
        for source, entries in by_source.items():
            person, at = self._who_and_when(source, entries)
            fields = {"Id", "IsDeleted", "SystemModstamp", *person, *at.values()}
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
            for records in self.client.rows(source, sorted(fields), clauses, full=start is None):
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
            page.saw(parse_time(record.get("SystemModstamp")))
            if truthy(record.get("IsDeleted")):
                # queryAll (an incremental read) returns deleted rows too: a task or an
                # event deleted, a member removed from a campaign, is not activity.
                page.deleted += [f"{record['Id']}:{entry.type}" for entry in entries]
                continue
            who = next((str(v) for v in (field_value(record, f) for f in person) if v), None)
            if who is None:
                continue  # a task on an account or an opportunity: nobody to score
            who = self.people.converted.get(who, who)
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
                    page.reject(f"salesforce {source}", exc, str(record["Id"]))
        return page
