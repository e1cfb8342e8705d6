"""The mistakes the schema lets through: a model that validates but can never make an
MQL, a rule that can never fire, a mapping that never gives a rule what it reads.
Each is an issue at its line, an error (nothing could work) or a warning (a part of
the model does nothing on this CRM)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.config.scoring import (
    CATEGORIES,
    GRADE_LETTERS,
    ActivityRule,
    CombinationRule,
    CompletenessRule,
    Condition,
    FieldRule,
    RecencyRule,
    ScoringModel,
    When,
)
from mqlsync.connector.errors import ConfigIssue
from mqlsync.connector.model import CHANNELS, FORM_TYPES
from mqlsync.connector.yamlsource import Located, Path_

#: contact fields the canonical model derives from others (README, contact fields)
DERIVED = {"email_domain": "email"}
#: fields whose values have a documented set: a condition outside it never matches
VOCABULARY = {"channel": CHANNELS, "form_type": FORM_TYPES}


@dataclass
class Lint:
    """What a lint found: errors stop the load, warnings are printed by `validate`."""

    located: Located
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)

    def error(self, path: Path_, message: str) -> None:
        self.errors.append(self.located.issue(path, message))

    def warn(self, path: Path_, message: str) -> None:
        self.warnings.append(self.located.issue(path, message))


def _pts(points: float) -> str:
    return f"{points:g}"


# --- the model alone --------------------------------------------------------------------


def rule_ceiling(rule) -> float:
    """The most a rule can add: its points once, per field or without bound per
    occurrence, held by its own cap. Decay and windows only lower it."""
    if rule.points <= 0:
        return 0.0
    if isinstance(rule, CompletenessRule):
        most = rule.points * (len(rule.fields) if rule.per == "field" else 1)
    elif isinstance(rule, (ActivityRule, CombinationRule)) and rule.per == "occurrence" and \
            not (isinstance(rule, ActivityRule) and rule.total):  # a total fires once
        most = math.inf
    else:
        most = rule.points
    return most if rule.cap is None else min(most, rule.cap)


def ceilings(model: ScoringModel) -> dict[str, float]:
    """The most each positive category can add, after the model's caps."""
    out = {}
    for category in CATEGORIES[:3]:
        total = sum(rule_ceiling(r) for r in model.rules if r.category == category)
        cap = model.caps.get(category)  # type: ignore[call-overload]  # a category name
        out[category] = total if cap is None else min(total, cap)
    return out


def conditions(when: When, path: Path_) -> Iterator[tuple[str, Condition, Path_]]:
    for name, cond in when.items():
        yield name, cond, path + (name,)


def rule_conditions(rule, path: Path_) -> Iterator[tuple[list[str], str, Condition, Path_]]:
    """(activity types, name, condition, path) for every condition of a rule; no types
    for a condition on the contact's fields."""
    if isinstance(rule, FieldRule):
        for name, cond, p in conditions(rule.when, path + ("when",)):
            yield [], name, cond, p
        for j, when in enumerate(rule.when_any):
            for name, cond, p in conditions(when, path + ("when_any", j)):
                yield [], name, cond, p
    elif isinstance(rule, ActivityRule):
        for name, cond, p in conditions(rule.where, path + ("where",)):
            yield rule.type, name, cond, p
        for name, cond, p in conditions(rule.when, path + ("when",)):
            yield [], name, cond, p
    elif isinstance(rule, CombinationRule):
        for j, flt in enumerate(rule.all_of):
            for name, cond, p in conditions(flt.where, path + ("all_of", j, "where")):
                yield flt.type, name, cond, p


def lint_model(model: ScoringModel, located: Located) -> Lint:
    """Reachability (the threshold, the grade floor), rules that can never fire or never
    count, and values outside the documented sets."""
    lint = Lint(located)
    most = ceilings(model)
    best = sum(most.values())
    parts = ", ".join(f"{c} {_pts(v)}" for c, v in most.items())
    # Warnings, not errors: a model may be scored before it is meant to qualify anyone
    # (and `score`, `validate` and `check` print them).
    if best < model.mql.threshold:
        lint.warn(("mql", "threshold"),
                   f"no contact can reach threshold {_pts(model.mql.threshold)}: the rules and caps allow at "
                   f"most {_pts(best)} ({parts}); lower the threshold or raise the caps")
    floor = model.mql.grade_floor
    if floor in GRADE_LETTERS:
        good = [b for g, b in model.grades.items()
                if g in GRADE_LETTERS and GRADE_LETTERS.index(g) <= GRADE_LETTERS.index(floor)]
        needed = min((-math.inf if b.min is None else b.min for b in good), default=math.inf)
        if good and most["profile"] < needed:
            lint.warn(("mql", "grade_floor"),
                       f"no contact can reach grade {floor}: it needs fit {_pts(needed)}, and the profile rules "
                       f"and caps allow at most {_pts(most['profile'])}")
    if most["profile"] >= model.mql.threshold:
        lint.warn(("mql", "threshold"),
                  f"fit alone (up to {_pts(most['profile'])}) reaches threshold {_pts(model.mql.threshold)}: "
                  "a contact can be an MQL with no engagement at all")
    for i, rule in enumerate(model.rules):
        path: Path_ = ("rules", i)
        if rule.points == 0 and not rule.disqualify:
            lint.warn(path + ("points",), f"rule {rule.id!r} gives 0 points and does not disqualify: "
                                          "it never changes a score")
        for _, name, cond, p in rule_conditions(rule, path):
            if cond.equals is not None and isinstance(cond.equals, str) and cond.equals.startswith("@"):
                lint.error(p, f"{cond.equals!r} is one value here, not the list: a list is named inside "
                              f"[...]: write `{name}: [\"{cond.equals}\"]`")
            for item in cond.in_ or ():
                if isinstance(item, str) and item.startswith("@") and not model.lists.get(item[1:], None):
                    pass  # unknown lists are reported by the loader
                elif isinstance(item, str) and item.startswith("@") and not model.lists[item[1:]].items:
                    lint.warn(p, f"list {item!r} is empty: rule {rule.id!r} can never fire")
            allowed = VOCABULARY.get(name)
            if allowed:
                for value in _compared(cond):
                    if value.lower() not in allowed:
                        lint.error(p, f"{value!r} is not a {name} mqlsync knows, so rule {rule.id!r} can never "
                                      f"fire; {name} is one of {', '.join(allowed)} (map the CRM's own values "
                                      f"to these with `values:` in the mapping)")
    return lint


