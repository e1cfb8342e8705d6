"""The schema of a per-CRM mapping file (`mappings/hubspot.yaml`,
`mappings/salesforce.yaml`): which CRM fields feed which canonical fields, which CRM
activity feeds which activity type, and where results are written back."""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mqlsync.connector.config.scoring import Condition, Strict
from mqlsync.connector.model import Stage

WriteBackKey = Literal["score", "fit", "engagement", "negative", "grade", "stage", "mql", "mql_at",
                       "explanation", "model_version"]
TASK_PLACEHOLDERS = ("name", "title", "company", "total", "fit", "engagement", "grade", "email")


class ScheduleSpec(Strict):
    """When the connection syncs: every N minutes or on a cron expression."""

    every_minutes: int | None = Field(default=None, ge=1)
    cron: str | None = None
    #: local time of the daily rescore that applies decay from the ledger
    rescore_at: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleSpec:
        if (self.every_minutes is None) == (self.cron is None):
            raise ValueError("give exactly one of every_minutes or cron")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron needs five fields (minute hour day month weekday), got {self.cron!r}")
        return self


class StatusSignal(Strict):
    """Sales' verdict as a CRM field: which values mean accepted and rejected, and when
    it was set (needed to tell re-engagement from the old verdict): from the CRM's own
    history of the field (HubSpot's property history; Salesforce's field history, where
    it is on), else from `at_field`, a time a workflow stamps when the status changes.
    The record's last-modified time cannot stand in for it: mqlsync's own writes move
    that time, and a rejection would look newer than the re-qualification after it."""

    field: str
    #: the stamped time, for records whose history does not say (optional)
    at_field: str | None = None
    accepted: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> StatusSignal:
        both = set(self.accepted) & set(self.rejected)
        if both:
            raise ValueError(f"values both accepted and rejected: {', '.join(sorted(both))}")
        if not self.accepted and not self.rejected:
            raise ValueError("list the values that mean accepted and/or rejected")
        return self


class PipelineStages(Strict):
    """A person's stage from the deals of its company (Salesforce: a Contact's
    opportunities). A person whose company has a won deal, or who has a role on one, is
    `won`; one with a role on an open deal is `open`. Either may be left out (null)."""

    won: Stage | None = Stage.CUSTOMER
    open: Stage | None = Stage.OPPORTUNITY


#: what CRMs and imports put where a value is required but not known
PLACEHOLDERS = ("[not provided]", "not provided", "unknown", "n/a", "-")


class ObjectMapping(Strict):
    """One CRM object that holds people (HubSpot contacts; Salesforce Lead or Contact)."""

    enabled: bool = True
    #: canonical field -> CRM field (`attributes.<name>` for custom scoring inputs)
    fields: dict[str, str] = Field(min_length=1)
    #: canonical field -> {CRM value: canonical value}, for picklists and sources
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: the CRM field holding the lifecycle or status, and its values in mqlsync's stages
    stage_field: str | None = None
    stages: dict[str, Stage] = Field(default_factory=dict)
    sales_status: StatusSignal | None = None
    #: the person's stage from its company's deals (Salesforce Contacts: opportunities)
    opportunities: PipelineStages | None = None
    #: SQL criterion -> CRM field (a checkbox, or any non-empty value meaning yes)
    sql_criteria: dict[str, str] = Field(default_factory=dict)
    #: text that stands for "not known" in this object's fields (the mapping's
    #: `placeholders` unless set here)
    placeholders: list[str] | None = None

    def is_placeholder(self, value: object) -> bool:
        """A value the CRM forced in place of nothing ("[not provided]", "Unknown", "-"):
        read as missing, so a person gets the same verdict in every CRM."""
        return isinstance(value, str) and value.strip().casefold() in {p.casefold() for p in self.placeholders or ()}

    @model_validator(mode="after")
    def _stages_need_field(self) -> ObjectMapping:
        if self.stages and not self.stage_field:
            raise ValueError("stages are listed but stage_field is not set")
        return self


