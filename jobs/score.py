"""Score canonical records from files or the sample generator: the work behind the
`score`, `explain` and (until a CRM is wired) `demo` commands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from mqlsync.connector import sample
from mqlsync.connector.adapters.jsonl import read_jsonl
from mqlsync.connector.config import LoadedModel
from mqlsync.connector.errors import RecordRejected
from mqlsync.connector.model import Activity, Contact, RuleHit, ScoreCard, Transition, iso
from mqlsync.connector.scoring import Decision, SalesSignals, Scorer, decide, sales_text
from mqlsync.connector.sync import initial_state


@dataclass(frozen=True)
class Scored:
    """One contact's result: its card, the stage decision and the text for sales."""

    contact: Contact
    card: ScoreCard
    decision: Decision

    @property
    def text(self) -> str:
        return sales_text(self.card, self.decision.stage)


@dataclass
class Batch:
    """Records read for scoring, and the lines that could not be used."""

    contacts: list[Contact] = field(default_factory=list)
    activities: dict[str, list[Activity]] = field(default_factory=dict)
    rejected: list[RecordRejected] = field(default_factory=list)
    orphans: int = 0  # activities of contacts not in the contacts file

    def add_activities(self, activities: Iterable[Activity]) -> None:
        for activity in activities:
            self.activities.setdefault(activity.contact_id, []).append(activity)


def read_files(contacts: Path, activities: Path | None) -> Batch:
    batch = Batch()
    batch.contacts = list(read_jsonl(contacts, Contact, batch.rejected))
    if activities is not None:
        batch.add_activities(read_jsonl(activities, Activity, batch.rejected))
        known = {c.id for c in batch.contacts}
        batch.orphans = sum(len(v) for k, v in batch.activities.items() if k not in known)
    return batch


def sample_batch(seed: int, contacts: int) -> Batch:
    """The bundled sample data as a batch (what `demo` and `explain` use without files)."""
    data = sample.generate(seed=seed, contacts=contacts)
    batch = Batch(contacts=data.contacts)
    batch.add_activities(data.activities)
    return batch


def score_batch(loaded: LoadedModel, batch: Batch, now: datetime,
                progress: Callable[[int], None] | None = None) -> Iterator[Scored]:
    scorer = Scorer(loaded)
    spec = loaded.model.lifecycle
    for contact in batch.contacts:
        card = scorer.score(contact, batch.activities.get(contact.id, ()), now)
        decision = decide(initial_state(contact), card, SalesSignals.of(contact), now, spec)
        if progress:
            progress(1)
        yield Scored(contact, card, decision)


_TRANSITION = TypeAdapter(Transition)


def transition_json(t: Transition) -> dict[str, Any]:
    return _TRANSITION.dump_python(t, mode="json")


def hit_json(hit: RuleHit) -> dict[str, Any]:
    """A rule hit as JSON: every field by name, evidence without its empty parts."""
    out = hit._asdict()
    out["evidence"] = [{k: iso(v) if isinstance(v, datetime) else v for k, v in e._asdict().items() if v is not None}
                       for e in hit.evidence]
    return out


def as_json(result: Scored) -> dict[str, Any]:
    """The stable JSON shape of one result (`score --format jsonl`, `explain --json`)."""
    card = result.card
    return {
        "contact_id": result.contact.id,
        "name": result.contact.name,
        "stage": result.decision.stage.value,
        "mql_at": iso(result.decision.mql_at),
        "transitions": [transition_json(t) for t in result.decision.transitions],
        "total": card.total,
        "fit": card.fit,
        "engagement": card.engagement,
        "negative": card.negative,
        "grade": card.grade,
        "mql": card.mql,
        "unmet": list(card.unmet),
        "disqualified_by": list(card.disqualified_by),
        "model_version": card.model_version,
        "scored_at": iso(card.scored_at),
        "last_engaged_at": iso(card.last_engaged_at),
        "category_capped": card.category_capped,
        "hits": [hit_json(h) for h in card.hits],
        "text": result.text,
    }


@dataclass
class Summary:
    """Counts a person wants at the end of a scoring run."""

    contacts: int = 0
    mqls: int = 0
    grades: Counter = field(default_factory=Counter)
    stages: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    new_mqls: int = 0

    def add(self, result: Scored) -> None:
        self.contacts += 1
        self.mqls += result.card.mql
        self.grades[result.card.grade] += 1
        self.stages[result.decision.stage.value] += 1
        self.new_mqls += result.decision.mql_at is not None
        for hit in result.card.hits:
            self.rules[hit.rule_id] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "mqls": self.mqls,
            "new_mqls": self.new_mqls,
            "grades": dict(sorted(self.grades.items())),
            "stages": dict(sorted(self.stages.items())),
            "top_rules": [{"rule": r, "contacts": n} for r, n in self.rules.most_common(10)],
        }
