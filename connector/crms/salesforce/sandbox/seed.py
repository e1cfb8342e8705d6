"""Fill the sandbox org with the sample generator's people and their activity, the way
an org using the mapping holds them."""

from __future__ import annotations

from datetime import timedelta

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.model import Activity, Contact, Stage
from mqlsync.connector.sample import ANCHOR, OWNERS
from mqlsync.connector.sandbox.seed import crm_properties

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
        times = {obj.sales_status.at_field} if obj.sales_status and obj.sales_status.at_field else set()
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
        if obj.sales_status and obj.sales_status.at_field and contact.sales_status_at:
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
        if kind == "Contact" and contact.crm_stage in (Stage.OPPORTUNITY, Stage.CUSTOMER):
            # In the pipeline: a deal they have a role on, won for a customer.
            won = contact.crm_stage == Stage.CUSTOMER
            deal = org.insert("Opportunity", {
                "Name": f"{contact.company or 'Deal'} - {contact.id}", "AccountId": props.get("AccountId"),
                "StageName": "Closed Won" if won else "Proposal/Price Quote", "Amount": 12000,
                "CloseDate": (contact.created_at or ANCHOR).date().isoformat(),
                "OwnerId": users.get(contact.owner_id or "")},
                at=contact.created_at)
            org.insert("OpportunityContactRole", {"OpportunityId": deal, "ContactId": ids[contact.id],
                                                  "Role": "Decision Maker", "IsPrimary": True}, at=contact.created_at)
    campaigns: dict[tuple[str, str], str] = {}
    members: dict[tuple[str, str], str] = {}

    def member(person: str, event_id: str, name: str, type_: str, status: str, at, extra=None) -> None:
        campaign = campaigns.get((type_, event_id))
        if campaign is None:
            campaign = campaigns[(type_, event_id)] = org.insert("Campaign", {"Name": name, "Type": type_,
                                                                              "IsActive": True})
            # The member statuses an admin adds for an event (beside Sent and Responded).
            for order, (label, responded) in enumerate((("Registered", False), ("Attended", True)), 3):
                org.insert("CampaignMemberStatus", {"CampaignId": campaign, "Label": label,
                                                    "HasResponded": responded, "SortOrder": order})
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
        if activity.contact_id not in ids:
            continue
        who = ids[activity.contact_id]
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
