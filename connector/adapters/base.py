"""The CRM port: what the sync job needs from any CRM, whatever its API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from mqlsync.connector.adapters.jsonl import describe
from mqlsync.connector.errors import RecordRejected
from mqlsync.connector.model import Activity, ApplyResult, Contact, DealOutcome, WritePlan


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
    #: records deleted in the CRM since the watermark: contacts (their state is
    #: forgotten), or activities (dropped from the ledger: deleted activity is not activity)
    deleted: list[str] = field(default_factory=list)
    #: records that became another: old id -> surviving id (a converted Salesforce Lead
    #: -> its Contact); the old record is not scored, its ledger and stage move over
    merged: dict[str, str] = field(default_factory=dict)
    #: for contacts: what each record shows of mqlsync's own fields, in mqlsync's words
    #: (see mapped.recorded): a run whose state is lost, old or another's rebuilds from it
    recorded: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: for activity: why its source could not be read at all this run (its scopes or
    #: the account's plan do not allow it); its watermark stays where it was
    skipped: str | None = None
    #: for deals: what became of each deal of each person on this page
    outcomes: list[DealOutcome] = field(default_factory=list)

    def saw(self, changed: datetime | None) -> None:
        """A record changed (or happened) at `changed`: the watermark may advance to it."""
        if changed is not None and (self.high_water is None or changed > self.high_water):
            self.high_water = changed

    def reject(self, origin: str, exc: Exception, record_id: str) -> None:
        """A record that cannot be read: reported with its id and why, the rest goes on."""
        reason = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        self.rejected.append(RecordRejected(origin, None, reason, record_id))


@dataclass
class SetupReport:
    """What `setup` found and did: created names, and the ones that already existed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    #: fields the integration user was given access to (Salesforce field-level security)
    granted: list[str] = field(default_factory=list)
    #: what an admin must still do by hand, each a sentence that says how
    todo: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One line of `mqlsync check`: what was checked, whether it passed, and if not, the fix."""

    item: str
    ok: bool
    fix: str = ""


class CRM(Protocol):
    """A CRM behind the port. Only `apply` and `ensure_fields` write."""

    name: str

    def ensure_fields(self, dry_run: bool = False, grant: bool = True) -> SetupReport:
        """Create the custom fields the mapping writes to, when missing; change nothing
        that exists. With `grant`, give the integration user access to them where the
        CRM needs that (else say in `todo` what to grant)."""

    def missing_fields(self) -> list[str]:
        """The fields mqlsync writes that the CRM lacks (or the integration user cannot
        see): a run stops at once when any is missing. Reads only, and little."""

    def check(self) -> list[Check]:
        """The preflight: every field the mapping reads and writes, the values it writes,
        the MQL list or campaign, and each activity source under the token's scopes and
        the account's plan. Reads only."""

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        """Contacts modified at or after `since` (all when None), page by page."""

    def pull_activities(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        """Activity since each source's own watermark (`since[source]`, all when None),
        page by page, each page naming its source. The adapter reads a little before
        the watermark where its APIs can deliver late; the ledger drops repeats."""

    def pull_outcomes(self, since: datetime | None) -> Iterator[Page]:
        """What became of the deals (won, lost, open) changed at or after `since`, and
        of the deals whose people changed, each page's `outcomes` per deal and person."""

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


class Composed:
    """A CRM adapter made of parts, each with one concern: `client` (the API under the
    CRM's policy; it counts requests), `people` and `activity` (the readers) and
    `writer`. The port's calls are the parts' calls; an adapter adds how it is built
    (from the environment) and `ensure_fields`."""

    client: Any
    people: Any
    activity: Any
    writer: Any

    @property
    def requests(self) -> int:
        return self.client.requests

    @property
    def budget_s(self) -> float:
        """Seconds one call may keep being retried before the run stops."""
        return self.client.policy.budget_s

    @budget_s.setter
    def budget_s(self, value: float) -> None:
        self.client.policy.budget_s = value

    def pull_contacts(self, since: datetime | None) -> Iterator[Page]:
        return self.people.pull(since)

    def pull_activities(self, since: Mapping[str, datetime | None]) -> Iterator[Page]:
        return self.activity.pull(since)

    def pull_outcomes(self, since: datetime | None) -> Iterator[Page]:
        """What became of the deals changed since `since` (none, for a CRM without them)."""
        outcomes = getattr(self, "outcomes", None)
        return outcomes.pull(since) if outcomes is not None else iter(())

    def lifecycle_of(self, contact_id: str) -> str | None:
        return self.people.lifecycle.get(contact_id)

    def find_tasks(self, keys: Mapping[str, str]) -> dict[str, str]:
        return self.writer.find_tasks(keys)

    def apply(self, plan: WritePlan) -> ApplyResult:
        return self.writer.apply(plan)
