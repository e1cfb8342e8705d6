"""Salesforce's rules for a mapping file, checked by `mqlsync validate` and at load."""

from __future__ import annotations

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.registry import Report
from mqlsync.connector.yamlsource import suggest

#: Salesforce's standard activity objects: the field naming the person and the time
#: the activity happened (Object Reference: a Task or Event names its person in WhoId;
#: a campaign member in LeadOrContactId, which is the Contact once a Lead converts).
#: Any other source is a custom object and must name its person field(s).
SALESFORCE_ACTIVITY: dict[str, tuple[list[str], str]] = {
    "Task": (["WhoId"], "CreatedDate"),
    "Event": (["WhoId"], "StartDateTime"),
    "CampaignMember": (["LeadOrContactId"], "CreatedDate"),
}
SALESFORCE_PEOPLE = ("Lead", "Contact")
#: the condition operators SOQL can express (contains_any, matches, domain_in cannot)
SOQL_OPERATORS = ("equals", "in_", "min", "max", "present")


def check_mapping(mapping: Mapping, add: Report) -> None:
    """What a Salesforce mapping must also be: people are Leads or Contacts, a custom
    activity object names its person field, and filters are what SOQL can say."""
    for name, obj in mapping.objects.items():
        if name not in SALESFORCE_PEOPLE:
            add(("objects", name), f"Salesforce people are the objects {' and '.join(SALESFORCE_PEOPLE)}"
                                   + suggest(name, SALESFORCE_PEOPLE))
        if obj.opportunities and name == "Lead":
            add(("objects", name, "opportunities"), "opportunities give a Contact its stage (contact roles and "
                                                    "its Account's deals); a Lead has none until converted")
    for i, src in enumerate(mapping.activities):
        if src.source not in SALESFORCE_ACTIVITY and not src.person:
            add(("activities", i, "source"), f"{src.source} is not a standard activity object "
                                             f"({', '.join(SALESFORCE_ACTIVITY)}): give `person`, the field(s) "
                                             "holding the Lead or Contact id, e.g. person: [Contact__c, Lead__c]")
        for field, cond in src.where.items():
            other = [op for op in cond.model_fields_set if op not in SOQL_OPERATORS]
            if other:
                add(("activities", i, "where", field), f"Salesforce filters with equals, in, min, max and "
                                                       f"present (sent as SOQL); not {other[0].rstrip('_')}")
