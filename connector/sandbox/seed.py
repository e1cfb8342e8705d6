"""Fill a sandbox CRM with the sample generator's people, written the way the mapping
file says the CRM holds them, so the adapter reads them back through that mapping."""

from __future__ import annotations

from datetime import datetime, timedelta
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
        value = back.get(contact.crm_stage) or next(
            (crm for crm, s in obj.stages.items() if s == contact.crm_stage), None)
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


# --- Salesforce ---------------------------------------------------------------------

#: the custom object a marketing automation tool would log web behaviour in, and the
#: sample activity types it holds (the rest are campaign members, tasks and events)
MARKETING_ACTIVITY = "Marketing_Activity__c"
_MARKETING_FIELDS = [("Type__c", "string"), ("URL__c", "url"), ("Form_Type__c", "string"),
                     ("Asset_Type__c", "string"), ("Asset_Id__c", "string"), ("Email_Campaign__c", "string"),
                     ("Plan__c", "string"), ("Percent__c", "double"), ("Event_Id__c", "string"),
                     ("Occurred_At__c", "datetime")]
_ATTRIBUTE_FIELDS = {"url": "URL__c", "form_type": "Form_Type__c", "asset_type": "Asset_Type__c",
                     "asset_id": "Asset_Id__c", "campaign_id": "Email_Campaign__c", "plan": "Plan__c",
                     "percent": "Percent__c", "event_id": "Event_Id__c", "video_id": "Asset_Id__c"}


def _salesforce_org(org, mapping: Mapping) -> None:
    """The custom fields and the custom activity object an org using this mapping has."""
    for name, obj in mapping.objects.items():
        flags = set(obj.sql_criteria.values())
        times = {obj.sales_status.at_field} if obj.sales_status else set()
        for field in sorted((set(obj.fields.values()) | flags | times) - set(org.fields[name])):
            if field.endswith("__c"):
                org.define(name, field, "boolean" if field in flags else "datetime" if field in times else "string")
    org.define("CampaignMember", "Minutes_Attended__c", "double")
    org.define(MARKETING_ACTIVITY, "Lead__c", "reference", {"referenceTo": ["Lead"]})
    org.define(MARKETING_ACTIVITY, "Contact__c", "reference", {"referenceTo": ["Contact"]})
    for field, type_ in _MARKETING_FIELDS:
        org.define(MARKETING_ACTIVITY, field, type_)


def seed_salesforce(org, mapping: Mapping, contacts: list[Contact], activities: list[Activity]) -> dict[str, str]:
    """Load the sample into a sandbox org: reps as Users, people in the sales pipeline
    as Contacts and the rest as Leads, webinars and events as campaigns with members,
    web behaviour as Marketing_Activity__c rows, reps' calls and meetings as Tasks and
    Events. Returns canonical id -> Salesforce id."""
    _salesforce_org(org, mapping)
    users = {owner: org.insert("User", {"Name": f"Rep {i + 1}", "Email": f"rep{i + 1}@mqlsync.example",
                                        "IsActive": True}) for i, owner in enumerate(OWNERS)}
    ids: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for contact in contacts:
        kind = "Contact" if contact.crm_stage in (Stage.OPPORTUNITY, Stage.CUSTOMER) and "Contact" in mapping.objects \
            else "Lead"
        obj = mapping.objects[kind]
        props: dict[str, object] = dict(crm_properties(contact, mapping, kind))
        if obj.stage_field and not (obj.sales_status and contact.sales_status):
            stage = contact.crm_stage or Stage.LEAD
            props[obj.stage_field] = next((crm for crm, s in obj.stages.items() if s == stage), None)
        if obj.sales_status and contact.sales_status_at:
            props[obj.sales_status.at_field] = contact.sales_status_at
        if "owner_id" in obj.fields:
            props[obj.fields["owner_id"]] = users.get(contact.owner_id or "")
        props.setdefault("LastName", None)
        props["LastName"] = props["LastName"] or "[not provided]"
        if kind == "Lead":
            props["Company"] = props.get("Company") or "[not provided]"
        elif contact.company:
            # A Contact's company is its Account, shared by the people who work there.
            if contact.company not in accounts:
                accounts[contact.company] = org.insert("Account", {
                    "Name": contact.company, "NumberOfEmployees": contact.company_size, "Industry": contact.industry,
                    "BillingCountry": contact.country, "OwnerId": users.get(contact.owner_id or "")})
            props["AccountId"] = accounts[contact.company]
        ids[contact.id] = org.insert(kind, {k: v for k, v in props.items() if v is not None and k in org.fields[kind]},
                                     at=contact.created_at)
    campaigns: dict[tuple[str, str], str] = {}
    members: dict[tuple[str, str], str] = {}

    def member(person: str, event_id: str, name: str, type_: str, status: str, at, extra=None) -> None:
        campaign = campaigns.get((type_, event_id))
        if campaign is None:
            campaign = campaigns[(type_, event_id)] = org.insert("Campaign", {"Name": name, "Type": type_,
                                                                              "IsActive": True})
        key = (campaign, person)
        person_field = "LeadId" if person.startswith("00Q") else "ContactId"
        if key in members:
            if status != "Registered":  # a registration after attending leaves the member Attended
                org.touch("CampaignMember", members[key], {"Status": status, **(extra or {})})
        else:
            members[key] = org.insert("CampaignMember", {"CampaignId": campaign, person_field: person,
                                                         "Status": status, **(extra or {})}, at=at)

    for contact in contacts:
        if contact.sales_status == "accepted" and contact.sales_status_at:
            who, owner = ids[contact.id], users.get(contact.owner_id or "")
            org.insert("Task", {"WhoId": who, "OwnerId": owner, "Subject": "Qualification call",
                                "TaskSubtype": "Call", "Status": "Completed", "CallDisposition": "Connected",
                                "CallDurationInSeconds": 540}, at=contact.sales_status_at - timedelta(days=1))
            org.insert("Event", {"WhoId": who, "OwnerId": owner, "Subject": "Discovery meeting",
                                 "StartDateTime": contact.sales_status_at, "DurationInMinutes": 30},
                       at=contact.sales_status_at)
    for activity in sorted(activities, key=lambda a: a.at):
        who = ids.get(activity.contact_id)
        if who is None:
            continue
        attrs = activity.attributes
        if activity.type in ("webinar_registration", "webinar_attendance"):
            attended = activity.type == "webinar_attendance"
            member(who, str(attrs.get("event_id")), str(attrs.get("event_name") or "Webinar"), "Webinar",
                   "Attended" if attended else "Registered", activity.at,
                   {"Minutes_Attended__c": attrs.get("minutes")} if attended else None)
        elif activity.type == "event_attendance":
            type_ = "Seminar / Conference" if "seminar" in str(attrs.get("event_type", "")).lower() else "Trade Show"
            member(who, str(attrs.get("event_id")), str(attrs.get("event_name") or "Event"), type_, "Attended",
                   activity.at)
        else:
            row = {("Lead__c" if who.startswith("00Q") else "Contact__c"): who, "Type__c": activity.type,
                   "Occurred_At__c": activity.at, "Name": str(attrs.get("form_name") or activity.type)[:80]}
            for attr, field in _ATTRIBUTE_FIELDS.items():
                if attrs.get(attr) is not None:
                    row[field] = attrs[attr]
            org.insert(MARKETING_ACTIVITY, row, at=activity.at)
    return ids
