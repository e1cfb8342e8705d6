"""Fill a sandbox CRM with the sample generator's people, written the way the mapping
file says the CRM holds them, so the adapter reads them back through that mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..config.mapping import Mapping, ObjectMapping
from ..model import Activity, Contact, Stage
from ..sample import OWNERS
from .hubspot import HubSpotSandbox
from .hubspot_wire import PORTAL_ID


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
        value = back.get(contact.crm_stage) or next((crm for crm, s in obj.stages.items() if s == contact.crm_stage), None)
        props[obj.stage_field] = value
    elif obj.stage_field:
        props[obj.stage_field] = mapping.write_back.stage_values.get(Stage.LEAD) or "lead"
    if obj.sales_status and contact.sales_status:
        values = obj.sales_status.accepted if contact.sales_status == "accepted" else obj.sales_status.rejected
        props[obj.sales_status.field] = values[0] if values else None
        if contact.sales_status_at:
            props[obj.sales_status.at_field] = str(int(contact.sales_status_at.timestamp() * 1000))
    for criterion, crm in obj.sql_criteria.items():
        if criterion in contact.sql_criteria:
            props[crm] = "true" if contact.sql_criteria[criterion] else "false"
    return props


def seed_hubspot(sandbox: HubSpotSandbox, mapping: Mapping, contacts: list[Contact],
                 activities: list[Activity]) -> dict[str, str]:
    """Load contacts, owners and page views; return canonical id -> HubSpot id.
    Custom properties the mapping reads are defined first, as a portal that uses
    this mapping has them."""
    obj = mapping.objects["contacts"]
    read_props = set(obj.fields.values()) | set(obj.sql_criteria.values())
    if obj.sales_status:
        read_props |= {obj.sales_status.field, obj.sales_status.at_field}
    sandbox.groups.setdefault("crm_custom", {"name": "crm_custom", "label": "Custom", "displayOrder": 5,
                                             "archived": False})
    for name in sorted(read_props - set(sandbox.properties)):
        is_flag = name in obj.sql_criteria.values()
        is_time = obj.sales_status is not None and name == obj.sales_status.at_field
        sandbox._define(name, name.replace("_", " ").title(), "bool" if is_flag else "datetime" if is_time else "string",
                        "booleancheckbox" if is_flag else "date" if is_time else "text", "crm_custom",
                        ["true", "false"] if is_flag else [])
    for i, owner in enumerate(OWNERS):
        sandbox.add_owner(owner, f"rep{i + 1}@mqlsync.example", "Rep", str(i + 1))
    owner_options = sandbox.properties["hubspot_owner_id"]["options"]
    owner_options[:] = [{"label": f"Rep {i + 1}", "value": o, "displayOrder": i, "hidden": False}
                        for i, o in enumerate(OWNERS)]
    ids: dict[str, str] = {}
    for contact in contacts:
        created = int(contact.created_at.timestamp() * 1000) if contact.created_at else None
        ids[contact.id] = sandbox.add_contact(crm_properties(contact, mapping, "contacts"), created)
    # Reps log a call and a meeting around each acceptance by sales (engagements).
    for contact in contacts:
        if contact.sales_status == "accepted" and contact.sales_status_at:
            at_ms = int(contact.sales_status_at.timestamp() * 1000)
            sandbox.add_engagement("calls", ids[contact.id], at_ms - 86_400_000,
                                   {"hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
                                    "hs_call_duration": "540000", "hs_call_title": "Qualification call"})
            sandbox.add_engagement("meetings", ids[contact.id], at_ms,
                                   {"hs_meeting_title": "Discovery meeting", "hs_meeting_outcome": "COMPLETED"})
    emails = {c.id: c.email for c in contacts}
    for activity in activities:
        hs_id = ids.get(activity.contact_id)
        if hs_id is None:
            continue
        at_ms = int(activity.at.timestamp() * 1000)
        attrs = {k: str(v) for k, v in activity.attributes.items() if v is not None}
        email = emails.get(activity.contact_id)
        if activity.type == "page_view":
            sandbox.add_event("e_visited_page", hs_id, at_ms, {"hs_url": attrs.get("url", "")})
        elif activity.type == "form_submission" and email:
            # A HubSpot form: the visitor's e-mail and the hidden fields naming the offer.
            values = {"email": email}
            for field in ("form_type", "asset_type", "asset_id"):
                if field in attrs:
                    values[f"mqlsync_{field}"] = attrs[field]
            guid = sandbox.add_form(attrs.get("form_name") or "Contact us")
            sandbox.add_submission(guid, values, at_ms, "https://www.mqlsync.example/resources")
        elif activity.type in ("email_open", "email_click") and email:
            campaign = 1000 + int(attrs.get("campaign_id", "nl-0").rsplit("-", 1)[-1] or 0)
            sandbox.add_email_event("OPEN" if activity.type == "email_open" else "CLICK", email, at_ms, campaign,
                                    attrs.get("url"))
        elif activity.type in ("webinar_registration", "webinar_attendance"):
            # Webinars as a webinar integration records them: marketing events and their
            # participants (REGISTERED, ATTENDED with the time spent).
            event = sandbox.add_marketing_event(attrs.get("event_name", "Webinar"), attrs.get("event_id", "webinar"),
                                                at_ms)
            attended = activity.type == "webinar_attendance"
            sandbox.add_participation(event, hs_id, email, "ATTENDED" if attended else "REGISTERED", at_ms,
                                      int(float(attrs.get("minutes", 0)) * 60) if attended else None)
        elif activity.type in CUSTOM_EVENTS:
            # Tracked as custom behavioral events, named pe{portalId}_{name} by HubSpot.
            sandbox.add_event(f"pe{PORTAL_ID}_{activity.type}", hs_id, at_ms, attrs)
    return ids


#: sample activity a portal would track as custom behavioral events
CUSTOM_EVENTS = ("trial_signup", "video_watch", "event_attendance", "booth_conversation", "follow_up_request")
