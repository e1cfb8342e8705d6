"""A CRM record in mqlsync's words, through an object's mapping: the same for every
CRM, so the mapping file alone decides how a HubSpot contact or a Salesforce Lead
becomes a Contact."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mqlsync.connector.config.mapping import ObjectMapping, WriteBack
from mqlsync.connector.model import Contact, iso

#: write-back keys whose values are numbers (whole points)
NUMBER_KEYS = ("score", "fit", "engagement", "negative")


def parse_time(value: Any) -> datetime | None:
    """A CRM time: epoch milliseconds (HubSpot), ISO 8601 with Z, +00:00 or +0000
    (Salesforce's 2026-11-01T09:00:00.000+0000), or a date."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time(raw: Any, crm: str) -> datetime | None:
    try:
        return parse_time(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{crm}: {str(raw)[:40]!r} is not a date and time") from None


def truthy(value: Any) -> bool:
    """A checkbox or flag as CRMs send it: true/false, yes/no, 1/0, checked."""
    return str(value).strip().lower() in ("true", "yes", "1", "on", "checked")


def fields_read(obj: ObjectMapping) -> dict[str, str]:
    """CRM field -> what mqlsync reads from it: a canonical field, `sql_criteria.<name>`,
    `stage`, `sales_status`, `sales_status_at`."""
    reads: dict[str, str] = {crm: field for field, crm in obj.fields.items()}
    reads.update({crm: f"sql_criteria.{name}" for name, crm in obj.sql_criteria.items()})
    if obj.stage_field:
        reads[obj.stage_field] = "stage"
    if obj.sales_status:
        reads[obj.sales_status.field] = "sales_status"
        if obj.sales_status.at_field:
            reads[obj.sales_status.at_field] = "sales_status_at"
    return reads


def verdict_of(obj: ObjectMapping, props: Mapping[str, Any]) -> str | None:
    """Sales' verdict the record shows (accepted, rejected), if the mapping reads one."""
    status = obj.sales_status
    if status is None:
        return None
    value = props.get(status.field)
    return "accepted" if value in status.accepted else "rejected" if value in status.rejected else None


def only_a_day(raw: Any) -> bool:
    """Whether a stamped time is only a date: YYYY-MM-DD, or midnight UTC to the
    millisecond (what a date property holds, e.g. HubSpot's date type)."""
    text = str(raw or "")
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return True
    try:
        at = parse_time(raw)
    except (TypeError, ValueError, OverflowError):
        return False
    return at is not None and at.astimezone(UTC).time() == datetime.min.time()


def to_contact(obj: ObjectMapping, contact_id: str, props: Mapping[str, Any],
               verdict_at: datetime | None = None) -> Contact:
    """The record's fields through the mapping: values translated, flags and numbers
    read, the sales verdict with its time, the SQL criteria. The verdict's time is
    `verdict_at` (when the CRM's own history says the status changed), else the
    mapping's stamped field (compared by day when it holds only a date). Raises
    ValueError (or pydantic's ValidationError) for a record that cannot be read, for
    the caller to report with the record's id."""
    data: dict[str, Any] = {"id": contact_id}
    attributes: dict[str, Any] = {}
    for field, crm in obj.fields.items():
        raw = props.get(crm)
        if raw in (None, "") or obj.is_placeholder(raw):
            continue
        if field in ("created_at", "updated_at"):
            data[field] = _time(raw, crm)
            continue
        value: Any = obj.values.get(field, {}).get(str(raw), raw)
        if field in ("unsubscribed", "bounced"):
            value = truthy(value)
        elif field == "company_size":
            try:
                value = int(float(str(value).replace(",", "").rstrip("+")))
            except ValueError:
                raise ValueError(f"company_size: {raw!r} in {crm} is not a number") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not field.startswith("attributes."):
            value = str(value)
        if field.startswith("attributes."):
            attributes[field.split(".", 1)[1]] = value
        else:
            data[field] = value
    if attributes:
        data["attributes"] = attributes
    if obj.stage_field:
        data["crm_stage"] = obj.stages.get(str(props.get(obj.stage_field) or ""))
    status, verdict = obj.sales_status, verdict_of(obj, props)
    if status is not None and verdict:
        # A verdict without its time cannot be told from the engagement after it
        # (the Contact refuses it): the record is reported, not guessed at.
        data["sales_status"] = verdict
        if verdict == "rejected":  # the CRM's own word for why (UNQUALIFIED, BAD_TIMING, ...)
            data["sales_reason"] = str(props.get(status.field))
        if verdict_at is not None:
            data["sales_status_at"] = verdict_at
        elif status.at_field:
            stamped = props.get(status.at_field)
            data["sales_status_at"] = _time(stamped, status.at_field)
            data["sales_status_exact"] = not only_a_day(stamped)
    criteria = {name: truthy(props.get(crm)) for name, crm in obj.sql_criteria.items()
                if props.get(crm) not in (None, "")}
    if criteria:
        data["sql_criteria"] = criteria
    return Contact.model_validate(data)


def recorded(write_back: WriteBack, obj: ObjectMapping, props: Mapping[str, Any]) -> dict[str, str | None]:
    """What a record shows of mqlsync's own fields, in the words mqlsync writes them
    (whole points, "true"/"false", times to the second), so the sync can compare them
    with what it would write: the CRM, not the state, is the record of what was done.
    The lifecycle is the mqlsync stage whose value the stage field holds (left out where
    no single stage maps to it). A value that cannot be read as its kind is kept as
    text: it differs from anything mqlsync writes, so it is written again."""
    out: dict[str, str | None] = {}
    for key, field in write_back.fields.items():
        raw = props.get(field)
        if raw in (None, ""):
            out[key] = None
            continue
        try:
            if key in NUMBER_KEYS:
                out[key] = str(int(round(float(raw))))
            elif key == "mql":
                out[key] = "true" if truthy(raw) else "false"
            elif key == "mql_at":
                out[key] = iso(parse_time(raw).replace(microsecond=0))  # type: ignore[union-attr]
            else:
                out[key] = str(raw)
        except (TypeError, ValueError, OverflowError):
            out[key] = str(raw)
    if write_back.lifecycle and obj.stage_field:
        raw = props.get(obj.stage_field)
        stages = [stage.value for stage, value in write_back.stage_values.items() if value == raw]
        if len(stages) == 1:
            out["lifecycle"] = stages[0]
    return out