class ActivitySource(Strict):
    """Where one canonical activity type comes from in the CRM."""

    #: the CRM object or API the adapter reads (e.g. `form_submissions`, `Task`)
    source: str = Field(min_length=1)
    #: the canonical activity type it becomes (the `type` scoring rules name)
    type: str = Field(min_length=1)
    #: canonical attribute -> CRM field
    attributes: dict[str, str] = Field(default_factory=dict)
    #: only CRM records meeting these conditions (CRM field -> condition)
    where: dict[str, Condition] = Field(default_factory=dict)
    #: the CRM field(s) naming the person, first non-empty wins (Salesforce: a custom
    #: object's Lead__c and Contact__c lookups); adapters know the standard objects'
    person: list[str] = Field(default_factory=list)
    #: the CRM field holding when it happened; adapters know the standard objects'
    at: str | None = None

    @field_validator("person", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class WriteBack(Strict):
    """The custom fields mqlsync writes (created by `mqlsync setup` when missing)."""

    group: str = "mqlsync"
    fields: dict[WriteBackKey, str] = Field(min_length=1)
    #: also move the CRM's own lifecycle/status field (never backward)
    lifecycle: bool = True
    #: canonical stage -> CRM value to write in the object's stage_field
    stage_values: dict[Stage, str] = Field(default_factory=dict)
    #: `shadow`, the first week: only mqlsync's own score fields are written; the CRM's
    #: stage, the MQL tag and its date, and tasks are not (what sales acts on stays as it
    #: is while marketing reviews the scores); `full` writes all
    mode: Literal["full", "shadow"] = "full"


class MqlTag(Strict):
    """How the MQL tag shows in the CRM: a field set to a value, or membership of a
    list (HubSpot static list, Salesforce campaign)."""

    field: str | None = None
    value: str | bool = True
    list: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MqlTag:
        if (self.field is None) == (self.list is None):
            raise ValueError("give exactly one of field or list")
        return self


class TaskSpec(Strict):
    """The follow-up task for the owning rep, one per qualification."""

    enabled: bool = True
    subject: str = "MQL: {name} ({grade}, score {total})"
    priority: str | None = None

    @field_validator("subject")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"bad template: {exc}") from None
        unknown = [n for n in names if n not in TASK_PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; known: "
                             + ", ".join("{" + p + "}" for p in TASK_PLACEHOLDERS))
        return value


class Limits(Strict):
    """How hard mqlsync may push the CRM, and how long it keeps trying."""

    #: seconds one call may keep being retried (with backoff) before the run stops
    retry_budget_s: float = Field(default=120.0, gt=0, le=3600)
    #: requests this connection allows itself per window: HubSpot's burst limit for a
    #: private app is 100 per 10 s on Free/Starter and 190 on Professional/Enterprise
    #: (API usage guidelines); Salesforce has no window (unset), only a daily allocation
    max_requests: int | None = Field(default=None, ge=1)
    per_seconds: float = Field(default=10.0, gt=0, le=3600)


class Mapping(Strict):
    """A whole mapping file: one CRM connection."""

    #: an installed CRM kind (connector/crms): hubspot, salesforce
    crm: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    #: a stable name for this connection: keys its state and its task keys
    connection: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    #: the scoring model, relative to this file
    model: str = "scoring.yaml"
    schedule: ScheduleSpec
    objects: dict[str, ObjectMapping] = Field(min_length=1)
    activities: list[ActivitySource] = Field(default_factory=list)
    write_back: WriteBack
    mql_tag: MqlTag
    tasks: TaskSpec = Field(default_factory=TaskSpec)
    limits: Limits = Field(default_factory=Limits)
    #: text read as "not known" in every object's fields: Salesforce requires a Lead's
    #: LastName and Company, so imports and web-to-lead fill them with "[not provided]"
    placeholders: list[str] = Field(default_factory=lambda: list(PLACEHOLDERS))

    @model_validator(mode="after")
    def _objects_get_placeholders(self) -> Mapping:
        for name, obj in self.objects.items():
            if obj.placeholders is None:
                self.objects[name] = obj.model_copy(update={"placeholders": list(self.placeholders)})
        return self
