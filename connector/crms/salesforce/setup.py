"""`mqlsync setup` on Salesforce: the custom fields mqlsync writes on each enabled object
and the task key on Activity, through the Tooling API; the MQL campaign when the tag is
a campaign. Nothing that exists is changed."""

from __future__ import annotations

from typing import Any

from simple_salesforce.exceptions import SalesforceError

from mqlsync.connector.adapters.base import SetupReport
from mqlsync.connector.adapters.writeback import ensure_tag_list, fields_to_make
from mqlsync.connector.config.mapping import Mapping, ObjectMapping
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.policy import error_code
from mqlsync.connector.crms.salesforce.soql import in_lists, soql_value
from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD, MqlCampaign

#: Tooling API CustomField metadata per write-back key ("CustomField", Metadata API
#: Developer Guide: type, length, precision/scale, defaultValue for checkboxes)
WRITE_BACK_METADATA: dict[str, dict[str, Any]] = {
    **{key: {"label": label, "type": "Number", "precision": 18, "scale": 0}
       for key, label in (("score", "MQL Score"), ("fit", "MQL Fit"), ("engagement", "MQL Engagement"),
                          ("negative", "MQL Negative"))},
    "grade": {"label": "MQL Grade", "type": "Text", "length": 10},
    "stage": {"label": "MQL Stage", "type": "Text", "length": 20},
    "mql": {"label": "Is MQL", "type": "Checkbox", "defaultValue": "false"},
    "mql_at": {"label": "MQL Date", "type": "DateTime"},
    "explanation": {"label": "MQL Explanation", "type": "LongTextArea", "length": 32768, "visibleLines": 6},
    "model_version": {"label": "MQL Model Version", "type": "Text", "length": 64},
    "task_key": {"label": "mqlsync Task Key", "type": "Text", "length": 255, "externalId": True, "unique": True},
}


#: the permission set `setup` makes for mqlsync's fields and assigns to the integration user
PERMISSION_SET = "mqlsync_fields"
#: how an admin grants what `setup` could not
HOW_TO_GRANT = ("Setup > Permission Sets > New ({name}), Object Settings: Read and Edit on each field, then "
                "Manage Assignments: add the integration user")


def ensure_fields(client: SalesforceClient, mapping: Mapping, people: dict[str, ObjectMapping],
                  campaign: MqlCampaign, dry_run: bool = False, grant: bool = True) -> SetupReport:
    """Custom fields for the write-back on each enabled object and the task key on
    Activity, created through the Tooling API (CustomField); read and edit access to
    them for the integration user through a permission set (Salesforce grants nobody a
    new field); the MQL campaign when the tag is a campaign."""
    report = SetupReport()
    wanted = fields_to_make(mapping)
    # (the object the field is seen on, the object it is made on, field, metadata)
    plan: list[tuple[str, str, str, dict[str, Any]]] = [
        (obj, obj, field, WRITE_BACK_METADATA[key]) for obj in people for key, field in wanted.items()]
    if mapping.tasks.enabled:
        # Task and Event custom fields are made on Activity and then appear on both; the
        # Tooling and Metadata APIs refuse Task or Event as a custom field's object
        # (benedwards44/fieldcreator#2; mshanemc/shane-sfdx-plugins#108: "custom Activity
        # fields written to the Activity/fields dir while the FLS for these fields is
        # written to the Task and Event object").
        plan.append(("Task", "Activity", TASK_KEY_FIELD, WRITE_BACK_METADATA["task_key"]))
    visible: dict[str, set[str]] = {}
    unseen: list[str] = []  # ours, but not visible to the integration user: to grant
    for seen_on, made_on, field, metadata in plan:
        if seen_on not in visible:
            described = client.call(getattr(client.sf, seen_on).describe)
            visible[seen_on] = {f["name"] for f in described["fields"]}
        name = f"{seen_on}.{field}"
        if field in visible[seen_on]:
            report.existing.append(name)
            continue
        unseen.append(name)
        if dry_run:
            report.created.append(name)
            continue
        try:
            client.call(client.sf.toolingexecute, "sobjects/CustomField/", method="POST",
                        data={"FullName": f"{made_on}.{field}", "Metadata": metadata})
            report.created.append(name)
        except SalesforceError as exc:
            # There already, but not visible to this user (not granted yet), or made by
            # an earlier attempt whose answer was lost.
            if error_code(exc) != "DUPLICATE_DEVELOPER_NAME":
                raise
            report.existing.append(name)
    if unseen:
        if grant:
            _grant(client, unseen, report, dry_run)
        else:
            report.todo.append(f"Give the integration user Read and Edit on {', '.join(unseen)}: "
                               + HOW_TO_GRANT.format(name=PERMISSION_SET))
    if mapping.mql_tag.list:
        try:
            ensure_tag_list(report, "campaign", campaign, dry_run)
        except SalesforceError as exc:
            if not _refused_access(exc):
                raise
            report.created.remove(f"campaign {campaign.name}")
            report.todo.append(f"Create the active campaign {campaign.name!r}, or tick Marketing User on the "
                               "integration user (Setup > Users > Edit) and run setup again: only a Marketing User "
                               "may create campaigns")
    _member_statuses(client, mapping, report, dry_run)
    return report


#: member statuses that say a person was reached but has not taken part (HasResponded false)
NOT_RESPONDED = frozenset({"Sent", "Invited", "Registered", "Planned", "Received"})


