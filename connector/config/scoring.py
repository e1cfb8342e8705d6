"""The schema of the scoring model (`mappings/scoring.yaml`): rules, caps, grades, the
MQL gate and the SQL criteria that both CRMs share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mqlsync.connector.errors import ConfigIssue

CATEGORIES = ("profile", "channel", "actions", "undesired")
Category = Literal["profile", "channel", "actions", "undesired"]
GRADE_LETTERS = ("A", "B", "C", "D", "E", "F")
SQL_CRITERIA = ("buying_cycle", "influencer", "timeframe", "opportunity_size", "next_step")


class Strict(BaseModel):
    """Every config model refuses unknown keys: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


class Condition(Strict):
    """A test on one value. Several operators in one condition must all hold.
    Text comparisons ignore case. A missing or empty value passes only `present: false`.
    A list item written `@name` stands for the model's list `name`."""

    equals: str | float | bool | None = None
    in_: list[str | float] | None = Field(default=None, alias="in")
    contains_any: list[str] | None = None
    matches: str | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None
    domain_in: list[str] | None = None
    #: the value is none of these (a filled value: a missing one passes only `present: false`)
    not_in: list[str | float] | None = None
    #: the value is filled and fails this condition
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `channel: event` means equals; `country: [DE, AT]` means in.
        if isinstance(value, list):
            return {"in": value}
        if not isinstance(value, dict):
            return {"equals": value}
        return value

    @field_validator("in_", "contains_any", "domain_in", "not_in", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs an operator: equals, in, not_in, contains_any, matches, "
                             "min, max, present, domain_in or not")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        return self


#: field name -> condition; all must hold
When = dict[str, Condition]
#: activity types: one, or a list
Types = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


class Decay(Strict):
    """How an activity's points fade: halve every `half_life_days`, or vanish after
    `expires_after_days`. Ages are counted from the activity to the scoring `now`."""

    half_life_days: float | None = Field(default=None, gt=0)
    expires_after_days: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Decay:
        if (self.half_life_days is None) == (self.expires_after_days is None):
            raise ValueError("give exactly one of half_life_days or expires_after_days")
        return self


class ActivityFilter(Strict):
    """Which activities count: one of the types, with attribute conditions."""

    type: Types
    where: When = Field(default_factory=dict)


class RuleBase(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    category: Category
    label: str = Field(min_length=1, max_length=120)
    points: float
    #: the most this rule can give (or take, for negative points), in points
    cap: float | None = Field(default=None, gt=0)
    #: a hard negative: keeps the lead out of MQL whatever its score
    disqualify: bool = False


class FieldRule(RuleBase):
    """Points when the contact's fields meet `when` (all) and `when_any` (one group)."""

    kind: Literal["field"]
    when: When = Field(default_factory=dict)
    when_any: list[When] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_condition(self) -> FieldRule:
        if not self.when and not self.when_any:
            raise ValueError("a field rule needs `when` or `when_any`")
        return self


class CompletenessRule(RuleBase):
    """Points for a complete profile: once when `min_present` of `fields` are filled,
    or per filled field."""

    kind: Literal["completeness"]
    fields: list[str] = Field(min_length=1)
    min_present: int | None = Field(default=None, ge=1)
    per: Literal["once", "field"] = "once"

    @model_validator(mode="after")
    def _min_fits(self) -> CompletenessRule:
        if self.min_present is not None and self.min_present > len(self.fields):
            raise ValueError(f"min_present ({self.min_present}) is more than the {len(self.fields)} fields listed")
        return self


class _Counted(RuleBase):
    #: only activities younger than this count ("3 times in 30 days")
    within_days: float | None = Field(default=None, gt=0)
    #: the rule fires when at least this many occurrences are counted
    min_count: int = Field(default=1, ge=1)
    #: points for every occurrence, or once when the rule fires
    per: Literal["occurrence", "once"] = "occurrence"
    decay: Decay | None = None


class Total(Strict):
    """A number over the matching activities: the sum, average or maximum of one of
    their attributes ("10+ minutes on the site in all": sum of minutes, min 10)."""

    attribute: str = Field(min_length=1)
    of: Literal["sum", "average", "max"] = "sum"
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Total:
        if self.min is None and self.max is None:
            raise ValueError("give min or max (or both): the range the total must fall in")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        return self


class ActivityRule(_Counted):
    """Points for activities of a type meeting `where`; with `distinct`, occurrences are
    the distinct values of that attribute ("3 different whitepapers"); with `total`,
    once when a number over them falls in its range ("10+ minutes in all"); with
    `when`, only for contacts whose fields meet it too."""

    kind: Literal["activity"]
    type: Types
    where: When = Field(default_factory=dict)
    distinct: str | None = None
    total: Total | None = None
    #: conditions on the contact's own fields, all of which must hold as well
    when: When = Field(default_factory=dict)


class RecencyRule(RuleBase):
    """Points by how long ago the last activity of these types was ("nothing since
    the chat, 30+ days": days min 30). With `never`, a contact who has none of them
    counts too ("no activity of type X in N days")."""

    kind: Literal["recency"]
    type: Types
    #: the days since the last activity of `type`; omitted with `latest`
    days: Condition | None = None
    never: bool = False
    #: fires when the newest activity the model reads is of `type` ("the last thing
    #: they did was a chat"), within `days` when given
    latest: bool = False

    @model_validator(mode="after")
    def _asks_something(self) -> RecencyRule:
        if self.days is None and not self.latest:
            raise ValueError("a recency rule needs `days` (how long ago), or `latest: true`")
        return self


class CombinationRule(_Counted):
    """Points when every filter in `all_of` matched an activity sharing the same value of
    `same` ("registered for and attended the same webinar"); one occurrence per value."""

    kind: Literal["combination"]
    all_of: list[ActivityFilter] = Field(min_length=2)
    same: str = Field(min_length=1)


Rule = Annotated[
    FieldRule | CompletenessRule | ActivityRule | CombinationRule | RecencyRule,
    Field(discriminator="kind"),
]
RULE_KINDS = ("field", "completeness", "activity", "combination", "recency")


class Band(Strict):
    """A grade's fit range: min <= fit < max; an open end is unbounded."""

    min: float | None = None
    max: float | None = None

    def contains(self, fit: float) -> bool:
        return (self.min is None or fit >= self.min) and (self.max is None or fit < self.max)


class MqlGate(Strict):
    threshold: float
    grade_floor: str = "C"
    required_fields: list[str] = Field(default_factory=lambda: ["first_name", "last_name", "title"])


class ListSpec(Strict):
    """A named list for `@name` references: items inline and/or a file of lines."""

    items: list[str] = Field(default_factory=list)
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"items": value} if isinstance(value, list) else value


