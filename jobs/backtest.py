"""`mqlsync backtest`: replay scoring models over people whose outcome is known and set
their figures side by side. Each person is scored as of the moment given (`--now`), or
as of their outcome when it came earlier: nothing after the outcome counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from mqlsync.connector.adapters.history import read_outcomes
from mqlsync.connector.config import LoadedModel
from mqlsync.connector.errors import InputError, RecordRejected
from mqlsync.connector.review.backtest import Report, Scored, evaluate, holdout_split
from mqlsync.connector.scoring import Scorer

from .score import Batch, read_files


@dataclass
class Backtest:
    reports: list[Report]
    people: int
    held_out: int
    #: people in the contacts file with no outcome (not scored), and the reverse
    without_outcome: int
    unknown_outcomes: int
    rejected: list[RecordRejected]
    now: datetime


def newest_last(batch: Batch, ids: set[str]) -> list[str]:
    """The people with an outcome, oldest first by created_at; in file order where any
    lacks one (a hold-out is then the end of the file)."""
    people = [c for c in batch.contacts if c.id in ids]
    if all(c.created_at is not None for c in people):
        people = sorted(people, key=lambda c: c.created_at)  # type: ignore[arg-type, return-value]  # all have one
    return [c.id for c in people]


def backtest(contacts: Path, activities: Path | None, outcomes: Path, models: list[LoadedModel],
             holdout: float = 0.0, now: datetime | None = None) -> Backtest:
    batch = read_files(contacts, activities)
    known, rejected = read_outcomes(outcomes)
    rejected = batch.rejected + rejected
    ids = {c.id for c in batch.contacts} & set(known)
    if not ids:
        raise InputError(f"{outcomes}: no id in it is a contact of {contacts}: nothing to test")
    if now is None:  # the day after the newest thing the files know
        times = [a.at for acts in batch.activities.values() for a in acts] + \
            [c.created_at for c in batch.contacts if c.created_at] + [at for _, at in known.values() if at]
        now = max(times) + timedelta(days=1)
    order = newest_last(batch, ids)
    _, held = holdout_split(order, holdout)
    reported = held if holdout else set(order)
    reports = []
    for loaded in models:
        scorer = Scorer(loaded)
        fired: Counter[str] = Counter()
        scored = []
        for contact in batch.contacts:
            if contact.id not in ids:
                continue
            won, at = known[contact.id]
            card = scorer.score(contact, batch.activities.get(contact.id, ()), min(now, at) if at else now)
            fired.update(h.rule_id for h in card.hits)
            if contact.id in reported:
                scored.append(Scored(card, won))
        reports.append(evaluate(loaded.source, loaded.version, scored, [r.id for r in loaded.model.rules], fired))
    return Backtest(reports, len(ids), len(held), len({c.id for c in batch.contacts} - set(known)),
                    len(set(known) - {c.id for c in batch.contacts}), rejected, now)
