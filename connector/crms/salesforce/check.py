"""`mqlsync check` on Salesforce: the login, each field the mapping reads and writes as
the integration user sees it (describe shows only fields it may read; `updateable` says
whether it may edit them), their types, the status values written and read, the task
key, the MQL campaign and the Marketing User flag it needs, the activity objects and
their fields, and the campaign member statuses the mapping relies on. Reads only."""

from __future__ import annotations

from typing import Any

from simple_salesforce.exceptions import SalesforceError

from mqlsync.connector.adapters.base import Check
from mqlsync.connector.adapters.mapped import fields_read
from mqlsync.connector.adapters.writeback import fields_to_make
from mqlsync.connector.config.mapping import Mapping, ObjectMapping
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.rules import SALESFORCE_ACTIVITY
from mqlsync.connector.crms.salesforce.setup import missing_member_statuses
from mqlsync.connector.crms.salesforce.write import TASK_KEY_FIELD, MqlCampaign
from mqlsync.connector.errors import ConfigError, CredentialsError

SETUP = "run `mqlsync setup --mapping FILE` (it makes the field and grants the integration user access)"
NUMBERS = {"double", "int", "currency", "percent"}
TEXT = {"string", "textarea", "picklist", "email", "phone", "url"}
#: describe types that hold each write-back key's values
WRITE_TYPES = {"score": NUMBERS, "fit": NUMBERS, "engagement": NUMBERS, "negative": NUMBERS,
               "mql": {"boolean"} | TEXT, "mql_at": {"datetime", "date"}, "grade": TEXT, "stage": TEXT,
               "explanation": TEXT, "model_version": TEXT}
#: describe types that hold each canonical field the mapping reads, where it matters
READ_TYPES = {"created_at": {"datetime", "date"}, "updated_at": {"datetime", "date"},
              "company_size": NUMBERS | TEXT, "unsubscribed": {"boolean"} | TEXT, "bounced": {"boolean"} | TEXT,
              "sales_status_at": {"datetime", "date"}}


