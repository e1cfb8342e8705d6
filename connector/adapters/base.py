"""The CRM port: what the sync job needs from any CRM, whatever its API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mqlsync.connector.errors import RecordRejected
from mqlsync.connector.model import Activity, ApplyResult, Contact, WritePlan


@dataclass
class Page:
    """One page of pulled records, with the records that could not be read."""

    contacts: list[Contact] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    rejected: list[RecordRejected] = field(default_factory=list)
    #: the newest time on this page that its source filters on (modification time for
    #: contacts and engagements, occurrence time for events): the watermark may advance to it
    high_water: datetime | None = None
    #: for activity, the mapping's source it came from: each source has its own watermark,
    #: because sources filter on different times
    source: str | None = None
    #: records deleted in the CRM since the watermark (their state is forgotten)
    deleted: list[str] = field(default_factory=list)
    #: records that became another: old id -> surviving id (a converted Salesforce Lead
    #: -> its Contact); the old record is not scored, its ledger and stage move over
    merged: dict[str, str] = field(default_factory=dict)
    #: for contacts: what each record shows of mqlsync's own fields, in mqlsync's words
    #: (see mapped.recorded): a run whose state is lost, old or another's rebuilds from it
    recorded: dict[str, dict[str, str | None]] = field(default_factory=dict)


@dataclass
class SetupReport:
    """What `setup` found and did: created names, and the ones that already existed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


class CRM(Protocol):
    """A CRM behind the port. Only `apply` and `ensure_fields` write."""

    name: str

    def ensure_fields(self, dry_run: bool = False) -> SetupReport:
        """Create the custom fields the mapping writes to, when missing; change nothing that exists."""

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        """Contacts modified at or after `since` (all when None), page by page."""

    def pull_activities(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        """Activity since each source's own watermark (`since[source]`, all when None),
        page by page, each page naming its source. The adapter reads a little before
        the watermark where its APIs can deliver late; the ledger drops repeats."""

    def lifecycle_of(self, contact_id: str) -> str | None:
        """The CRM's current lifecycle value for a contact pulled in this run."""

    def find_tasks(self, keys: Mapping[str, str]) -> dict[str, str]:
        """Tasks already in the CRM for these keys (key -> the contact each is for):
        key -> CRM id."""

    def apply(self, plan: WritePlan) -> ApplyResult:
        """Write the plan in the largest batches the API allows; report per record."""

    @property
    def requests(self) -> int:
        """API requests made so far (for the run summary and the benchmarks)."""


class Metered:
    """What both adapters share about their calls: the requests counted so far and the
    retry budget of their CRM's policy (needs `_requests` and `policy`)."""

    _requests: int

    @property
    def requests(self) -> int:
        return self._requests

    @property
    def budget_s(self) -> float:
        return self.policy.budget_s

    @budget_s.setter
    def budget_s(self, value: float) -> None:
        self.policy.budget_s = value
