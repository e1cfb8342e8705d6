"""Canonical records every adapter produces and every part of mqlsync consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def as_utc(value: datetime) -> datetime:
    """A naive timestamp is taken to be UTC (CRM exports and our JSONL files use UTC);
    an aware one is converted, so every comparison in the core is between aware times."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
def iso(value: datetime | None) -> str | None:
    """UTC time as JSON output writes it everywhere: 2026-11-01T09:00:00Z."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


class Stage(StrEnum):
    """The funnel of PRODUCT.md, with the two side states."""

    LEAD = "lead"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"

    @property
    def rank(self) -> int:
        """Position along the funnel; the side states sit with `lead`."""
        return _RANK[self]


_RANK = {
    Stage.LEAD: 0,
    Stage.RECYCLED: 0,
    Stage.DISQUALIFIED: 0,
    Stage.MQL: 1,
    Stage.SAL: 2,
    Stage.SQL: 3,
    Stage.OPPORTUNITY: 4,
    Stage.CUSTOMER: 5,
}

Scalar = str | int | float | bool

#: where a lead came from (README, the canonical format)
CHANNELS = ("inbound_form", "event", "interaction", "referral", "outbound", "other")
#: the kind of form or entry point within the channel
FORM_TYPES = ("content", "contact", "demo", "paid_search", "trial", "webinar", "event", "badge_scan")


def odd_values(contact: Contact) -> list[str]:
    """The contact's values outside their documented sets: no rule can match them, so
    the record is reported (with the fix) and scored as it is."""
    out = []
    for name, allowed in (("channel", CHANNELS), ("form_type", FORM_TYPES)):
        value = getattr(contact, name)
        if value is not None and value.lower() not in allowed:
            out.append(f"{name} {value!r} is not one of {', '.join(allowed)}; no rule can match it (map the "
                       f"CRM's value under `values: {{{name}: ...}}`)")
    return out


#: Contact fields a scoring rule may name (besides `attributes.<name>`).
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "email_domain",
    "title",
    "company",
    "phone",
    "company_size",
    "industry",
    "org_type",
    "country",
    "region",
    "city",
    "linkedin_url",
    "channel",
    "form_type",
    "unsubscribed",
    "bounced",
    "owner_id",
)


#: the longest text mqlsync reads from a CRM field (CRM long-text fields hold 32k-65k;
#: nothing a scoring rule reads is longer than a few hundred characters)
MAX_TEXT = 10_000


def clean_text(value: str, field: str) -> str:
    """A CRM's text as mqlsync can store and send it: NUL characters dropped (PostgreSQL
    refuses them), unpaired surrogates (text that is not valid UTF-8) replaced; longer
    than MAX_TEXT is refused, so the record is reported rather than a run slowed."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in value:
        value = value.replace("\x00", "")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{field}: {len(value):,} characters, more than the {MAX_TEXT:,} mqlsync reads")
    return value