def _refused_access(exc: SalesforceError) -> bool:
    return str(error_code(exc) or "").startswith("INSUFFICIENT_ACCESS")


def missing_member_statuses(client: SalesforceClient, mapping: Mapping) -> list[tuple[str, str, str]]:
    """(campaign id, campaign name, status) for each campaign member status the mapping's
    CampaignMember sources rely on that an active campaign of their types lacks. Only
    Sent and Responded come with a new campaign ("New campaigns have two default member
    status values", Salesforce help); others, such as Registered and Attended, are the
    admin's, per campaign."""
    wanted: dict[str | None, set[str]] = {}  # campaign type (None: any) -> statuses
    for src in mapping.activities:
        status = src.where.get("Status")
        if src.source != "CampaignMember" or status is None:
            continue
        labels = {str(v) for v in ([status.equals] if status.equals is not None else status.in_ or [])}
        kind = src.where.get("Campaign.Type")
        named = [str(v) for v in ([kind.equals] if kind and kind.equals is not None else (kind.in_ or []) if kind
                                  else [])]
        types: list[str | None] = list(named) or [None]
        for type_ in types:
            wanted.setdefault(type_, set()).update(labels)
    missing: list[tuple[str, str, str]] = []
    for kind_name, labels in sorted(wanted.items(), key=lambda kv: kv[0] or ""):
        soql = "SELECT Id, Name FROM Campaign WHERE IsActive = true" + (f" AND Type = {soql_value(kind_name)}"
                                                                         if kind_name else "")
        campaigns = {r["Id"]: r["Name"] for rows in client.pages(soql) for r in rows}
        have: dict[str, set[str]] = {}
        for listed in in_lists(sorted(campaigns)):
            for rows in client.pages(f"SELECT CampaignId, Label FROM CampaignMemberStatus WHERE CampaignId IN "
                                     f"({listed})"):
                for row in rows:
                    have.setdefault(row["CampaignId"], set()).add(str(row["Label"]))
        missing += [(cid, name, label) for cid, name in campaigns.items() for label in sorted(labels)
                    if label not in have.get(cid, set())]
    return missing


def _member_statuses(client: SalesforceClient, mapping: Mapping, report: SetupReport, dry_run: bool) -> None:
    """The missing member statuses made (CampaignMemberStatus), or reported when the
    user may not make them."""
    missing = missing_member_statuses(client, mapping)
    refused: list[str] = []
    for cid, name, label in missing:
        what = f"member status {label} on campaign {name}"
        if dry_run:
            report.created.append(what)
            continue
        try:
            client.call(client.sf.CampaignMemberStatus.create, {
                "CampaignId": cid, "Label": label, "HasResponded": label not in NOT_RESPONDED})
            report.created.append(what)
        except SalesforceError as exc:
            if not _refused_access(exc):
                raise
            refused.append(what)
    if refused:
        report.todo.append(f"Add the {', '.join(refused)} (the campaign's Member Status list), or tick Marketing "
                           "User on the integration user and run setup again: the mapping's campaign activity "
                           "matches only these statuses")


def _grant(client: SalesforceClient, fields: list[str], report: SetupReport, dry_run: bool) -> None:
    """Read and edit on `fields` through the permission set PERMISSION_SET, assigned
    to the integration user. "To grant a user access to a field, associate a
    FieldPermissions record with a PermissionSet that's assigned to a user" (Object
    Reference, FieldPermissions). Each step is skipped when already done."""
    if dry_run:
        report.granted.extend(fields)
        return
    found = client.call(client.sf.query, f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
    if found["records"]:
        permission_set = found["records"][0]["Id"]
    else:
        permission_set = client.call(client.sf.PermissionSet.create, {
            "Name": PERMISSION_SET, "Label": "mqlsync fields",
            "Description": "Read and edit on the fields mqlsync writes (made by mqlsync setup)"})["id"]
    rows = client.call(client.sf.query, "SELECT Id, Field, PermissionsEdit FROM FieldPermissions "
                                        f"WHERE ParentId = '{permission_set}'")["records"]
    held = {row["Field"]: row for row in rows}
    for name in fields:
        row = held.get(name)
        if row is None:
            client.call(client.sf.FieldPermissions.create, {
                "ParentId": permission_set, "SobjectType": name.split(".")[0], "Field": name,
                "PermissionsRead": True, "PermissionsEdit": True})
        elif not row["PermissionsEdit"]:
            client.call(client.sf.FieldPermissions.update, row["Id"], {"PermissionsRead": True,
                                                                       "PermissionsEdit": True})
    user = client.call(client.sf.oauth2, "userinfo")["user_id"]
    assigned = client.call(client.sf.query, "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = "
                                            f"'{permission_set}' AND AssigneeId = '{user}'")["records"]
    if not assigned:
        try:
            client.call(client.sf.PermissionSetAssignment.create, {"PermissionSetId": permission_set,
                                                                   "AssigneeId": user})
        except SalesforceError as exc:
            if not str(error_code(exc) or "").startswith("INSUFFICIENT_ACCESS"):
                raise
            report.todo.append(f"Assign the permission set {PERMISSION_SET} (made by setup: Read and Edit on "
                               f"{', '.join(fields)}) to the integration user {user}: it may not assign permission "
                               "sets itself (Setup > Permission Sets > mqlsync fields > Manage Assignments)")
            return
    report.granted.extend(fields)