def _compared(cond: Condition) -> list[str]:
    values = [cond.equals] if isinstance(cond.equals, str) else []
    return values + [v for v in cond.in_ or () if isinstance(v, str) and not v.startswith("@")]


# --- the model against a mapping -------------------------------------------------------


def lint_mapping(mapping: Mapping, model: ScoringModel, mapping_file: str, model_at: Located) -> Lint:
    """What the model reads that this mapping never gives it: activity types no source
    produces, attributes no source maps, contact fields no object fills. Each is placed
    at its line in the model, and names the mapping."""
    on_model = Lint(model_at)
    objects = {n: o for n, o in mapping.objects.items() if o.enabled}
    filled = {n: set(o.fields) | {d for d, src in DERIVED.items() if src in o.fields} for n, o in objects.items()}
    attributes: dict[str, set[str]] = {}
    for source in mapping.activities:
        attributes.setdefault(source.type, set()).update(source.attributes)
    crm = mapping.crm

    def mapped(types: list[str]) -> set[str]:
        return set().union(*(attributes.get(t, set()) for t in types))

    def unfilled(name: str) -> list[str]:
        return [n for n, fields in filled.items() if name not in fields]

    for i, name in enumerate(model.mql.required_fields):
        missing = unfilled(name)
        if missing and len(missing) == len(objects):
            on_model.error(("mql", "required_fields", i),
                           f"{name!r} is required for an MQL, but the {crm} mapping {mapping_file} fills it "
                           f"on no object: nobody could become an MQL; map it under `fields:` or drop it here")
        elif missing:
            on_model.warn(("mql", "required_fields", i),
                          f"{name!r} is required for an MQL, but the {crm} mapping leaves it empty on "
                          f"{', '.join(missing)}: no {' or '.join(missing)} can become an MQL")
    for i, rule in enumerate(model.rules):
        path: Path_ = ("rules", i)
        types = rule.type if isinstance(rule, (ActivityRule, RecencyRule)) else \
            [t for f in rule.all_of for t in f.type] if isinstance(rule, CombinationRule) else []
        unproduced = [t for t in types if t not in attributes]
        if types and len(unproduced) == len(set(types)):
            on_model.warn(path + ("type",), f"rule {rule.id!r} can never fire on {crm}: no activity source of "
                                            f"{mapping_file} produces {' or '.join(repr(t) for t in types)}; "
                                            f"types produced: {', '.join(sorted(attributes)) or 'none'}")
            continue
        for of, name, cond, p in rule_conditions(rule, path):
            if cond.present is False:
                continue  # "not filled" holds for what is never mapped
            if of:
                given = mapped(of)
                if name not in given:
                    on_model.warn(p, f"rule {rule.id!r} can never fire on {crm}: no source of "
                                     f"{' or '.join(t for t in of if t in attributes) or ' or '.join(of)} maps "
                                     f"the attribute {name!r}; mapped: {', '.join(sorted(given)) or 'none'}")
            elif len(unfilled(name)) == len(objects):
                on_model.warn(p, f"rule {rule.id!r} can never fire on {crm}: the mapping fills {name!r} on no "
                                 f"object; map it under `fields:`")
        counted = (("distinct", rule.distinct) if isinstance(rule, ActivityRule) and rule.distinct else
                   ("total", rule.total.attribute) if isinstance(rule, ActivityRule) and rule.total else
                   ("same", rule.same) if isinstance(rule, CombinationRule) else None)
        if counted and counted[1] not in mapped(types):
            on_model.warn(path + (counted[0],), f"rule {rule.id!r} can never fire on {crm}: no source maps the "
                                                f"attribute {counted[1]!r} it counts")
    return on_model