def _clean(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = clean_text(value, key)
        elif key == "attributes" and isinstance(value, dict):
            value = {k: clean_text(v, f"attributes.{k}") if isinstance(v, str) else v for k, v in value.items()}
        out[key] = value
    return out


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        return _clean(data)


class Contact(_Record):
    """A person as the CRM knows them, in mqlsync's words (a HubSpot contact, a
    Salesforce Lead or Contact). Empty strings mean "not known", as in the CRMs."""

    id: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    title: str | None = None
    company: str | None = None
    phone: str | None = None
    company_size: int | None = Field(default=None, ge=0)
    industry: str | None = None
    org_type: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    linkedin_url: str | None = None
    #: where the lead came from: inbound_form, event, interaction, referral, outbound, other
    channel: str | None = None
    #: the kind of form or entry point within the channel: content, contact, demo,
    #: paid_search, trial, webinar, event, badge_scan
    form_type: str | None = None
    unsubscribed: bool = False
    bounced: bool = False
    owner_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: custom CRM fields mapped by name, usable in rules as `attributes.<name>`
    attributes: dict[str, Scalar | None] = Field(default_factory=dict)

    # What sales and later processes record in the CRM; the connector reads these,
    # never invents them.
    #: the stage the CRM shows now (translated by the mapping), e.g. opportunity
    crm_stage: Stage | None = None
    #: sales' verdict on the lead and when it was given
    sales_status: Literal["accepted", "rejected"] | None = None
    sales_status_at: datetime | None = None
    #: the CRM's own value behind a rejection (a lead status such as BAD_TIMING): the
    #: review counts rejections by it
    sales_reason: str | None = None
    #: False when the verdict's time is only a day (a date field stamped by a workflow):
    #: it is compared by day
    sales_status_exact: bool = True
    #: SQL criteria as sales recorded them: buying_cycle, influencer, timeframe,
    #: opportunity_size, next_step (and the optional budget)
    sql_criteria: dict[str, bool] = Field(default_factory=dict)

    @field_validator("created_at", "updated_at", "sales_status_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _status_needs_time(self) -> Contact:
        # Without the time of the verdict a rejection cannot be told apart from the
        # re-qualification that follows it, so the stage would flap on every run.
        if self.sales_status is not None and self.sales_status_at is None:
            raise ValueError("sales_status needs sales_status_at (when sales gave the verdict)")
        return self

    @property
    def email_domain(self) -> str | None:
        if not self.email or "@" not in self.email:
            return None
        return self.email.rsplit("@", 1)[1].lower() or None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.id


class Activity(_Record):
    """One thing a person did, as the CRM recorded it: a form fill, a page view, an
    e-mail click, a webinar attendance. `id` is the CRM's own id, which makes the
    activity ledger and the scoring core deduplicate repeats."""

    id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1)
    #: canonical type: form_submission, page_view, email_open, email_click,
    #: video_watch, trial_signup, webinar_registration, webinar_attendance,
    #: event_attendance, booth_conversation, follow_up_request, meeting, call, ...
    type: str = Field(min_length=1)
    at: datetime
    #: url, form_name, asset_type, asset_id, campaign_type, event_id, minutes, ...
    attributes: dict[str, Scalar | None] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


def stage_of(value: Any) -> Stage:
    """Parse a stage name as written in files and on the command line."""
    return Stage(str(value).strip().lower())


# --- what the scoring core returns -------------------------------------------------
# Immutable tuples and a frozen dataclass, not pydantic models: the core builds
# millions of them per run, from values validated on the way in. Rule hits are
# shared between contacts with the same field values, so they must not change.


class Evidence(NamedTuple):
    """Why a rule fired: a field and its value, or an activity and its time."""

    field: str | None = None
    value: Scalar | None = None
    activity_id: str | None = None
    at: datetime | None = None
    #: True where the evidence is that the field is filled, not its value (a
    #: completeness rule: what is in the field is none of its business)
    filled: bool | None = None


class RuleHit(NamedTuple):
    """One rule that fired, with the points it gave after decay and its cap."""

    rule_id: str
    category: str
    label: str
    points: float
    #: matching occurrences counted (activities, distinct values, fields present)
    occurrences: int
    evidence: tuple[Evidence, ...]
    #: points before the rule's cap, after decay
    uncapped: float
    disqualify: bool = False
    #: points accrue per occurrence (so "×3" means something to the reader)
    per_occurrence: bool = False


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """The score of one contact at one moment under one model version."""

    contact_id: str
    model_version: str
    scored_at: datetime
    fit: float
    engagement: float
    negative: float
    total: float
    grade: str
    #: the MQL gate: threshold, grade floor, required fields, no disqualifier
    mql: bool
    #: why the gate is closed, in words ("total 41 < threshold 60", "missing title")
    unmet: tuple[str, ...]
    disqualified_by: tuple[str, ...]
    hits: tuple[RuleHit, ...]
    #: category -> points removed by the category cap
    category_capped: dict[str, float] = field(default_factory=dict)
    #: the most recent activity that earned positive action points
    last_engaged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A stage change, as the lifecycle decided it and the state store records it."""

    contact_id: str
    from_stage: Stage
    to_stage: Stage
    reason: str
    at: datetime


class DealOutcome(NamedTuple):
    """What became of one deal of a person (a HubSpot deal, a Salesforce opportunity)."""

    contact_id: str
    deal_id: str
    #: True won, False lost, None still open
    won: bool | None
    closed_at: datetime | None = None
    amount: float | None = None


class StageRow(NamedTuple):
    """A contact's stage as the state records it."""

    stage: Stage
    #: when the contact reached it (None when it was adopted without a time)
    since: datetime | None
    #: when it last qualified as an MQL, for a stage that carries the MQL tag
    mql_at: datetime | None


# --- what the sync job asks an adapter to write ------------------------------------


class FieldWrite(BaseModel):
    """New values for one contact's write-back fields, in mqlsync's words: keys are the
    mapping's write-back keys (score, fit, grade, stage, mql, ...) plus `lifecycle`."""

    model_config = ConfigDict(frozen=True)

    contact_id: str
    values: dict[str, str | None]
    #: the CRM's current lifecycle value, when the write moves it (backward moves
    #: must clear it first in HubSpot)
    lifecycle_from: str | None = None


class TaskRequest(BaseModel):
    """One follow-up task for the contact's owner, keyed so it is created once."""

    model_config = ConfigDict(frozen=True)

    key: str
    contact_id: str
    owner_id: str | None
    due_at: datetime
    subject: str
    body: str
    priority: str | None = None


class WritePlan(BaseModel):
    """Everything one sync run writes to the CRM."""

    updates: list[FieldWrite] = Field(default_factory=list)
    tasks: list[TaskRequest] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updates or self.tasks)


class WriteFailure(BaseModel):
    """A record the CRM refused, with its reason in the CRM's words."""

    contact_id: str
    reason: str
    #: worth retrying next run (a conflict, a lock) or not until the record changes
    retryable: bool = False


class ApplyResult(BaseModel):
    """What the CRM confirmed: updated contacts, created tasks (key -> CRM id), and
    the failures, each matched to its record by id, never by position."""

    updated: list[str] = Field(default_factory=list)
    tasks: dict[str, str] = Field(default_factory=dict)
    failed: list[WriteFailure] = Field(default_factory=list)
    #: records the CRM no longer has (deleted or merged away since they were pulled):
    #: not failures, nothing to retry; the run forgets them
    gone: list[str] = Field(default_factory=list)
    requests: int = 0