class LifecycleSpec(Strict):
    #: all must be true for SQL (PRODUCT.md: buying cycle, influencer, timeframe,
    #: opportunity size, permission for the next step)
    sql_criteria: list[str] = Field(default_factory=lambda: list(SQL_CRITERIA))
    #: budget is optional in the sources; set true to require it as well
    require_budget: bool = False


class ScoringModel(Strict):
    """The whole scoring model as loaded from YAML (lists resolved)."""

    name: str = "default"
    mql: MqlGate
    #: hours sales has to follow up an MQL (the due date of the follow-up task)
    sla_hours: float = Field(default=24, gt=0)
    grades: dict[str, Band] = Field(min_length=1)
    caps: dict[Category, float] = Field(default_factory=dict)
    lists: dict[str, ListSpec] = Field(default_factory=dict)
    lifecycle: LifecycleSpec = Field(default_factory=LifecycleSpec)
    rules: list[Rule] = Field(min_length=1)

    def field_use(self) -> dict[str, str]:
        """How the model reads each contact field: "value" (a condition on what it says)
        or "presence" (only whether it is filled: completeness rules, `present`
        conditions, the MQL gate's required fields). What it does not name, it never reads."""
        use: dict[str, str] = {}

        def mark(field: str, how: str) -> None:
            if use.get(field) != "value":
                use[field] = how

        for rule in self.rules:
            if isinstance(rule, (FieldRule, ActivityRule)):
                whens = [rule.when, *rule.when_any] if isinstance(rule, FieldRule) else [rule.when]
                for when in whens:
                    for field, cond in when.items():
                        mark(field, "presence" if cond.model_fields_set == {"present"} else "value")
            elif isinstance(rule, CompletenessRule):
                for field in rule.fields:
                    mark(field, "presence")
        for field in self.mql.required_fields:
            mark(field, "presence")
        return use

    @field_validator("caps")
    @classmethod
    def _positive_caps(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if v <= 0]
        if bad:
            raise ValueError(f"caps are sizes in points and must be > 0: {', '.join(bad)}")
        return value


@dataclass(frozen=True)
class LoadedModel:
    """A validated scoring model, its lists resolved, with its version hash, and what
    `validate` warns of (parts that can never count)."""

    model: ScoringModel
    version: str
    source: str
    warnings: tuple[ConfigIssue, ...] = ()
