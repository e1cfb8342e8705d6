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


def ensure_fields(client: SalesforceClient, mapping: Mapping, people: dict[str, ObjectMapping],
                  campaign: MqlCampaign, dry_run: bool = False) -> SetupReport:
    """Custom fields for the write-back on each enabled object, the task key on
    Task, created through the Tooling API (CustomField); the MQL campaign when the
    tag is a campaign. The integration user needs field-level access to new fields
    (a permission set): Salesforce grants none by default."""
    report = SetupReport()
    wanted = fields_to_make(mapping)
    plan: list[tuple[str, str, dict[str, Any]]] = [
        (obj, field, WRITE_BACK_METADATA[key]) for obj in people for key, field in wanted.items()]
    if mapping.tasks.enabled:
        plan.append(("Task", TASK_KEY_FIELD, WRITE_BACK_METADATA["task_key"]))
    existing: dict[str, set[str]] = {}
    for obj, field, metadata in plan:
        if obj not in existing:
            described = client.call(getattr(client.sf, obj).describe)
            existing[obj] = {f["name"] for f in described["fields"]}
        name = f"{obj}.{field}"
        if field in existing[obj]:
            report.existing.append(name)
            continue
        report.created.append(name)
        if not dry_run:
            try:
                client.call(client.sf.toolingexecute, "sobjects/CustomField/", method="POST",
                            data={"FullName": name, "Metadata": metadata})
            except SalesforceError as exc:
                # Created by an earlier attempt whose answer was lost: it is there.
                if error_code(exc) != "DUPLICATE_DEVELOPER_NAME":
                    raise
    if mapping.mql_tag.list:
        ensure_tag_list(report, "campaign", campaign, dry_run)
    return report
