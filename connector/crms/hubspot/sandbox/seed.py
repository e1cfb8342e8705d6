"""Fill the sandbox portal with the sample generator's people and their activity, the
way a portal using the mapping holds them."""

from __future__ import annotations

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot.sandbox.portal import HubSpotSandbox
from mqlsync.connector.crms.hubspot.sandbox.wire import PORTAL_ID
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.sample import OWNERS
from mqlsync.connector.sandbox.seed import crm_properties


def seed_hubspot(sandbox: HubSpotSandbox, mapping: Mapping, contacts: list[Contact],
                 activities: list[Activity]) -> dict[str, str]:
    """Load contacts, owners and page views; return canonical id -> HubSpot id.
    Custom properties the mapping reads are defined first, as a portal that uses
    this mapping has them."""
    obj = mapping.objects["contacts"]
    read_props = set(obj.fields.values()) | set(obj.sql_criteria.values())
    if obj.sales_status:
        read_props |= {obj.sales_status.field} | ({obj.sales_status.at_field} if obj.sales_status.at_field else set())
    sandbox.groups.setdefault("crm_custom", {"name": "crm_custom", "label": "Custom", "displayOrder": 5,
                                             "archived": False})
    for name in sorted(read_props - set(sandbox.properties)):
        is_flag = name in obj.sql_criteria.values()
        is_time = obj.sales_status is not None and name == obj.sales_status.at_field
        kind = "bool" if is_flag else "datetime" if is_time else "string"
        sandbox._define(name, name.replace("_", " ").title(), kind,
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
        if obj.sales_status and contact.sales_status_at:
            # Sales set the status then: its history says so (propertiesWithHistory).
            sandbox.backdate(ids[contact.id], obj.sales_status.field, int(contact.sales_status_at.timestamp() * 1000))
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
            sandbox.activity.add_event("e_visited_page", hs_id, at_ms, {"hs_url": attrs.get("url", "")})
        elif activity.type == "form_submission" and email:
            # A HubSpot form: the visitor's e-mail and the hidden fields naming the offer.
            values = {"email": email}
            for field in ("form_type", "asset_type", "asset_id"):
                if field in attrs:
                    values[f"mqlsync_{field}"] = attrs[field]
            guid = sandbox.activity.add_form(attrs.get("form_name") or "Contact us")
            sandbox.activity.add_submission(guid, values, at_ms, "https://www.mqlsync.example/resources")
        elif activity.type in ("email_open", "email_click") and email:
            campaign = 1000 + int(attrs.get("campaign_id", "nl-0").rsplit("-", 1)[-1] or 0)
            kind = "OPEN" if activity.type == "email_open" else "CLICK"
            sandbox.activity.add_email_event(kind, email, at_ms, campaign, attrs.get("url"))
        elif activity.type in ("webinar_registration", "webinar_attendance"):
            # Webinars as a webinar integration records them: marketing events and their
            # participants (REGISTERED, ATTENDED with the time spent).
            event = sandbox.activity.add_marketing_event(attrs.get("event_name", "Webinar"),
                                                         attrs.get("event_id", "webinar"), at_ms)
            attended = activity.type == "webinar_attendance"
            sandbox.activity.add_participation(event, hs_id, email, "ATTENDED" if attended else "REGISTERED", at_ms,
                                      int(float(attrs.get("minutes", 0)) * 60) if attended else None)
        elif activity.type in CUSTOM_EVENTS:
            # Tracked as custom behavioral events, named pe{portalId}_{name} by HubSpot.
            sandbox.activity.add_event(f"pe{PORTAL_ID}_{activity.type}", hs_id, at_ms, attrs)
    return ids


#: sample activity a portal would track as custom behavioral events
CUSTOM_EVENTS = ("trial_signup", "video_watch", "event_attendance", "booth_conversation", "follow_up_request")
