"""Fill a sandbox CRM with the sample generator's people, written the way the mapping
file says the CRM holds them, so the adapter reads them back through that mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mqlsync.connector.config.mapping import Mapping, ObjectMapping
from mqlsync.connector.model import Contact, Stage


def _reverse_value(obj: ObjectMapping, field: str, value: Any) -> str | None:
    """The CRM value the mapping translates into `value`: for numbers (company size
    ranges) the option with the largest lower bound not above it."""
    if value is None:
        return None
    table = obj.values.get(field)
    if not table:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return str(int(value.timestamp() * 1000))
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        options = [(float(c), crm) for crm, c in table.items() if c.replace(".", "", 1).isdigit()]
        fitting = [o for o in options if o[0] <= value]
        return max(fitting)[1] if fitting else min(options)[1]
    return next((crm for crm, canonical in table.items() if canonical == value), None)


def crm_properties(contact: Contact, mapping: Mapping, object_name: str) -> dict[str, str | None]:
    """A canonical contact as the CRM's properties, through the mapping in reverse."""
    obj = mapping.objects[object_name]
    props: dict[str, str | None] = {}
    for field, crm in obj.fields.items():
        if field in ("created_at", "updated_at", "owner_id"):
            continue
        value = contact.attributes.get(field.split(".", 1)[1]) if field.startswith("attributes.") \
            else getattr(contact, field, None)
        props[crm] = _reverse_value(obj, field, value)
    if "owner_id" in obj.fields:
        props[obj.fields["owner_id"]] = contact.owner_id
    if obj.stage_field and contact.crm_stage is not None:
        back = {stage: value for stage, value in mapping.write_back.stage_values.items()}
        value = back.get(contact.crm_stage) or next(
            (crm for crm, s in obj.stages.items() if s == contact.crm_stage), None)
        props[obj.stage_field] = value
    elif obj.stage_field:
        props[obj.stage_field] = mapping.write_back.stage_values.get(Stage.LEAD) or "lead"
    if obj.sales_status and contact.sales_status:
        values = obj.sales_status.accepted if contact.sales_status == "accepted" else obj.sales_status.rejected
        props[obj.sales_status.field] = values[0] if values else None
        if contact.sales_status_at and obj.sales_status.at_field:
            props[obj.sales_status.at_field] = str(int(contact.sales_status_at.timestamp() * 1000))
    for criterion, crm in obj.sql_criteria.items():
        if criterion in contact.sql_criteria:
            props[crm] = "true" if contact.sql_criteria[criterion] else "false"
    return props
