"""Score one contact from its fields and activities at a given moment: rules, caps,
decay, fit grade and the MQL gate, with every point explained."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mqlsync.connector.config.scoring import GRADE_LETTERS, LoadedModel
from mqlsync.connector.model import Activity, Contact, RuleHit, ScoreCard, as_utc
from mqlsync.connector.scoring.conditions import present
from mqlsync.connector.scoring.rules import Aged, activity_types, compile_rules, field_getter

DAY = 86400.0
#: which score each category adds to
FIT, ENGAGEMENT, NEGATIVE = "fit", "engagement", "negative"
CATEGORY_SCORE = {"profile": FIT, "channel": ENGAGEMENT, "actions": ENGAGEMENT, "undesired": NEGATIVE}


class Scorer:
    """A scoring model compiled once, then applied to any number of contacts."""

    def __init__(self, loaded: LoadedModel) -> None:
        model = loaded.model
        self.version = loaded.version
        self.model = model
        self.rules = compile_rules(model)
        self.types = activity_types(model)
        # Contact rules run for everyone; activity rules only for contacts who have an
        # activity of a type they read.
        self.contact_rules = [r for r in self.rules if not hasattr(r, "types")]
        self.rules_by_type: dict[str, list] = {}
        for rule in self.rules:
            for kind in getattr(rule, "types", ()):
                self.rules_by_type.setdefault(kind, []).append(rule)
        self.caps = dict(model.caps)
        self.bands = sorted(model.grades.items(),
                            key=lambda kv: float("-inf") if kv[1].min is None else kv[1].min, reverse=True)
        self.threshold = model.mql.threshold
        self.floor = GRADE_LETTERS.index(model.mql.grade_floor)
        self.required = tuple(model.mql.required_fields)
        # Every contact field any rule or the gate reads, with how to read it.
        names = dict.fromkeys([n for rule in self.rules for n in rule.fields] + list(self.required))
        self.getters = tuple((name, field_getter(name)) for name in names)

    def grade(self, fit: float) -> str:
        for letter, band in self.bands:
            if band.contains(fit):
                return letter
        return self.bands[-1][0]  # unreachable for a validated model: bands cover every fit

    def score(self, contact: Contact, activities: Iterable[Activity], now: datetime) -> ScoreCard:
        """The contact's score at `now`. Activities after `now` have not happened yet
        (that is what makes a backtest honest); repeats of one activity id count once;
        activities of other contacts are ignored.

        Ages count whole UTC calendar days (today 0, yesterday 1): decay and windows
        move once a day, so runs within a day agree and write nothing new, and the
        daily rescore carries the day's decay to the CRM."""
        now = as_utc(now)
        now_ts = now.timestamp()
        today = now_ts // DAY
        by_type: dict[str, list[Aged]] = {}
        seen: set[str] = set()
        types = self.types
        cid = contact.id
        for activity in activities:
            kind = activity.type
            if kind not in types:
                continue
            aid = activity.id
            if aid in seen or activity.contact_id != cid:
                continue
            at_ts = activity.at.timestamp()
            if at_ts > now_ts:
                continue
            seen.add(aid)
            bucket = by_type.get(kind)
            if bucket is None:
                by_type[kind] = bucket = []
            bucket.append((today - at_ts // DAY, activity))

        values = {name: get(contact) for name, get in self.getters}
        hits: list[RuleHit] = []
        for rule in self.contact_rules:
            hit = rule.evaluate(values, by_type)
            if hit is not None:
                hits.append(hit)
        if by_type:
            done: set[int] = set()
            rules_by_type = self.rules_by_type
            for kind in by_type:
                # A type only a recency rule reads has no activity rules of its own.
                for rule in rules_by_type.get(kind, ()):
                    if id(rule) not in done:
                        done.add(id(rule))
                        hit = rule.evaluate(values, by_type)
                        if hit is not None:
                            hits.append(hit)
        return self._card(contact.id, values, hits, now)

    def _card(self, contact_id: str, values: dict, hits: list[RuleHit], now: datetime) -> ScoreCard:
        sums = {"profile": 0.0, "channel": 0.0, "actions": 0.0, "undesired": 0.0}
        disqualified: list[str] = []
        last_engaged: datetime | None = None
        for hit in hits:
            sums[hit.category] += hit.points
            if hit.disqualify:
                disqualified.append(hit.rule_id)
            if hit.category == "actions" and hit.points > 0 and hit.evidence:
                at = hit.evidence[0].at  # evidence is newest first
                if at is not None and (last_engaged is None or at > last_engaged):
                    last_engaged = at
        category_capped: dict[str, float] = {}
        for category, cap in self.caps.items():
            total = sums[category]
            # Caps bound a category's size: the positive categories from above, the
            # undesired one from below (it can take away at most `cap` points).
            bounded = max(-cap, min(cap, total))
            if bounded != total:
                category_capped[category] = round(total - bounded, 2)
                sums[category] = bounded
        fit = round(sums["profile"], 2)
        engagement = round(sums["channel"] + sums["actions"], 2)
        negative = round(sums["undesired"], 2)
        total = round(fit + engagement + negative, 2)
        grade = self.grade(fit)

        unmet: list[str] = []
        if total < self.threshold:
            unmet.append(f"total {fmt(total)} below threshold {fmt(self.threshold)}")
        if GRADE_LETTERS.index(grade) > self.floor:
            unmet.append(f"grade {grade} below {GRADE_LETTERS[self.floor]}")
        missing = [name.replace("_", " ") for name in self.required if not present(values[name])]
        if missing:
            unmet.append("missing " + ", ".join(missing))
        if disqualified:
            unmet.append("disqualified by " + ", ".join(disqualified))
        # Disqualifiers first: sales must see them even when the text is cut short.
        hits.sort(key=lambda h: (not h.disqualify, -abs(h.points), h.rule_id))
        return ScoreCard(
            contact_id=contact_id, model_version=self.version, scored_at=now, fit=fit,
            engagement=engagement, negative=negative, total=total, grade=grade, mql=not unmet,
            unmet=tuple(unmet), disqualified_by=tuple(disqualified), hits=tuple(hits),
            category_capped=category_capped, last_engaged_at=last_engaged)


def fmt(points: float) -> str:
    """12 -> "12", 12.5 -> "12.5", 12.04 -> "12": points as a person reads them."""
    rounded = round(points, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def score(loaded: LoadedModel, contact: Contact, activities: Iterable[Activity], now: datetime) -> ScoreCard:
    """One-off convenience; compile a Scorer once when scoring many contacts."""
    return Scorer(loaded).score(contact, activities, now)
