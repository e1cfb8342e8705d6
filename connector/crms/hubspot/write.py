"""Writing a plan to HubSpot: contact fields in batches of 100 (backward
lifecycle moves cleared first, a refused batch narrowed to the record at fault), the
MQL tag as a list membership, and follow-up tasks matched to requests by key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputForCreate,
)

from mqlsync.connector.adapters.writeback import PlanWriter, crm_fields, tag_list_missing
from mqlsync.connector.config.mapping import Mapping as MappingFile
from mqlsync.connector.crms.hubspot.client import HubSpotClient, ms
from mqlsync.connector.http import describe, is_transient, status_of
from mqlsync.connector.model import ApplyResult, FieldWrite, TaskRequest, WriteFailure

#: batch endpoints take at most 100 inputs (CRM API reference)
BATCH = 100
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type id, task -> contact
#: HubSpot's lifecycle stage property: it does not move backward unless cleared first
LIFECYCLE = "lifecyclestage"
#: how a task body carries its idempotency key, so it can be found again
TASK_KEY_MARK = "mqlsync-task:"


class TextValues:
    """HubSpot holds every property value as text; an empty string clears one."""

    def field(self, key: str, value: str | None) -> str:
        return "" if value is None else value

    def tag(self, value: str | bool, on: bool) -> str:
        return (str(value).lower() if isinstance(value, bool) else str(value)) if on else ""


class MqlList:
    """The MQL list (a static list of contacts), found by name once per run."""

    def __init__(self, client: HubSpotClient, name: str | None) -> None:
        self.client, self.name = client, name
        self._id: str | None = None

    def id(self, create: bool = False) -> str | None:
        """The list's id, found by name (lists API v3); created as a MANUAL list of
        contacts (object type 0-1) only by `setup`."""
        if self._id:
            return self._id
        try:
            found = self.client.call(self.client.lists_api.get_by_name, list_name=self.name, object_type_id="0-1")
            self._id = found.list.list_id
        except Exception as exc:
            if status_of(exc) != 404:
                raise
            if not create:
                return None
            made = self.client.call(self.client.lists_api.create, list_create_request=ListCreateRequest(
                name=self.name, object_type_id="0-1", processing_type="MANUAL"))
            self._id = made.list.list_id
        return self._id


class Writer(PlanWriter):
    """A write plan to HubSpot: contact properties, the MQL list, follow-up tasks."""

    def __init__(self, client: HubSpotClient, mapping: MappingFile, mql_list: MqlList) -> None:
        self.client, self.mapping, self.mql_list = client, mapping, mql_list
        self.obj = mapping.objects["contacts"]
        self._order: list[str] | None = None

    def fields(self, write: FieldWrite) -> dict[str, Any]:
        return crm_fields(self.mapping, self.obj, write, TextValues())

    def update(self, items: list[tuple[FieldWrite, dict[str, Any]]], result: ApplyResult) -> None:
        stage = self.obj.stage_field
        if stage != LIFECYCLE:
            self._update([(w.contact_id, p) for w, p in items], result)
            return
        # "The Lifecycle stage is not designed to move backwards. If you need to set this
        # property to an previous stage, you will first need to set the value to "" (an
        # empty string)" (contacts API v1 reference); a backward set is answered 200 and
        # not made (integrate.hubspot.com/t/update-lifecycle-stage-using-api/1333). The
        # order is the portal's own: admins add and reorder stages.
        moves = {w.contact_id: str(props[stage]) for w, props in items if props.get(stage)}
        clears = [(w.contact_id, {stage: ""}) for w, _ in items
                  if w.contact_id in moves and self._is_backward(w.lifecycle_from, moves[w.contact_id])]
        failed = self._update(clears, result, record_success=False) if clears else set()
        self._update([(w.contact_id, p) for w, p in items if w.contact_id not in failed], result)
        written = set(result.updated)
        self._check_stages({cid: v for cid, v in moves.items() if cid in written}, result)

    def stage_order(self) -> list[str]:
        """The portal's lifecycle stages in its order (the property's options by
        displayOrder), read once per run."""
        if self._order is None:
            prop = self.client.call(self.client.properties_core.get_by_name, object_type="contacts",
                                    property_name=LIFECYCLE)
            options = sorted(prop.options or [], key=lambda o: (o.display_order is None, o.display_order or 0))
            self._order = [o.value for o in options if not o.hidden]
        return self._order

    def _is_backward(self, current: str | None, target: str) -> bool:
        """Whether setting `target` over `current` needs a clear first: any move that is
        not forward in the portal's order, a stage it does not list included."""
        if not current or current == target:
            return False
        order = self.stage_order()
        if current not in order or target not in order:
            return True
        return order.index(target) < order.index(current)

    def _check_stages(self, moves: dict[str, str], result: ApplyResult) -> None:
        """Read the stages back, since HubSpot answers 200 to a move it does not make. A
        stage it kept changed in HubSpot after this run read it (a rep moved the contact
        on): that record fails, and the next run decides again from what it reads."""
        for cid, value in self._stages_kept(moves).items():
            result.updated.remove(cid)
            result.failed.append(WriteFailure(
                contact_id=cid, reason=f"HubSpot kept lifecycle stage {value!r} instead of {moves[cid]!r} (it "
                                       "changed in HubSpot since this run read it); the next run decides again"))

    def _stages_kept(self, moves: dict[str, str]) -> dict[str, str | None]:
        """contact id -> the stage HubSpot has, for each whose stage is not the one set."""
        kept: dict[str, str | None] = {}
        for record in self.client.read_contacts(sorted(moves), [LIFECYCLE]):
            value = (record.properties or {}).get(LIFECYCLE)
            if str(record.id) in moves and value != moves[str(record.id)]:
                kept[str(record.id)] = value
        return kept

    def tag(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        self._tag_by_list(writes, result)

    def send_tasks(self, tasks: list[TaskRequest], result: ApplyResult, owner: bool) -> list[TaskRequest]:
        return self._create_tasks(tasks, result, owner)

    def _tag_by_list(self, writes: list[FieldWrite], result: ApplyResult) -> None:
        list_id = self.mql_list.id()
        if list_id is None:
            raise tag_list_missing("list", str(self.mapping.mql_tag.list), "HubSpot")
        for i in range(0, len(writes), BATCH):
            chunk = writes[i:i + BATCH]
            change = MembershipChangeRequest(
                record_ids_to_add=[w.contact_id for w in chunk if w.values["mql"] == "true"],
                record_ids_to_remove=[w.contact_id for w in chunk if w.values["mql"] != "true"])
            response = self.client.call(self.client.members_api.add_and_remove, list_id=list_id,
                                        membership_change_request=change)
            for cid in response.record_ids_missing or []:
                if str(cid) not in result.gone:
                    result.gone.append(str(cid))

    def _update(self, items: list[tuple[str, dict[str, str]]], result: ApplyResult,
                record_success: bool = True) -> set[str]:
        """Batch updates of 100. Unknown ids come back in a 207 and fail alone; a
        validation error refuses the whole batch, so that batch is retried one record
        at a time to find the record at fault and write the others."""
        failed: set[str] = set()
        for i in range(0, len(items), BATCH):
            chunk = items[i:i + BATCH]
            try:
                response = self._batch_update(chunk)
            except Exception as exc:
                if status_of(exc) != 400 or len(chunk) == 1:
                    if status_of(exc) is None:
                        raise
                    for cid, _ in chunk:
                        failed.add(cid)
                        result.failed.append(WriteFailure(contact_id=cid, reason=_reason(exc)))
                    continue
                failed |= self._one_by_one(chunk, result, record_success)
                continue
            missing: set[str] = set()
            for error in getattr(response, "errors", None) or []:
                ids = (error.context or {}).get("ids") or []
                for cid in ids:
                    missing.add(str(cid))
                    if error.category == "OBJECT_NOT_FOUND":
                        # Deleted or merged away since the pull: nothing to retry.
                        if record_success:
                            result.gone.append(str(cid))
                    else:
                        result.failed.append(WriteFailure(contact_id=str(cid),
                                                          reason=f"{error.category}: {error.message}"))
            failed |= missing
            if record_success:
                result.updated.extend(cid for cid, _ in chunk if cid not in missing)
        return failed

    def _one_by_one(self, chunk, result: ApplyResult, record_success: bool) -> set[str]:
        failed: set[str] = set()
        for cid, props in chunk:
            try:
                response = self._batch_update([(cid, props)])
            except Exception as exc:
                if status_of(exc) is None:
                    raise
                failed.add(cid)
                result.failed.append(WriteFailure(contact_id=cid, reason=_reason(exc)))
                continue
            if getattr(response, "errors", None):
                failed.add(cid)
                result.failed.append(WriteFailure(contact_id=cid, reason=response.errors[0].message))
            elif record_success:
                result.updated.append(cid)
        return failed

    def _batch_update(self, chunk):
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=cid, properties=props) for cid, props in chunk])
        return self.client.call(self.client.contacts_batch.update, batch_input_simple_public_object_batch_input=body)

    def _create_tasks(self, tasks: list[TaskRequest], result: ApplyResult, owner: bool) -> list[TaskRequest]:
        """Batches of 100. A refused batch (one bad task refuses all) is retried one task
        at a time, so the others are created; a task refused for its owner
        (INVALID_OWNER_ID) is returned, to be made without one."""
        orphans: list[TaskRequest] = []
        for i in range(0, len(tasks), BATCH):
            chunk = tasks[i:i + BATCH]
            inputs = [SimplePublicObjectBatchInputForCreate(properties=self._task_properties(t, owner), associations=[
                {"to": {"id": t.contact_id},
                 "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}]}])
                for t in chunk]
            try:
                response = self.client.call(self.client.tasks_batch.create, idempotent=False,
                                      batch_input_simple_public_object_batch_input_for_create=
                                      BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
            except Exception as exc:
                if is_transient(exc):
                    # The batch may have been created before the answer was lost: look the
                    # keys up. Search can lag a fresh task by seconds, so the ones not found
                    # are not sent again now: their contacts fail this run, and the next
                    # run looks their keys up again before creating any.
                    found = self.find_tasks({t.key: t.contact_id for t in chunk})
                    result.tasks.update(found)
                    for task in chunk:
                        if task.key not in found:
                            result.failed.append(WriteFailure(
                                contact_id=task.contact_id,
                                reason=f"task outcome unknown ({describe(exc)}); looked up by key next run"))
                    continue
                if status_of(exc) is None:
                    raise
                if status_of(exc) == 400 and len(chunk) > 1:
                    for task in chunk:
                        orphans += self._create_tasks([task], result, owner)
                elif status_of(exc) == 400 and owner and chunk[0].owner_id and "invalid_owner_id" in str(
                        getattr(exc, "body", "")).lower():  # whatever the case HubSpot writes it in
                    orphans += chunk
                else:
                    for task in chunk:
                        result.failed.append(WriteFailure(contact_id=task.contact_id,
                                                          reason=f"task not created: {_reason(exc)}"))
                continue
            # Results are matched to requests by the key in their body, never by position.
            for created in response.results:
                key = task_key_of((created.properties or {}).get("hs_task_body"))
                if key:
                    result.tasks[key] = created.id
        return orphans

    def _task_properties(self, task: TaskRequest, owner: bool = True) -> dict[str, str]:
        props = {"hs_timestamp": str(ms(task.due_at)), "hs_task_subject": task.subject,
                 "hs_task_body": f"{task.body}\n\n{TASK_KEY_MARK}{task.key}", "hs_task_status": "NOT_STARTED",
                 "hs_task_type": "TODO"}
        if task.owner_id and owner:
            props["hubspot_owner_id"] = task.owner_id
        if task.priority:
            props["hs_task_priority"] = task.priority
        return props

    def find_tasks(self, keys: Mapping[str, str]) -> dict[str, str]:
        """Through each contact's associated tasks (v4 association batch read, then a
        batch read of their bodies), not CRM search: search indexes a new task seconds
        after it is made, and a task just made must be found."""
        linked = self.client.associations("contacts", "tasks", sorted(set(keys.values())))
        task_ids = {task for tasks in linked.values() for task in tasks}
        found: dict[str, str] = {}
        ids = sorted(task_ids)
        for i in range(0, len(ids), BATCH):
            result = self.client.post("/crm/v3/objects/tasks/batch/read", {
                "inputs": [{"id": t} for t in ids[i:i + BATCH]], "properties": ["hs_task_body"]})
            for task in result.get("results", []):
                key = task_key_of((task.get("properties") or {}).get("hs_task_body"))
                if key is not None and key in keys:
                    found[key] = str(task["id"])
        return found


def task_key_of(body: str | None) -> str | None:
    if not body or TASK_KEY_MARK not in body:
        return None
    return body.rsplit(TASK_KEY_MARK, 1)[1].split()[0]


def _reason(exc: BaseException) -> str:
    """The CRM's message for a refused write (its JSON `message`), kept short."""
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    status = status_of(exc)
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"