class Described:
    """Describe results as the integration user sees them, one request per object."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.cache: dict[str, dict[str, dict[str, Any]] | None] = {}

    def fields(self, obj: str) -> dict[str, dict[str, Any]] | None:
        """field name -> describe entry; None when the user cannot see the object."""
        if obj not in self.cache:
            try:
                described = self.client.call(getattr(self.client.sf, obj).describe)
                self.cache[obj] = {f["name"]: f for f in described["fields"]}
            except (SalesforceError, ConfigError):
                self.cache[obj] = None
        return self.cache[obj]

    def field(self, obj: str, path: str) -> dict[str, Any] | None:
        """A field, following one parent relationship (Account.Name, Campaign.Type)."""
        fields = self.fields(obj) or {}
        if "." not in path:
            return fields.get(path)
        relation, name = path.split(".", 1)
        parent = next((f["referenceTo"][0] for f in fields.values()
                       if f.get("relationshipName") == relation and f.get("referenceTo")), None)
        return (self.fields(parent) or {}).get(name) if parent else None


def missing_fields(client: SalesforceClient, mapping: Mapping, people: dict[str, ObjectMapping]) -> list[str]:
    """Object.Field for each field mqlsync writes that the integration user cannot see."""
    described = Described(client)
    wanted = [(obj, name) for obj in people for name in fields_to_make(mapping).values()]
    if mapping.tasks.enabled:
        wanted.append(("Task", TASK_KEY_FIELD))
    return [f"{obj}.{name}" for obj, name in wanted if described.field(obj, name) is None]


def preflight(client: SalesforceClient, mapping: Mapping, people: dict[str, ObjectMapping],
              campaign: MqlCampaign) -> list[Check]:
    described = Described(client)
    try:
        client.call(client.sf.limits)
    except CredentialsError as exc:
        return [Check("credentials: Salesforce refused the login", False, str(exc))]
    out = [Check("credentials: Salesforce accepts the login", True)]
    for obj_name, obj in people.items():
        if described.fields(obj_name) is None:
            out.append(Check(f"object {obj_name} can be read", False, "give the integration user read on it"))
            continue
        for crm, field in fields_read(obj).items():
            out.append(_read(described, obj_name, crm, field))
        for key, crm in mapping.write_back.fields.items():
            out.append(_write(described, obj_name, crm, key))
        if mapping.write_back.lifecycle and obj.stage_field:
            for value in dict.fromkeys(mapping.write_back.stage_values.values()):
                out.append(_option(described, obj_name, obj.stage_field, value, "writes"))
        if obj.sales_status:
            for value in [*obj.sales_status.accepted, *obj.sales_status.rejected]:
                out.append(_option(described, obj_name, obj.sales_status.field, value, "reads"))
    if mapping.tasks.enabled:
        task_key = described.field("Task", TASK_KEY_FIELD)
        ok = task_key is not None and task_key.get("externalId") and task_key.get("createable")
        out.append(Check(f"task key Task.{TASK_KEY_FIELD} (external id, editable)", bool(ok), "" if ok else SETUP))
    if mapping.mql_tag.list:
        found = campaign.id() is not None
        out.append(Check(f"MQL campaign {mapping.mql_tag.list!r} exists", found, "" if found else
                         "run `mqlsync setup --mapping FILE`"))
        user = client.call(client.sf.oauth2, "userinfo")["user_id"]
        rows = client.call(client.sf.query, f"SELECT UserPermissionsMarketingUser FROM User WHERE Id = '{user}'")
        marketing = bool(rows["records"] and rows["records"][0].get("UserPermissionsMarketingUser"))
        out.append(Check("the integration user is a Marketing User (adds and removes campaign members)", marketing,
                         "" if marketing else "tick Marketing User on its user record (Setup > Users > Edit)"))
    for source in dict.fromkeys(a.source for a in mapping.activities):
        if described.fields(source) is None:
            out.append(Check(f"activity object {source} can be read", False,
                             f"the org has no object {source}, or the integration user may not read it"))
            continue
        entries = [a for a in mapping.activities if a.source == source]
        person, at = SALESFORCE_ACTIVITY.get(source, ([], "CreatedDate"))
        used = {*(entries[0].person or person)} | {e.at or at for e in entries}
        for entry in entries:
            used |= set(entry.attributes.values()) | set(entry.where)
        lacking = sorted(f for f in used if described.field(source, f) is None)
        out.append(Check(f"activity object {source} and the {len(used)} fields read from it", not lacking,
                         f"not there, or not readable by the integration user: {', '.join(lacking)}"
                         if lacking else ""))
    # What became of each person's deals, for the review (the sync goes on without).
    lacking = sorted(f for obj, f in (("Opportunity", "IsWon"), ("Opportunity", "IsClosed"),
                                      ("Opportunity", "CloseDate"), ("OpportunityContactRole", "ContactId"),
                                      ("Lead", "ConvertedOpportunityId"))
                     if described.field(obj, f) is None)
    out.append(Check("deal outcomes can be read, for the review (Opportunity, OpportunityContactRole, "
                     "Lead.ConvertedOpportunityId)", not lacking,
                     f"not readable by the integration user: {', '.join(lacking)}; give it read on them" if lacking
                     else ""))
    statuses = missing_member_statuses(client, mapping)
    out.append(Check("the campaign member statuses the mapping matches exist on its campaigns", not statuses,
                     ("missing: " + ", ".join(f"{label} on {name}" for _, name, label in statuses[:10])
                      + "; run `mqlsync setup --mapping FILE`") if statuses else ""))
    return out


def _read(described: Described, obj: str, crm: str, field: str) -> Check:
    item = f"{obj} reads {field} from {crm}"
    meta = described.field(obj, crm)
    if meta is None:
        return Check(item, False, f"no field {crm} on {obj}, or the integration user may not read it: fix the "
                                  "mapping or grant it read")
    return _typed(item, crm, meta, field, READ_TYPES.get(field))


def _typed(item: str, crm: str, meta: dict, name: str, wanted: set[str] | None) -> Check:
    """The item passes when the field's type is one `name` can use (any, without `wanted`)."""
    if wanted and meta["type"] not in wanted:
        return Check(item, False, f"{crm} is of type {meta['type']}; {name} needs {' or '.join(sorted(wanted))}")
    return Check(f"{item} ({meta['type']})", True)


def _write(described: Described, obj: str, crm: str, key: str) -> Check:
    item = f"{obj} writes {key} to {crm}"
    meta = described.field(obj, crm)
    if meta is None:
        return Check(item, False, f"it does not exist or the integration user cannot see it: {SETUP}")
    if not meta.get("updateable"):
        return Check(item, False, f"the integration user may read {crm} but not edit it: give it Edit on the field "
                                  "(the permission set mqlsync_fields has it)")
    return _typed(item, crm, meta, key, WRITE_TYPES.get(key))


def _option(described: Described, obj: str, field: str, value: str, verb: str) -> Check:
    meta = described.field(obj, field) or {}
    options = {p["value"] for p in meta.get("picklistValues") or [] if p.get("active", True)}
    ok = not options or value in options
    return Check(f"{obj} {verb} {field} value {value!r}", ok,
                 "" if ok else f"{field} has no active value {value!r}: add it (Setup > Object Manager > {obj} > "
                               f"Fields > {field}) or fix the mapping")
