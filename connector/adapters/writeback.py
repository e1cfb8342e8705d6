"""mqlsync's writes in a CRM's fields, the same for every CRM: which field each
write-back key goes to, the lifecycle stage where the mapping writes it, the MQL tag as
a field, and the fields `setup` must make. Only the value types differ per CRM (text in
HubSpot, typed in Salesforce): each passes its own `Values`."""

from __future__ import annotations

import logging
from typing import Any, Protocol, cast

from mqlsync.connector.adapters.base import SetupReport
from mqlsync.connector.config.mapping import Mapping, ObjectMapping
from mqlsync.connector.errors import ConfigError, ConfigIssue
from mqlsync.connector.model import ApplyResult, FieldWrite, TaskRequest, WriteFailure, WritePlan

log = logging.getLogger("mqlsync.write")


class Values(Protocol):
    """How one CRM holds mqlsync's values."""

    def field(self, key: str, value: str | None) -> Any:
        """A write-back value (mqlsync's string, None for empty) as the field takes it."""

    def tag(self, value: str | bool, on: bool) -> Any:
        """The MQL tag field's value when the tag is on, and when it is off."""


def crm_fields(mapping: Mapping, obj: ObjectMapping | None, write: FieldWrite, values: Values) -> dict[str, Any]:
    """The write as the CRM's fields. The lifecycle stage goes to the object's stage
    field where the mapping writes it, unless the CRM already shows that value."""
    write_back = mapping.write_back
    fields = cast("dict[str, str]", write_back.fields)
    out: dict[str, Any] = {}
    for key, value in write.values.items():
        if key == "lifecycle":
            if write_back.lifecycle and obj is not None and obj.stage_field and value is not None:
                crm_value = cast("dict[str, str]", write_back.stage_values).get(value)  # Stage is a StrEnum
                if crm_value and crm_value != write.lifecycle_from:
                    out[obj.stage_field] = crm_value
            continue
        field = fields.get(key)
        if field:
            out[field] = values.field(key, value)
    tag = mapping.mql_tag
    if tag.field and "mql" in write.values and tag.field not in out:
        out[tag.field] = values.tag(tag.value, write.values["mql"] == "true")
    return out


def fields_to_make(mapping: Mapping) -> dict[str, str]:
    """Write-back key -> field name, for every field mqlsync writes (the MQL tag field too)."""
    wanted = dict(cast("dict[str, str]", mapping.write_back.fields))
    if mapping.mql_tag.field and mapping.mql_tag.field not in wanted.values():
        wanted["mql"] = mapping.mql_tag.field
    return wanted


def tag_list_missing(what: str, name: str, crm: str) -> ConfigError:
    """The MQL list or campaign is not in the CRM: `setup` makes it."""
    return ConfigError([ConfigIssue("mapping", None, "mql_tag.list",
                                    f"the {what} {name!r} is not in {crm}: run `mqlsync setup` to create it")])


class TagList(Protocol):
    """The MQL list (HubSpot) or campaign (Salesforce), found by name."""

    name: str | None

    def id(self, create: bool = False) -> str | None:
        """Its id, or None when missing; `create` makes it."""


def ensure_tag_list(report: SetupReport, what: str, tag_list: TagList, dry_run: bool) -> None:
    """`setup`'s step for the MQL list or campaign: found, or made unless a dry run."""
    name = f"{what} {tag_list.name}"
    if tag_list.id() is not None:
        report.existing.append(name)
        return
    report.created.append(name)
    if not dry_run:
        tag_list.id(create=True)


class PlanWriter:
    """How every CRM writes a plan, in this order: each contact's fields (a record
    whose values its field types cannot hold fails alone), the MQL tag as membership of
    a list or campaign for the contacts written, then the tasks of the contacts still
    there. A CRM's writer gives the steps; each reports per record into the result."""

    client: Any
    mapping: Mapping

    def fields(self, write: FieldWrite) -> dict[str, Any]:
        raise NotImplementedError

    def update(self, items: list[tuple[FieldWrite, dict[str, Any]]], result: ApplyResult) -> None:
        raise NotImplementedError

    def tag(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        raise NotImplementedError

    def send_tasks(self, tasks: list[TaskRequest], result: ApplyResult, owner: bool) -> list[TaskRequest]:
        """Create the tasks (with their owners, or without when `owner` is false);
        return those the CRM refused because of their owner (gone or inactive)."""
        raise NotImplementedError

    def make_tasks(self, tasks: list[TaskRequest], result: ApplyResult) -> None:
        """A task whose owner the CRM refuses is made without an owner (the integration
        user owns it) rather than not at all, and the log says so."""
        orphans = self.send_tasks(tasks, result, owner=True)
        for task in orphans:
            log.warning("task for %s created without an owner: owner %s is inactive or no longer exists in the CRM",
                        task.contact_id, task.owner_id)
        if orphans:
            self.send_tasks(orphans, result, owner=False)

    def apply(self, plan: WritePlan) -> ApplyResult:
        result = ApplyResult()
        start = self.client.requests
        records = []
        for write in plan.updates:
            try:
                records.append((write, self.fields(write)))
            except ValueError as exc:  # a value its field's type cannot hold
                result.failed.append(WriteFailure(contact_id=write.contact_id, reason=f"not written: {exc}"))
        result.updated.extend(w.contact_id for w, fields in records if not fields)
        self.update([(w, f) for w, f in records if f], result)
        if self.mapping.mql_tag.list:
            failed = {f.contact_id for f in result.failed} | set(result.gone)
            self.tag([w for w, _ in records if "mql" in w.values and w.contact_id not in failed], result)
        tasks = [t for t in plan.tasks if t.contact_id not in set(result.gone)]
        if tasks:
            self.make_tasks(tasks, result)
        result.requests = self.client.requests - start
        return result
