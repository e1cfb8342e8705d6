"""The four rule kinds of the scoring model, compiled into objects that evaluate one
contact's fields and activities and return the hit they earn (or None)."""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mqlsync.connector.config.scoring import (
    ActivityRule,
    CombinationRule,
    CompletenessRule,
    FieldRule,
    RecencyRule,
    ScoringModel,
    When,
)
from mqlsync.connector.model import Activity, Contact, Evidence, RuleHit
from mqlsync.connector.scoring.conditions import as_number, compile_condition, present

#: an activity with its age in days at the scoring moment
Aged = tuple[float, Activity]
#: activities of one contact, by type
ByType = Mapping[str, Sequence[Aged]]

#: evidence kept per hit: the most recent activities; the count says how many in all
MAX_EVIDENCE = 5


def _age_then_id(aged: Aged) -> tuple[float, str]:
    # The id breaks ties, so evidence does not depend on the order activities came in.
    return aged[0], aged[1].id


def field_getter(name: str) -> Callable[[Contact], Any]:
    if name.startswith("attributes."):
        key = name.split(".", 1)[1]
        return lambda c: c.attributes.get(key)
    return operator.attrgetter(name)


def _compile_when(when: When, lists) -> list[tuple[str, Callable[[Any], bool]]]:
    return [(name, compile_condition(cond, lists)) for name, cond in when.items()]


def _compile_where(where: When, lists) -> Callable[[Activity], bool] | None:
    if not where:
        return None
    tests = [(name, compile_condition(cond, lists)) for name, cond in where.items()]

    def check(activity: Activity) -> bool:
        attrs = activity.attributes
        for name, test in tests:
            if not test(attrs.get(name)):
                return False
        return True

    return check


class Compiled:
    """What every compiled rule knows: identity, points and how to cap them."""

    __slots__ = ("id", "category", "label", "points", "cap", "disqualify")

    def __init__(self, rule) -> None:
        self.id = rule.id
        self.category = rule.category
        self.label = rule.label
        self.points = rule.points
        self.cap = rule.cap
        self.disqualify = rule.disqualify

    def hit(self, points: float, occurrences: int, evidence: tuple[Evidence, ...],
            per_occurrence: bool = False) -> RuleHit:
        capped = points
        if self.cap is not None:
            capped = max(-self.cap, min(self.cap, points))
        return RuleHit(self.id, self.category, self.label, round(capped, 2), occurrences, evidence,
                       round(points, 2), self.disqualify, per_occurrence)

    #: the contact fields this rule reads (the engine reads each once per contact)
    fields: tuple[str, ...] = ()

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:  # pragma: no cover
        raise NotImplementedError


class _Memo:
    """A rule whose hit depends only on some contact values returns the same (frozen)
    hit for the same values: titles, sizes and domains repeat across contacts."""

    __slots__ = ()
    MEMO_SIZE = 4096
    # What the rule that mixes this in provides:
    fields: tuple[str, ...]
    memo: dict[tuple, RuleHit | None]
    compute: Callable[[Mapping[str, Any]], RuleHit | None]

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:
        fields = self.fields
        key: tuple[Any, ...]
        if len(fields) == 1:
            value = values[fields[0]]
            key = (value.__class__, value)  # by type too: 1 == 1.0 == True as dict keys
        else:
            key = tuple([(v.__class__, v) for v in [values[name] for name in fields]])
        memo = self.memo
        try:
            return memo[key]
        except KeyError:
            hit = self.compute(values)
            if len(memo) < self.MEMO_SIZE:
                memo[key] = hit
            return hit
        except TypeError:  # an unhashable custom attribute
            return self.compute(values)


class CompiledField(_Memo, Compiled):
    __slots__ = ("all", "any", "fields", "memo", "presence")

    def __init__(self, rule: FieldRule, lists) -> None:
        super().__init__(rule)
        self.all = _compile_when(rule.when, lists)
        self.any = [_compile_when(w, lists) for w in rule.when_any]
        self.fields = tuple(dict.fromkeys([n for n, _ in self.all] + [n for g in self.any for n, _ in g]))
        self.memo: dict[tuple, RuleHit | None] = {}
        # Fields tested only for being filled: the evidence says so, not what they hold.
        self.presence = {name for when in [rule.when, *rule.when_any] for name, cond in when.items()
                         if cond.model_fields_set == {"present"} and cond.present}

    def _evidence(self, name: str, values: Mapping[str, Any]) -> Evidence:
        return Evidence(field=name, filled=True) if name in self.presence else Evidence(field=name, value=values[name])

    def compute(self, values: Mapping[str, Any]) -> RuleHit | None:
        for name, test in self.all:
            if not test(values[name]):
                return None
        evidence = [self._evidence(name, values) for name, _ in self.all]
        if self.any:
            for group in self.any:
                if all(test(values[name]) for name, test in group):
                    evidence.extend(self._evidence(name, values) for name, _ in group)
                    break
            else:
                return None
        return self.hit(self.points, 1, tuple(evidence))


