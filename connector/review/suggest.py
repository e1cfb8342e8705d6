"""Points suggested by history, still a scorecard sales can read: candidate rules built
from the data (field values, size bands, title words, activity types and counts in a
window), the ones that matter picked by a sparse (L1) logistic regression from
scikit-learn, each coefficient scaled so that `points_to_double` points double the odds
of winning, rounded to whole points. The threshold is set for a stated share of MQLs.

The candidates are ordinary model rules, so whether one fires is decided by the
scoring engine itself: the suggested model scores exactly as it was fitted."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mqlsync.connector.config.lint import VOCABULARY
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.scoring.conditions import as_number

#: contact fields whose values become candidate rules
CATEGORICAL = ("industry", "country", "region", "channel", "form_type", "org_type")
#: company sizes in bands a person reads: [min, max)
SIZE_BANDS = ((1, 10), (10, 50), (50, 200), (200, 1000), (1000, None))
#: activity counts within the window that make candidates
COUNTS = (1, 3, 10)
WINDOW_DAYS = 90


@dataclass(frozen=True)
class Candidate:
    """A rule the data suggests, as the model file writes it (without its points)."""

    id: str
    kind: str
    label: str
    spec: dict[str, Any]
    #: where it goes when its points are positive
    category: str


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def candidates(contacts: Sequence[Contact], activities: dict[str, list[Activity]],
               min_support: int) -> list[Candidate]:
    """Rules worth trying: values, bands and words at least `min_support` people share,
    and each activity type (and attribute value of form types) at a few counts."""
    out: list[Candidate] = []
    for field in CATEGORICAL:
        values = Counter(str(getattr(c, field)).strip().lower() for c in contacts if getattr(c, field))
        for value, n in sorted(values.items()):
            if field in VOCABULARY and value not in VOCABULARY[field]:
                continue  # no rule can match a value outside its set (validate refuses one)
            if n >= min_support:
                out.append(Candidate(f"{_slug(field)}-{_slug(value)}", "field", f"{field.replace('_', ' ')} {value}",
                                     {"when": {field: value}}, "profile"))
    names = sorted({name for c in contacts for name in c.attributes})
    for name in names:  # custom fields, as the mapping reads them: attributes.<name>
        values = Counter(str(c.attributes[name]).strip().lower() for c in contacts
                         if c.attributes.get(name) not in (None, ""))
        for value, n in sorted(values.items()):
            if n >= min_support:
                out.append(Candidate(f"{_slug(name)}-{_slug(value)}", "field", f"{name.replace('_', ' ')} {value}",
                                     {"when": {f"attributes.{name}": value}}, "profile"))
    for low, high in SIZE_BANDS:
        n = sum(1 for c in contacts if c.company_size is not None and c.company_size >= low
                and (high is None or c.company_size < high))
        if n >= min_support:
            label = f"company of {low:,}+ people" if high is None else f"company of {low:,}-{high - 1:,} people"
            cond: dict[str, Any] = {"min": low} if high is None else {"min": low, "max": high}
            out.append(Candidate(f"size-{low}" + (f"-{high - 1}" if high else "-up"), "field", label,
                                 {"when": {"company_size": cond}}, "profile"))
    words = Counter(w for c in contacts if c.title for w in set(re.findall(r"[a-z]{3,}", c.title.lower())))
    for word, n in sorted(words.items()):
        if n >= min_support:
            out.append(Candidate(f"title-{word}", "field", f"title says {word}",
                                 {"when": {"title": {"contains_any": [word]}}}, "profile"))
    for field in ("phone", "linkedin_url"):
        if sum(1 for c in contacts if getattr(c, field)) >= min_support:
            out.append(Candidate(f"{_slug(field)}-known", "field", f"{field.replace('_', ' ')} known",
                                 {"when": {field: {"present": True}}}, "profile"))
    per_type: dict[str, Counter[str]] = {}
    form_types: Counter[str] = Counter()
    for cid, acts in activities.items():
        seen: Counter[str] = Counter(a.type for a in acts)
        for kind, n in seen.items():
            per_type.setdefault(kind, Counter())[cid] = n
        form_types.update({str(a.attributes["form_type"]).lower() for a in acts
                           if a.type == "form_submission" and a.attributes.get("form_type")})
    for kind, people in sorted(per_type.items()):
        for k in COUNTS:
            if sum(1 for n in people.values() if n >= k) >= min_support:
                out.append(Candidate(f"{_slug(kind)}-{k}", "activity",
                                     f"{kind.replace('_', ' ')} {k}+ times in {WINDOW_DAYS} days",
                                     {"type": kind, "within_days": WINDOW_DAYS, "min_count": k, "per": "once"},
                                     "actions"))
    # Totals of numeric attributes (minutes watched, seconds on a page) above what half,
    # and a fifth, of the people who have any reach.
    sums: dict[tuple[str, str], dict[str, float]] = {}
    for cid, acts in activities.items():
        for a in acts:
            for name, raw in a.attributes.items():
                number = as_number(raw)
                if number is not None and not isinstance(raw, bool):
                    by_person = sums.setdefault((a.type, name), {})
                    by_person[cid] = by_person.get(cid, 0.0) + number
    for (kind, name), by_person in sorted(sums.items()):
        if len(by_person) < min_support:
            continue
        amounts = sorted(by_person.values())
        for share in (0.5, 0.8):
            floor = amounts[int(len(amounts) * share)]
            if floor > 0 and sum(1 for v in amounts if v >= floor) >= min_support:
                out.append(Candidate(f"{_slug(kind)}-{_slug(name)}-{floor:g}", "activity",
                                     f"{kind.replace('_', ' ')}: {name} {floor:g}+ in {WINDOW_DAYS} days",
                                     {"type": kind, "within_days": WINDOW_DAYS,
                                      "total": {"attribute": name, "min": floor}}, "actions"))
    for value, n in sorted(form_types.items()):
        if n >= min_support and value in VOCABULARY["form_type"]:
            out.append(Candidate(f"form-{_slug(value)}", "activity", f"{value} form filled",
                                 {"type": "form_submission", "where": {"form_type": value}, "within_days": WINDOW_DAYS,
                                  "per": "once"}, "actions"))
    return out


def probe_model(found: Sequence[Candidate]) -> dict[str, Any]:
    """A model with every candidate at one point: scoring with it says which fired."""
    rules = [{"id": c.id, "kind": c.kind, "category": c.category, "label": c.label, "points": 1, **c.spec}
             for c in found]
    return {"name": "candidates", "mql": {"threshold": 1, "grade_floor": "F", "required_fields": []},
            "grades": {"F": {}}, "rules": rules}


@dataclass(frozen=True)
class Fit:
    rules: list[tuple[Candidate, int]]
    intercept: float
    threshold: float
    #: per rule: how many fitted people it fired for, and the share of them won
    evidence: dict[str, tuple[int, float]]
    regularisation: float


def fit(features: np.ndarray, won: np.ndarray, found: Sequence[Candidate], points_to_double: float = 10.0,
        max_rules: int = 30, mql_share: float = 0.1, mql_precision: float | None = None) -> Fit:
    """The sparsest L1 fit whose rules number at most `max_rules`, among a path of
    strengths, scaled and rounded to points; the threshold puts `mql_share` of the
    fitted people at or above it, or, with `mql_precision`, is the lowest at which that
    share of the fitted MQLs won."""
    best = None
    for c in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0):
        model = LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", max_iter=2000, random_state=0)  # L1
        model.fit(features, won)
        kept = int(np.count_nonzero(np.round(model.coef_[0] * points_to_double / math.log(2))))
        if kept and kept <= max_rules:
            best = (c, model)  # the path grows: the last within the limit keeps the most signal
    if best is None:
        raise ValueError("no rule carries signal in this history: more outcomes are needed")
    strength, model = best
    scale = points_to_double / math.log(2)
    points = np.round(model.coef_[0] * scale).astype(int)
    rules = [(cand, int(p)) for cand, p in zip(found, points, strict=True) if p != 0]
    totals = features @ points
    if mql_precision is not None:
        threshold = precise_threshold(totals, won, mql_precision)
    else:
        threshold = float(np.quantile(totals, 1 - mql_share)) if len(totals) else 1.0
    evidence = {}
    for i, cand in enumerate(found):
        fired = features[:, i] > 0
        n = int(fired.sum())
        evidence[cand.id] = (n, float(won[fired].mean()) if n else 0.0)
    return Fit(rules, float(model.intercept_[0]), max(threshold, 1.0), evidence, strength)


def precise_threshold(totals: np.ndarray, won: np.ndarray, precision: float) -> float:
    """The lowest threshold at which at least `precision` of the people at or above it
    won (the highest total, when no threshold reaches it)."""
    best = float(totals.max()) if len(totals) else 1.0
    for t in sorted(set(totals.tolist()), reverse=True):
        chosen = totals >= t
        if won[chosen].mean() >= precision:
            best = float(t)
    return best


def plain_regression_auc(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                         test_y: np.ndarray) -> float | None:
    """A plain (lightly L2-regularised) logistic regression on the same candidates: the
    yardstick the scorecard is held against."""
    if len(set(test_y.tolist())) < 2 or len(set(train_y.tolist())) < 2:
        return None
    model = LogisticRegression(max_iter=2000, random_state=0)
    model.fit(train_x, train_y)
    return float(roc_auc_score(test_y, model.decision_function(test_x)))


def model_yaml(result: Fit, base: dict[str, Any], points_to_double: float, fitted: int, won: int,
               made_at: datetime) -> str:
    """The suggested model as a file `validate` accepts, each rule with its evidence in
    a comment. `base` gives what is not learned: the gate's required fields, the SLA."""
    lines = [f"# Suggested by `mqlsync backtest --suggest` on {made_at:%Y-%m-%d} from {fitted:,} people "
             f"({won:,} won).",
             f"# {points_to_double:g} points double the odds of winning; rules are rounded to whole points.",
             "# Review every rule with sales before using it: a rule is only as good as its history.",
             "name: suggested", "", "mql:", f"  threshold: {result.threshold:g}", "  grade_floor: F",
             f"  required_fields: [{', '.join(base.get('required_fields', []))}]", "",
             f"sla_hours: {base.get('sla_hours', 24):g}", "",
             "# Fit is the profile rules' points; one grade band until sales sets some.", "grades:",
             "  A: {min: 20}", "  F: {max: 20}", "", "rules:"]
    for cand, points in sorted(result.rules, key=lambda r: -abs(r[1])):
        n, rate = result.evidence[cand.id]
        category = "undesired" if points < 0 else cand.category
        lines.append(f"  # fired for {n:,} of the fitted people; {rate:.0%} of them won")
        lines.append(f"  - id: {cand.id}")
        lines.append(f"    kind: {cand.kind}")
        lines.append(f"    category: {category}")
        lines.append(f"    label: {_quote(cand.label)}")
        lines.append(f"    points: {points}")
        for key, value in cand.spec.items():
            lines.append(f"    {key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(value: Any) -> str:
    """A value in YAML flow style, strings quoted."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    return _quote(str(value))
