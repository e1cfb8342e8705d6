"""The sandbox org's objects as Salesforce describes them, and Salesforce's wire formats:
record ids, dateTime strings, error bodies.

Field names, types and relationships follow the Object Reference for the standard
objects mqlsync touches (Lead, Contact, Task, Event, Campaign, CampaignMember, User)
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/),
and the describe result shape of "sObject Describe"
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from mqlsync.connector.sandbox.server import Response

API_VERSION = "59.0"

#: three-character key prefixes of the standard objects (the first characters of
#: every record id: "Standard Field Record ID Prefix Decoder", Salesforce help)
KEY_PREFIX = {"Account": "001", "Lead": "00Q", "Contact": "003", "Task": "00T", "Event": "00U", "Campaign": "701",
              "CampaignMember": "00v", "User": "005", "CustomField": "00N", "PermissionSet": "0PS",
              "FieldPermissions": "01k", "PermissionSetAssignment": "0Pa", "CampaignMemberStatus": "01Y",
              "Opportunity": "006", "OpportunityContactRole": "00K", "LeadHistory": "017",
              "ContactHistory": "017"}

#: (name, type, extra) per object; extra: picklist values, referenceTo, flags
_COMMON = [("Id", "id", {"updateable": False, "createable": False, "nillable": False}),
           ("IsDeleted", "boolean", {"updateable": False, "createable": False}),
           ("CreatedDate", "datetime", {"updateable": False, "createable": False}),
           ("LastModifiedDate", "datetime", {"updateable": False, "createable": False}),
           ("SystemModstamp", "datetime", {"updateable": False, "createable": False})]
_OWNER = [("OwnerId", "reference", {"referenceTo": ["User"], "relationshipName": "Owner"})]

LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Webinar", "Trade Show",
                "Employee Referral"]
CAMPAIGN_TYPES = ["Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
                  "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Content", "Other",
                  "Seminar / Conference"]

#: the default sales process's stages (Setup, Opportunity Stages)
OPPORTUNITY_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
                      "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"]

STANDARD: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    # The Marketing User checkbox lets a user create and edit campaigns and their member
    # statuses (Salesforce help, campaigns_customize_member_status_parent).
    "User": _COMMON + [("Name", "string", {}), ("Email", "email", {}), ("IsActive", "boolean", {}),
                       ("UserPermissionsMarketingUser", "boolean", {})],
    "Lead": _COMMON + _OWNER + [
        ("FirstName", "string", {}), ("LastName", "string", {"nillable": False}), ("Email", "email", {}),
        ("Title", "string", {}), ("Company", "string", {"nillable": False}), ("Phone", "phone", {}),
        ("NumberOfEmployees", "int", {}), ("Industry", "picklist", {}), ("Country", "string", {}),
        ("City", "string", {}), ("LeadSource", "picklist", {"picklist": LEAD_SOURCES}),
        ("Status", "picklist", {"picklist": LEAD_STATUSES, "restricted": True, "nillable": False}),
        ("HasOptedOutOfEmail", "boolean", {}),
        ("IsConverted", "boolean", {"updateable": False}),
        ("ConvertedContactId", "reference", {"referenceTo": ["Contact"], "relationshipName": "ConvertedContact",
                                             "updateable": False}),
        ("ConvertedDate", "date", {"updateable": False}),
        ("ConvertedOpportunityId", "reference", {"referenceTo": ["Opportunity"],
                                                 "relationshipName": "ConvertedOpportunity", "updateable": False}),
        ("MasterRecordId", "reference", {"referenceTo": ["Lead"], "updateable": False, "createable": False})],
    "Account": _COMMON + _OWNER + [
        ("Name", "string", {"nillable": False}), ("NumberOfEmployees", "int", {}), ("Industry", "picklist", {}),
        ("BillingCountry", "string", {}), ("BillingCity", "string", {})],
    "Contact": _COMMON + _OWNER + [
        ("AccountId", "reference", {"referenceTo": ["Account"], "relationshipName": "Account"}),
        ("FirstName", "string", {}), ("LastName", "string", {"nillable": False}), ("Email", "email", {}),
        ("Title", "string", {}), ("Phone", "phone", {}), ("MailingCountry", "string", {}),
        ("MailingCity", "string", {}), ("LeadSource", "picklist", {"picklist": LEAD_SOURCES}),
        ("HasOptedOutOfEmail", "boolean", {}),
        ("MasterRecordId", "reference", {"referenceTo": ["Contact"], "updateable": False, "createable": False})],
    "Task": _COMMON + _OWNER + [
        ("WhoId", "reference", {"referenceTo": ["Contact", "Lead"], "relationshipName": "Who"}),
        ("WhatId", "reference", {"referenceTo": ["Account", "Opportunity", "Campaign"], "relationshipName": "What"}),
        ("Subject", "combobox", {}), ("Description", "textarea", {}), ("ActivityDate", "date", {}),
        ("Status", "picklist", {"picklist": ["Not Started", "In Progress", "Completed", "Waiting on someone else",
                                             "Deferred"], "restricted": True}),
        ("Priority", "picklist", {"picklist": ["High", "Normal", "Low"], "restricted": True}),
        ("TaskSubtype", "picklist", {"picklist": ["Task", "Email", "ListEmail", "Cadence", "Call"],
                                     "updateable": False}),
        ("CallDisposition", "string", {}), ("CallDurationInSeconds", "int", {})],
    "Event": _COMMON + _OWNER + [
        ("WhoId", "reference", {"referenceTo": ["Contact", "Lead"], "relationshipName": "Who"}),
        ("WhatId", "reference", {"referenceTo": ["Account", "Opportunity", "Campaign"], "relationshipName": "What"}),
        ("Subject", "combobox", {}), ("StartDateTime", "datetime", {}), ("EndDateTime", "datetime", {}),
        ("DurationInMinutes", "int", {})],
    "Campaign": _COMMON + _OWNER + [
        ("Name", "string", {"nillable": False}), ("Type", "picklist", {"picklist": CAMPAIGN_TYPES}),
        ("Status", "picklist", {}), ("StartDate", "date", {}), ("IsActive", "boolean", {})],
    "CampaignMember": _COMMON + [
        ("CampaignId", "reference", {"referenceTo": ["Campaign"], "relationshipName": "Campaign",
                                     "updateable": False}),
        ("LeadId", "reference", {"referenceTo": ["Lead"], "relationshipName": "Lead", "updateable": False}),
        ("ContactId", "reference", {"referenceTo": ["Contact"], "relationshipName": "Contact",
                                    "updateable": False}),
        ("LeadOrContactId", "reference", {"referenceTo": ["Contact", "Lead"], "updateable": False,
                                          "createable": False}),
        ("Status", "picklist", {}), ("HasResponded", "boolean", {"updateable": False, "createable": False}),
        ("FirstRespondedDate", "date", {"updateable": False, "createable": False})],
    # IsClosed and IsWon follow StageName (its OpportunityStage: "Closed Won" won, "Closed
    # Lost" closed) and are read-only (Object Reference, Opportunity).
    "Opportunity": _COMMON + _OWNER + [
        ("AccountId", "reference", {"referenceTo": ["Account"], "relationshipName": "Account"}),
        ("Name", "string", {"nillable": False}),
        ("StageName", "picklist", {"picklist": OPPORTUNITY_STAGES, "restricted": True, "nillable": False}),
        ("CloseDate", "date", {"nillable": False}), ("Amount", "currency", {}),
        ("IsClosed", "boolean", {"updateable": False, "createable": False}),
        ("IsWon", "boolean", {"updateable": False, "createable": False})],
    "OpportunityContactRole": _COMMON + [
        ("OpportunityId", "reference", {"referenceTo": ["Opportunity"], "relationshipName": "Opportunity",
                                        "updateable": False, "nillable": False}),
        ("ContactId", "reference", {"referenceTo": ["Contact"], "relationshipName": "Contact", "nillable": False}),
        ("Role", "picklist", {}), ("IsPrimary", "boolean", {})],
    # "New campaigns have two default member status values" (Sent, Responded); an admin
    # adds others per campaign (Object Reference, CampaignMemberStatus).
    "CampaignMemberStatus": _COMMON + [
        ("CampaignId", "reference", {"referenceTo": ["Campaign"], "relationshipName": "Campaign",
                                     "updateable": False, "nillable": False}),
        ("Label", "string", {"nillable": False}), ("HasResponded", "boolean", {}), ("IsDefault", "boolean", {}),
        ("SortOrder", "int", {})],
    # Field history, where an admin turned it on for a field (Object Reference:
    # LeadHistory, ContactHistory; "Field History Tracking"). OldValue and NewValue are
    # anyType: selectable, not filterable.
    **{f"{obj}History": [
        ("Id", "id", {"updateable": False, "createable": False, "nillable": False}),
        ("IsDeleted", "boolean", {"updateable": False, "createable": False}),
        ("CreatedDate", "datetime", {"updateable": False, "createable": False}),
        (f"{obj}Id", "reference", {"referenceTo": [obj], "relationshipName": obj, "updateable": False}),
        ("Field", "picklist", {"updateable": False}), ("DataType", "picklist", {"updateable": False}),
        ("OldValue", "anyType", {"updateable": False}), ("NewValue", "anyType", {"updateable": False})]
       for obj in ("Lead", "Contact")},
    # Field-level security (Object Reference: PermissionSet, FieldPermissions,
    # PermissionSetAssignment); access.py applies it.
    "PermissionSet": _COMMON + [("Name", "string", {"nillable": False}), ("Label", "string", {"nillable": False}),
                                ("Description", "textarea", {})],
    "FieldPermissions": _COMMON + [
        ("ParentId", "reference", {"referenceTo": ["PermissionSet"], "relationshipName": "Parent",
                                   "updateable": False, "nillable": False}),
        ("SobjectType", "string", {"updateable": False, "nillable": False}),
        ("Field", "string", {"updateable": False, "nillable": False}),
        ("PermissionsRead", "boolean", {}), ("PermissionsEdit", "boolean", {})],
    "PermissionSetAssignment": _COMMON + [
        ("PermissionSetId", "reference", {"referenceTo": ["PermissionSet"], "relationshipName": "PermissionSet",
                                          "updateable": False, "nillable": False}),
        ("AssigneeId", "reference", {"referenceTo": ["User"], "relationshipName": "Assignee",
                                     "updateable": False, "nillable": False})],
}

#: Tooling API CustomField metadata type -> describe type
#: (https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/customfield.htm, FieldType)
METADATA_TYPES = {"Number": "double", "Text": "string", "Checkbox": "boolean", "DateTime": "datetime",
                  "Date": "date", "LongTextArea": "textarea", "TextArea": "textarea", "Picklist": "picklist",
                  "Lookup": "reference", "Email": "email", "Url": "url"}


def field_def(name: str, type_: str, extra: dict[str, Any] | None = None, custom: bool = False,
              label: str | None = None) -> dict[str, Any]:
    """One entry of a describe result's `fields`."""
    extra = extra or {}
    picklist = [{"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in extra.get("picklist", [])]
    return {
        "name": name, "label": label or name.replace("__c", "").replace("_", " "), "type": type_,
        "custom": custom, "updateable": extra.get("updateable", True), "createable": extra.get("createable", True),
        "nillable": extra.get("nillable", type_ != "boolean"), "externalId": extra.get("externalId", False),
        "unique": extra.get("unique", False), "length": extra.get("length", 255 if type_ in ("string", "email",
                                                                                           "phone") else 0),
        "picklistValues": picklist, "restrictedPicklist": extra.get("restricted", False),
        "referenceTo": extra.get("referenceTo", []), "relationshipName": extra.get("relationshipName"),
        "soapType": _SOAP_TYPES.get(type_, "xsd:string"),
    }


_SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
               "double": "xsd:double", "datetime": "xsd:dateTime", "date": "xsd:date"}


class Ids:
    """18-character record ids with the object's key prefix, unique within the org."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}8d0{next(self.counter):09d}AAA"


def sf_datetime(value: datetime | None) -> str | None:
    """Salesforce's REST dateTime format: 2026-11-01T09:00:00.000+0000."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def error(status: int, code: str, message: str, fields: list[str] | None = None,
          headers: dict[str, str] | None = None) -> Response:
    """Salesforce's REST error body: a list of {message, errorCode, fields}
    ("Status Codes and Error Responses",
    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return Response(status, [item], headers=headers or {})


def record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One record's error in a SaveResult (sObject Collections): statusCode, not errorCode."""
    return {"statusCode": code, "message": message, "fields": fields or []}
