"""An in-memory CRM that implements the port (connector/adapters/base.CRM), for fast
tests of the sync's decisions. It passes the same contract tests as the two sandboxes
(tests/contract), so what the sync does with it, it does with them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from mqlsync.connector.adapters.base import Check, Page, SetupReport
from mqlsync.connector.model import Activity, ApplyResult, Contact, TaskRequest, WriteFailure, WritePlan


class FakeCRM:
    name = "fake"

    def __init__(self, page_size: int = 50, source: str = "fake") -> None:
        self.people: dict[str, Contact] = {}
        #: each record's last change, as the CRM stamps it
        self.changed_at: dict[str, datetime] = {}
        self.activities: list[Activity] = []
        #: what mqlsync wrote to each record, in its own words (score, stage, mql, ...)
        self.fields: dict[str, dict[str, str | None]] = {}
        self.tasks: dict[str, TaskRequest] = {}
        self.task_ids: dict[str, str] = {}
        #: contact id -> the reason the CRM refuses writes to it
        self.refuse: dict[str, str] = {}
        self.deleted: list[str] = []
        #: ids of activities deleted in the CRM, reported by the next activity reads
        self.deleted_activities: list[str] = []
        self.merged: dict[str, str] = {}
        #: why the activity source may not be read (its scopes or the plan), when it may not
        self.denied: str | None = None
        #: fields mqlsync writes that this CRM lacks (setup not run)
        self.missing: list[str] = []
        self.page_size, self.source = page_size, source
        self._requests = 0

    # --- the admin's side: what happens in the CRM between runs ----------------------

    def put(self, contact: Contact, at: datetime) -> None:
        self.people[contact.id] = contact
        self.changed_at[contact.id] = at

    def delete(self, contact_id: str, at: datetime) -> None:
        self.people.pop(contact_id)
        self.deleted.append(contact_id)

    def delete_activity(self, activity_id: str) -> None:
        self.activities = [a for a in self.activities if a.id != activity_id]
        self.deleted_activities.append(activity_id)

    def merge(self, loser: str, survivor: str, at: datetime) -> None:
        self.people.pop(loser)
        self.merged[loser] = survivor
        self.changed_at[survivor] = at

    # --- the port ------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        return self._requests

    def missing_fields(self) -> list[str]:
        self._requests += 1
        return list(self.missing)

    def check(self) -> list[Check]:
        return [Check(f"field {name}", False, "run `mqlsync setup`") for name in self.missing] or [
            Check("every field", True)]

    def ensure_fields(self, dry_run: bool = False, grant: bool = True) -> SetupReport:
        self._requests += 1
        return SetupReport(existing=["every field"])

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        ids = sorted((cid for cid in self.people if since is None or self.changed_at[cid] >= since),
                     key=lambda cid: (self.changed_at[cid], cid))
        for i in range(0, max(len(ids), 1), self.page_size):
            self._requests += 1
            chunk = ids[i:i + self.page_size]
            page = Page(contacts=[self.people[cid] for cid in chunk],
                        high_water=max((self.changed_at[cid] for cid in chunk), default=None),
                        recorded={cid: dict(self.fields.get(cid, {})) for cid in chunk})
            if i == 0:
                page.deleted, page.merged = list(self.deleted), dict(self.merged)
            yield page

    def pull_activities(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        self._requests += 1
        if self.denied:
            yield Page(source=self.source, skipped=self.denied)
            return
        floor = since.get(self.source)
        acts = [a for a in self.activities if floor is None or a.at >= floor]
        yield Page(activities=acts, source=self.source, high_water=max((a.at for a in acts), default=None),
                   deleted=list(self.deleted_activities))

    def pull_outcomes(self, since: datetime | None) -> Iterator[Page]:
        return iter(())  # a CRM without deals

    def lifecycle_of(self, contact_id: str) -> str | None:
        return self.fields.get(contact_id, {}).get("lifecycle")

    def find_tasks(self, keys: Mapping[str, str]) -> dict[str, str]:
        self._requests += 1
        return {key: self.task_ids[key] for key in keys if key in self.task_ids}

    def apply(self, plan: WritePlan) -> ApplyResult:
        self._requests += 1
        result = ApplyResult()
        for write in plan.updates:
            cid = write.contact_id
            if cid not in self.people:
                result.gone.append(cid)
            elif cid in self.refuse:
                result.failed.append(WriteFailure(contact_id=cid, reason=self.refuse[cid]))
            else:
                self.fields.setdefault(cid, {}).update(write.values)
                result.updated.append(cid)
        for task in plan.tasks:
            if task.contact_id not in self.people or task.contact_id in self.refuse:
                continue
            self.tasks[task.key] = task
            self.task_ids[task.key] = result.tasks[task.key] = f"task-{len(self.task_ids) + 1}"
        return result