class CompiledCompleteness(Compiled):
    """Evidence names the fields present, not their values: which fields are filled is
    what the rule is about (and it keeps e-mail addresses out of the breakdown)."""

    __slots__ = ("fields", "min_present", "per_field", "memo")

    def __init__(self, rule: CompletenessRule) -> None:
        super().__init__(rule)
        self.fields = tuple(rule.fields)
        self.min_present = rule.min_present or len(rule.fields)
        self.per_field = rule.per == "field"
        self.memo: dict[tuple[bool, ...], RuleHit | None] = {}

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:
        key = tuple([present(values[name]) for name in self.fields])
        if key not in self.memo:
            self.memo[key] = self.compute(key)
        return self.memo[key]

    def compute(self, filled_flags: tuple[bool, ...]) -> RuleHit | None:
        filled = [Evidence(field=name, filled=True) for name, flag in zip(self.fields, filled_flags, strict=True)
                  if flag]
        if len(filled) < self.min_present:
            return None
        points = self.points * len(filled) if self.per_field else self.points
        return self.hit(points, len(filled), tuple(filled))


class _CompiledCounted(Compiled):
    __slots__ = ("window", "min_count", "once", "half_life")

    def __init__(self, rule: ActivityRule | CombinationRule) -> None:
        super().__init__(rule)
        window = rule.within_days
        self.half_life = None
        if rule.decay is not None:
            if rule.decay.expires_after_days is not None:
                # An expired activity counts as if it never happened: the same as a window.
                exp = rule.decay.expires_after_days
                window = exp if window is None else min(window, exp)
            else:
                self.half_life = rule.decay.half_life_days
        self.window = window
        self.min_count = rule.min_count
        self.once = rule.per == "once"

    def _select(self, by_type: ByType, types: Sequence[str], where) -> Sequence[Aged]:
        """The activities that count (read-only: the lists are shared between rules)."""
        window = self.window
        if window is None and where is None and len(types) == 1:
            return by_type.get(types[0], ())
        out: list[Aged] = []
        for t in types:
            for aged in by_type.get(t, ()):
                # Half-open window: an activity exactly `window` days old is outside it.
                if window is not None and aged[0] >= window:
                    continue
                if where is not None and not where(aged[1]):
                    continue
                out.append(aged)
        return out

    def _score(self, occurrence_ages: list[float], matched: Sequence[Aged]) -> RuleHit | None:
        """Points for the occurrences (each with the age of its most recent activity)."""
        if len(occurrence_ages) < self.min_count:
            return None
        hl = self.half_life
        if self.once:
            youngest = min(occurrence_ages)
            points = self.points * (0.5 ** (youngest / hl) if hl else 1.0)
        elif hl:
            points = sum(self.points * 0.5 ** (age / hl) for age in occurrence_ages)
        else:
            points = self.points * len(occurrence_ages)
        newest = heapq.nsmallest(MAX_EVIDENCE, matched, key=_age_then_id)
        evidence = tuple([Evidence(activity_id=a.id, at=a.at) for _, a in newest])
        return self.hit(points, len(occurrence_ages), evidence, per_occurrence=not self.once)


class CompiledActivity(_CompiledCounted):
    __slots__ = ("types", "where", "distinct", "total", "within", "when", "fields")
    # `types`: the activity types this rule reads; the engine skips it for a contact
    # who has none of them.

    def __init__(self, rule: ActivityRule, lists) -> None:
        super().__init__(rule)
        self.types = tuple(rule.type)
        self.where = _compile_where(rule.where, lists)
        self.distinct = rule.distinct
        self.total = rule.total
        self.within = (float("-inf") if rule.total is None or rule.total.min is None else rule.total.min,
                       float("inf") if rule.total is None or rule.total.max is None else rule.total.max)
        self.when = _compile_when(rule.when, lists)
        self.fields = tuple(name for name, _ in self.when)

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:
        for name, test in self.when:  # the contact's own fields, tested with its activity
            if not test(values[name]):
                return None
        matched = self._select(by_type, self.types, self.where)
        if not matched:
            return None
        if self.total is not None:
            return self._totalled(matched)
        if self.distinct is None:
            return self._score([age for age, _ in matched], matched)
        youngest: dict[str, float] = {}
        kept: list[Aged] = []
        for age, activity in matched:
            value = activity.attributes.get(self.distinct)
            if not present(value):
                continue
            key = str(value).strip().casefold()
            kept.append((age, activity))
            if key not in youngest or age < youngest[key]:
                youngest[key] = age
        return self._score(list(youngest.values()), kept) if youngest else None

    def _totalled(self, matched: Sequence[Aged]) -> RuleHit | None:
        """Once, when the sum (average, maximum) of an attribute over the matched
        activities falls in the range; evidence: that number, then the activities."""
        total = self.total
        assert total is not None
        numbers = [n for _, a in matched if (n := as_number(a.attributes.get(total.attribute))) is not None]
        if not numbers:
            return None
        value = sum(numbers) if total.of == "sum" else max(numbers) if total.of == "max" else \
            sum(numbers) / len(numbers)
        low, high = self.within
        if not low <= value < high:
            return None
        hl = self.half_life
        youngest = min(age for age, _ in matched)
        points = self.points * (0.5 ** (youngest / hl) if hl else 1.0)
        newest = heapq.nsmallest(MAX_EVIDENCE, matched, key=_age_then_id)
        evidence = (Evidence(field=f"{total.of} of {total.attribute}", value=round(value, 2)),
                    *[Evidence(activity_id=a.id, at=a.at) for _, a in newest])
        return self.hit(points, len(matched), evidence)


