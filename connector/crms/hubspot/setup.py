"""`mqlsync setup` on HubSpot: the property group, the contact properties mqlsync writes,
and the MQL list; nothing that exists is changed."""

from __future__ import annotations

from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from mqlsync.connector.adapters.base import SetupReport
from mqlsync.connector.adapters.writeback import ensure_tag_list, fields_to_make
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot.client import HubSpotClient
from mqlsync.connector.crms.hubspot.write import MqlList
from mqlsync.connector.http import status_of

#: the property type each write-back key gets from `setup` (type, fieldType)
WRITE_BACK_TYPES = {
    "score": ("number", "number"), "fit": ("number", "number"), "engagement": ("number", "number"),
    "negative": ("number", "number"), "grade": ("string", "text"), "stage": ("string", "text"),
    "mql": ("bool", "booleancheckbox"), "mql_at": ("datetime", "date"), "explanation": ("string", "textarea"),
    "model_version": ("string", "text"),
}
WRITE_BACK_LABELS = {
    "score": "MQL score", "fit": "MQL fit", "engagement": "MQL engagement", "negative": "MQL negative",
    "grade": "MQL fit grade", "stage": "mqlsync stage", "mql": "Is MQL", "mql_at": "MQL date",
    "explanation": "MQL explanation", "model_version": "MQL model version",
}


def ensure_fields(client: HubSpotClient, mapping: Mapping, mql_list: MqlList, dry_run: bool = False) -> SetupReport:
    report = SetupReport()
    group = mapping.write_back.group
    groups = {g.name for g in client.call(client.properties_groups.get_all, object_type="contacts").results}
    existing = set(client.contact_properties())
    if group in groups:
        report.existing.append(f"group {group}")
    else:
        report.created.append(f"group {group}")
        if not dry_run:
            try:
                client.call(client.properties_groups.create, object_type="contacts",
                            property_group_create=PropertyGroupCreate(name=group, label="mqlsync lead scoring"))
            except Exception as exc:
                if status_of(exc) != 409:
                    raise
    if mapping.mql_tag.list:
        ensure_tag_list(report, "list", mql_list, dry_run)
    for key, name in fields_to_make(mapping).items():
        if name in existing:
            report.existing.append(name)
            continue
        report.created.append(name)
        if dry_run:
            continue
        type_, field_type = WRITE_BACK_TYPES[key]
        options = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                   {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}] \
            if type_ == "bool" else None
        try:
            client.call(client.properties_core.create, object_type="contacts",
                        property_create=PropertyCreate(name=name, label=WRITE_BACK_LABELS[key], type=type_,
                                                       field_type=field_type, group_name=group, options=options,
                                                       description=f"Written by mqlsync ({key})."))
        except Exception as exc:
            if status_of(exc) != 409:  # 409: made by an earlier attempt whose answer was lost
                raise
    return report
