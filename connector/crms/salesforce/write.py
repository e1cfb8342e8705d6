"""Writing a plan to Salesforce: Lead and Contact fields through sObject
Collections (200 records a request, allOrNone false, one SaveResult per record), the
MQL tag as a checkbox or as membership of a campaign, and follow-up Tasks upserted on
an external-id task key so a repeated request cannot create a second task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simple_salesforce.exceptions import SalesforceError

from mqlsync.connector.adapters.mapped import NUMBER_KEYS
from mqlsync.connector.adapters.writeback import PlanWriter, crm_fields, tag_list_missing
from mqlsync.connector.config.mapping import Mapping as MappingFile
from mqlsync.connector.crms.salesforce.client import SalesforceClient
from mqlsync.connector.crms.salesforce.people import PeopleReader
from mqlsync.connector.crms.salesforce.soql import IN_LIST_BUDGET, in_lists, soql_value
from mqlsync.connector.model import ApplyResult, FieldWrite, TaskRequest, WriteFailure

#: sObject Collections take up to 200 records a request (REST API guide, "sObject
#: Collections"); SOQL IN lists are kept to the same size so queries stay short
COLLECTION = 200
#: the Task field holding mqlsync's idempotency key: Text, External ID, unique
TASK_KEY_FIELD = "MQL_Task_Key__c"


def _reason(exc: BaseException) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"
    return f"HTTP {getattr(exc, 'status', '?')}"


def _saved(result: dict[str, Any]) -> str | None:
    """A SaveResult's failure as one line, or None when it succeeded."""
    if result.get("success"):
        return None
    errors = result.get("errors") or [{}]
    return "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors)


class TypedValues:
    """Salesforce fields are typed: numbers as numbers, the MQL flag as a checkbox, empty as null."""

    def field(self, key: str, value: str | None) -> Any:
        if value is None or value == "":
            return None
        if key in NUMBER_KEYS:
            return float(value)
        if key == "mql":
            return value == "true"
        return value

    def tag(self, value: str | bool, on: bool) -> Any:
        return value if on else (False if isinstance(value, bool) else None)


class MqlCampaign:
    """The MQL campaign, found by name once per run."""

    def __init__(self, client: SalesforceClient, name: str | None) -> None:
        self.client, self.name = client, name
        self._id: str | None = None

    def id(self, create: bool = False) -> str | None:
        """The campaign's id, found by name; created (active) only by `setup`."""
        if self._id:
            return self._id
        found = self.client.call(self.client.sf.query,
                                 f"SELECT Id FROM Campaign WHERE Name = {soql_value(self.name)} LIMIT 1")
        if found["records"]:
            self._id = found["records"][0]["Id"]
        elif create:
            made = self.client.call(self.client.sf.restful, "sobjects/Campaign/", method="POST",
                                    json={"Name": self.name, "IsActive": True, "Type": "Other"})
            self._id = made["id"]
        return self._id