class CompiledRecency(Compiled):
    """Points by the days since the last activity of the rule's types (whole days, as
    every window); with `never`, for a contact who has none of them too. Evaluated for
    every contact: it is about what is missing."""

    __slots__ = ("kinds", "days", "never", "latest")

    def __init__(self, rule: RecencyRule, lists) -> None:
        super().__init__(rule)
        self.kinds = tuple(rule.type)
        self.days = compile_condition(rule.days, lists) if rule.days is not None else None
        self.never = rule.never
        self.latest = rule.latest

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:
        if self.latest:  # the newest activity of any type the model reads
            newest = min((aged for acts in by_type.values() for aged in acts), key=_age_then_id, default=None)
            last = newest if newest is not None and newest[1].type in self.kinds else None
            if last is None:
                return None
        else:
            last = min((aged for t in self.kinds for aged in by_type.get(t, ())), key=_age_then_id, default=None)
        if last is None:
            if not self.never:
                return None
            return self.hit(self.points, 1, (Evidence(field="days since the last", value="never"),))
        # Ages are whole days (see the engine); as an int, a list of day counts matches too.
        if self.days is not None and not self.days(int(last[0])):
            return None
        return self.hit(self.points, 1, (Evidence(field="days since the last", value=int(last[0])),
                                         Evidence(activity_id=last[1].id, at=last[1].at)))


class CompiledCombination(_CompiledCounted):
    __slots__ = ("filters", "same", "types")

    def __init__(self, rule: CombinationRule, lists) -> None:
        super().__init__(rule)
        self.filters = [(tuple(f.type), _compile_where(f.where, lists)) for f in rule.all_of]
        self.same = rule.same
        self.types = tuple(dict.fromkeys(t for f in rule.all_of for t in f.type))

    def evaluate(self, values: Mapping[str, Any], by_type: ByType) -> RuleHit | None:
        groups: list[dict[str, list[Aged]]] = []
        for types, where in self.filters:
            by_key: dict[str, list[Aged]] = {}
            for aged in self._select(by_type, types, where):
                value = aged[1].attributes.get(self.same)
                if present(value):
                    by_key.setdefault(str(value).strip().casefold(), []).append(aged)
            if not by_key:
                return None
            groups.append(by_key)
        keys = set(groups[0]).intersection(*groups[1:])
        if not keys:
            return None
        ages: list[float] = []
        matched: list[Aged] = []
        for key in sorted(keys):
            parts = [aged for g in groups for aged in g[key]]
            ages.append(min(age for age, _ in parts))
            matched.extend(parts)
        return self._score(ages, matched)


def compile_rules(model: ScoringModel) -> list[Compiled]:
    lists = {name: frozenset(spec.items) for name, spec in model.lists.items()}
    compiled: list[Compiled] = []
    for rule in model.rules:
        if isinstance(rule, FieldRule):
            compiled.append(CompiledField(rule, lists))
        elif isinstance(rule, CompletenessRule):
            compiled.append(CompiledCompleteness(rule))
        elif isinstance(rule, ActivityRule):
            compiled.append(CompiledActivity(rule, lists))
        elif isinstance(rule, CombinationRule):
            compiled.append(CompiledCombination(rule, lists))
        elif isinstance(rule, RecencyRule):
            compiled.append(CompiledRecency(rule, lists))
        else:  # pragma: no cover - the schema admits no other kind
            raise TypeError(f"unknown rule kind {type(rule).__name__}")
    return compiled


def activity_types(model: ScoringModel) -> frozenset[str]:
    """Every activity type some rule reads: the rest need not be loaded at all."""
    types: set[str] = set()
    for rule in model.rules:
        if isinstance(rule, ActivityRule):
            types.update(rule.type)
        elif isinstance(rule, CombinationRule):
            for f in rule.all_of:
                types.update(f.type)
        elif isinstance(rule, RecencyRule):
            types.update(rule.type)
    return frozenset(types)