class Writer(PlanWriter):
    """A write plan to Salesforce: Lead and Contact fields, the MQL tag, follow-up Tasks."""

    def __init__(self, client: SalesforceClient, mapping: MappingFile, people: PeopleReader,
                 campaign: MqlCampaign) -> None:
        self.client, self.mapping, self.people, self.campaign = client, mapping, people, campaign

    def fields(self, write: FieldWrite) -> dict[str, Any]:
        return crm_fields(self.mapping, self.people.objects.get(self.people.object_of(write.contact_id)), write,
                          TypedValues())

    def update(self, items: list[tuple[FieldWrite, dict[str, Any]]], result: ApplyResult) -> None:
        # Leads, then Contacts: a request may hold at most 10 runs of one object type
        # ("sObject Collections"), and the plan's order interleaves them.
        rank = {name: i for i, name in enumerate(self.people.objects)}  # as the mapping lists them
        ordered = sorted(items, key=lambda item: rank.get(self.people.object_of(item[0].contact_id), len(rank)))
        self._update([(w.contact_id, f) for w, f in ordered], result)

    def tag(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        self._tag_by_campaign(writes, result)

    def send_tasks(self, tasks: list[TaskRequest], result: ApplyResult, owner: bool) -> list[TaskRequest]:
        return self._upsert_tasks(tasks, result, owner)

    def _update(self, items: list[tuple[str, dict[str, Any]]], result: ApplyResult) -> None:
        for i in range(0, len(items), COLLECTION):
            chunk = items[i:i + COLLECTION]
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": self.people.object_of(cid)}, "id": cid, **fields} for cid, fields in chunk]}
            try:
                saved = self.client.call(self.client.sf.restful, "composite/sobjects", method="PATCH", json=body)
            except SalesforceError as exc:
                for cid, _ in chunk:
                    result.failed.append(WriteFailure(contact_id=cid, reason=_reason(exc)))
                continue
            # SaveResults come back in the order of the request ("sObject Collections").
            for (cid, _), outcome in zip(chunk, saved, strict=False):
                problem = _saved(outcome)
                if problem and problem.startswith("ENTITY_IS_DELETED"):
                    result.gone.append(cid)  # deleted or merged away since the pull
                elif problem:
                    result.failed.append(WriteFailure(contact_id=cid, reason=problem))
                else:
                    result.updated.append(cid)

    # --- the MQL tag as a campaign ------------------------------------------------------

    def _tag_by_campaign(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        campaign = self.campaign.id()
        if campaign is None:
            raise tag_list_missing("campaign", str(self.mapping.mql_tag.list), "Salesforce")
        adds = [w.contact_id for w in writes if w.values["mql"] == "true"]
        removes = [w.contact_id for w in writes if w.values["mql"] != "true"]
        members = self._members(campaign, adds + removes)
        new = [cid for cid in adds if cid not in members]
        for i in range(0, len(new), COLLECTION):
            chunk = new[i:i + COLLECTION]
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign,
                 ("LeadId" if self.people.object_of(cid) == "Lead" else "ContactId"): cid, "Status": "Responded"}
                for cid in chunk]}
            saved = self.client.call(self.client.sf.restful, "composite/sobjects", method="POST", json=body)
            for cid, outcome in zip(chunk, saved, strict=False):
                problem = _saved(outcome)
                if problem and "DUPLICATE_VALUE" not in problem:
                    result.failed.append(WriteFailure(contact_id=cid, reason=f"MQL campaign: {problem}"))
        gone = [members[cid] for cid in removes if cid in members]
        for i in range(0, len(gone), COLLECTION):
            self.client.call(self.client.sf.restful, "composite/sobjects", method="DELETE",
                       params={"ids": ",".join(gone[i:i + COLLECTION]), "allOrNone": "false"})

    def _members(self, campaign: str, ids: list[str]) -> dict[str, str]:
        """person id -> CampaignMember id, for those of `ids` in the campaign."""
        out: dict[str, str] = {}
        for listed in in_lists(ids, COLLECTION, IN_LIST_BUDGET // 2):  # listed twice in the query
            soql = (f"SELECT Id, LeadId, ContactId FROM CampaignMember WHERE CampaignId = {soql_value(campaign)} "
                    f"AND (LeadId IN ({listed}) OR ContactId IN ({listed}))")
            for page in self.client.pages(soql):
                for row in page:
                    out[str(row.get("ContactId") or row.get("LeadId"))] = row["Id"]
                    if row.get("LeadId"):
                        out[row["LeadId"]] = row["Id"]
        return out

    # --- follow-up tasks ----------------------------------------------------------------

    def _task_record(self, task: TaskRequest, owner: bool = True) -> dict[str, Any]:
        record: dict[str, Any] = {
            "attributes": {"type": "Task"}, TASK_KEY_FIELD: task.key, "WhoId": task.contact_id,
            "Subject": task.subject[:255], "Description": task.body,
            "ActivityDate": task.due_at.date().isoformat()}
        if task.owner_id and owner:
            record["OwnerId"] = task.owner_id
        if task.priority:
            record["Priority"] = task.priority
        return record

    def _upsert_tasks(self, tasks: list[TaskRequest], result: ApplyResult, owner: bool) -> list[TaskRequest]:
        """Upsert on the task key ("Upsert Records Using sObject Collections"): sent
        twice, the same key updates the one task instead of making a second. A task refused
        because its owner is inactive or gone is returned, to be made without one."""
        orphans: list[TaskRequest] = []
        for i in range(0, len(tasks), COLLECTION):
            chunk = tasks[i:i + COLLECTION]
            body = {"allOrNone": False, "records": [self._task_record(t, owner) for t in chunk]}
            try:
                saved = self.client.call(self.client.sf.restful, f"composite/sobjects/Task/{TASK_KEY_FIELD}",
                                         method="PATCH", json=body)
            except SalesforceError as exc:
                for task in chunk:
                    result.failed.append(WriteFailure(contact_id=task.contact_id,
                                                      reason=f"task not created: {_reason(exc)}"))
                continue
            for task, outcome in zip(chunk, saved, strict=False):
                problem = _saved(outcome)
                if problem and owner and task.owner_id and _owner_gone(outcome):
                    orphans.append(task)
                elif problem:
                    result.failed.append(WriteFailure(contact_id=task.contact_id,
                                                      reason=f"task not created: {problem}"))
                else:
                    result.tasks[task.key] = outcome["id"]
        return orphans

    def find_tasks(self, keys: Mapping[str, str]) -> dict[str, str]:
        """By the task key field, an external id (indexed and exact, unlike search)."""
        found: dict[str, str] = {}
        for listed in in_lists(list(keys), COLLECTION):
            soql = f"SELECT Id, {TASK_KEY_FIELD} FROM Task WHERE {TASK_KEY_FIELD} IN ({listed})"
            for page in self.client.pages(soql):
                for row in page:
                    found[row[TASK_KEY_FIELD]] = row["Id"]
        return found


def _owner_gone(outcome: dict[str, Any]) -> bool:
    return any(e.get("statusCode") == "INACTIVE_OWNER_OR_USER" or
               (e.get("statusCode") == "INVALID_CROSS_REFERENCE_KEY" and "OwnerId" in (e.get("fields") or []))
               for e in outcome.get("errors") or [])
